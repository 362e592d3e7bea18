"""Data: image decoding to RGB, the data contract (folders, manifest, subjects, splits), harmonising, the face
policy that turns an RGB image into model input, prepare (videos to frames) and synth (drawn faces)."""
