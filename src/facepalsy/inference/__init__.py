"""Inference: ``load(run_dir)`` gives the Predictor, the one way from an image (file, PIL, array, video frame)
to a verdict; Grad-CAM explanations and ONNX export build on it."""
