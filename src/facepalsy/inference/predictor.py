"""The Predictor: ``facepalsy.load(run_dir)`` and the one path from an image to a verdict.

Every consumer (predict on images and video frames, evaluate, the test pass of train and cv,
explain, the web page, export's parity check) goes through a Predictor, so decoding, the face
policy, resizing, normalisation, precision and the run's operating threshold live here alone:

    file / PIL image / H×W×3 array ──model_input──▶ ModelInput ──classify──▶ Prediction
      (decode, EXIF, any mode → RGB;          (normalise, network,      (p(palsy), label at the
       face policy; resize)                     bf16 where native)        run's threshold, faces, warnings)
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from PIL import Image

from facepalsy.data.dataset import CLASSES, PALSY
from facepalsy.data.images import as_rgb_array
from facepalsy.data.model_input import ModelInput, model_input
from facepalsy.errors import BadImageError, FacepalsyError, InputError, NoFaceError, TurnedFaceError, display_path
from facepalsy.face.detect import Face
from facepalsy.face.norms import Norms
from facepalsy.face.pattern import PalsyPattern
from facepalsy.inference.network import predict_probabilities, run_now, use_bf16
from facepalsy.inference.prediction import CANNOT_READ, TURNED, UNMEASURED, Prediction, VideoFrames, VideoVerdict
from facepalsy.inference.settings import InferenceSettings
from facepalsy.models.network_parts import PalsyNetwork
from facepalsy.models.operating_point import apply_temperature, is_palsy
from facepalsy.models.registry import create_model
from facepalsy.models.spec import ModelSpec
from facepalsy.runfolder import RunFolder

if TYPE_CHECKING:
    from facepalsy.face.photo_reading import PhotoReading  # measuring needs cv2 and MediaPipe: imported when used

ImageLike = str | Path | Image.Image | np.ndarray


def load(
    run_dir: str | Path,
    settings: InferenceSettings | None = None,
    *,
    finished_only: bool = True,
    **overrides,
) -> "Predictor":
    """The Predictor of a trained run folder (CNN or landmark baseline), used as ``settings`` say (or as the keyword
    ``overrides`` of them say: ``facepalsy.load(run, engine="onnx")``).

    ``engine="onnx"`` runs RUN/model.onnx, ``"onnx-int8"`` RUN/model-int8.onnx (``facepalsy export``) with
    onnxruntime; the model spec (face policy, size, threshold, temperature) then comes from the file's
    metadata, which must name this run's model.pt. An unfinished run (killed in training or in its
    final writes) is refused with what it lacks; ``finished_only=False`` is for training's own test pass.

    ``threshold`` overrides the run's operating threshold; ``precision="fp32"`` turns bf16 off;
    ``calibrated=False`` gives the network's own probabilities instead of the temperature-scaled ones.
    """
    settings = dataclasses.replace(settings or InferenceSettings(), **overrides)
    engine = settings.engine
    run = RunFolder(run_dir)
    if finished_only:
        run.require_finished()
    spec, payload = run.read_model()
    if "baseline" in payload:
        from facepalsy.models.baseline import AsymmetryClassifier

        model = AsymmetryClassifier(payload["baseline"])
    else:
        with torch.device("meta"):  # no initialisation to overwrite: the weights are assigned from the file
            model = create_model(spec.backbone, num_classes=len(spec.classes), weights="none")
        try:
            model.load_state_dict(payload["state_dict"], assign=True)
        except RuntimeError as exc:
            raise FacepalsyError(
                f"{run.model}: weights do not fit backbone {spec.backbone} ({str(exc).splitlines()[0]})"
            ) from exc
        model.eval()
    onnx = None
    if engine != "torch":
        from facepalsy.inference.onnx_engine import OnnxEngine

        onnx = OnnxEngine(run.onnx if engine == "onnx" else run.onnx_int8)
        exported_from = onnx.metadata.get("facepalsy.run_id")
        if exported_from != run.run_id:
            raise FacepalsyError(
                f"{onnx.path} was not exported from this run's {run.model.name} "
                f"({'no facepalsy metadata' if exported_from is None else 'it changed since'}); "
                f"export again: facepalsy export {run.path} --format {engine}"
            )
        spec = onnx.spec()
    return Predictor(spec, model, run, onnx=onnx, settings=settings)


class Predictor:
    """A trained model with everything needed to use it. Build it with :func:`load`."""

    def __init__(
        self,
        spec: ModelSpec,
        model,
        run: RunFolder | None = None,
        *,
        onnx=None,
        settings: InferenceSettings | None = None,
        **overrides,
    ):
        self.spec, self.model, self.run, self.onnx = spec, model, run, onnx
        self.settings = dataclasses.replace(settings or InferenceSettings(), **overrides)
        self._decoders: ThreadPoolExecutor | None = None  # kept: each thread keeps its face detector (costly to create)
        self._norms: Norms | None = None  # the shipped healthy reference, read at the first palsy pattern

    precision = property(lambda self: self.settings.precision)
    batch_size = property(lambda self: self.settings.batch_size)
    threshold_override = property(lambda self: self.settings.threshold)
    calibrated = property(lambda self: self.settings.calibrated)  # apply the run's temperature (when it has one)

    def _pool(self) -> ThreadPoolExecutor:
        if self._decoders is None:
            self._decoders = ThreadPoolExecutor(
                max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="facepalsy-decode"
            )
        return self._decoders

    @property
    def is_cnn(self) -> bool:
        return isinstance(self.model, PalsyNetwork)

    @property
    def temperature(self) -> float | None:
        """The temperature applied to probabilities: the run's, unless calibration is turned off."""
        return self.spec.temperature if self.calibrated else None

    @property
    def threshold(self) -> float:
        """The threshold labels use: ``--threshold`` if given, else the run's operating threshold (0.5 for runs without
        one).

        The operating threshold was chosen on calibrated probabilities; uncalibrated, it is mapped back
        through the temperature, so both label every image alike.
        """
        if self.threshold_override is not None:
            return self.threshold_override
        if self.spec.operating_point is None:
            return 0.5
        threshold = self.spec.operating_point.threshold
        if self.spec.temperature and not self.calibrated:
            threshold = float(apply_temperature(np.array([threshold]), 1.0 / self.spec.temperature)[0])
        return threshold

    def threshold_text(self) -> str:
        """Where the threshold comes from, in words (for the page, reports and tables)."""
        point = self.spec.operating_point
        if self.threshold_override is not None:
            return f"threshold {self.threshold:.3f} (given by the user)"
        if point is None:
            return "threshold 0.500 (the run recorded no operating threshold)"
        space = (
            "uncalibrated probabilities, mapped from the calibrated threshold"
            if self.spec.temperature and not self.calibrated
            else "calibrated probabilities"
            if self.spec.temperature
            else "probabilities"
        )
        text = (
            f"threshold {self.threshold:.3f} on {space} ({point.rule}, "
            f"chosen on {point.validation_images} validation images"
        )
        if point.sensitivity is not None:
            text += f": sensitivity {100 * point.sensitivity:.1f}%, specificity {100 * point.specificity:.1f}%"
        return text + ")"

    def label(self, prob_palsy: float) -> str:
        return CLASSES[int(is_palsy(prob_palsy, self.threshold))]

    # -- image → model input -------------------------------------------------------------
    def model_input(
        self, image: ImageLike, name: str | None = None, find_faces: bool = True, face: Face | None = None
    ) -> ModelInput:
        """Decode (files, PIL images, arrays alike) and apply the face policy: the model's input.

        Raises BadImageError for a file that cannot be decoded, NoFaceError when a face-crop model
        finds no usable face, InputError for an argument of the wrong kind.
        """
        name = name or (display_path(image) if isinstance(image, (str, Path)) else "image")
        rgb = as_rgb_array(image, name)
        return model_input(rgb, self.spec.image_size, self.spec.face, name, find_faces=find_faces, face=face)

    # -- model input → probability -------------------------------------------------------
    def probabilities(self, pixels: np.ndarray, features: torch.Tensor | None = None) -> np.ndarray:
        """Palsy probability per N×3×S×S uint8 model input (S the run's image size).

        ``features``: the pooled backbone features (N×512) of these inputs, when training computed them
        already (a frozen backbone's feature bank): then only the head runs, under the same precision.
        """
        if features is not None:
            return self._calibrated(self._head_probabilities(features))
        size = self.spec.image_size
        if (
            not isinstance(pixels, np.ndarray)
            or pixels.dtype != np.uint8
            or pixels.ndim != 4
            or pixels.shape[1:] != (3, size, size)
        ):
            shape = getattr(pixels, "shape", type(pixels).__name__)
            dtype = getattr(pixels, "dtype", "")
            raise InputError(
                f"model input must be an N×3×{size}×{size} uint8 "
                f"array (this run's image size), got {shape} {dtype}".rstrip()
            )
        if self.onnx is not None:
            probs = self.onnx.predict_proba(pixels, self.batch_size)
        elif self.is_cnn:
            probs = predict_probabilities(self.model, self.spec.preprocess, pixels, self.batch_size, self.precision)
        else:
            probs = self.model.predict_proba(pixels)
        return self._calibrated(probs)

    def _calibrated(self, probs: np.ndarray) -> np.ndarray:
        return apply_temperature(probs, self.temperature) if self.temperature else probs

    @torch.inference_mode()
    def _head_probabilities(self, features: torch.Tensor) -> np.ndarray:
        if not self.is_cnn:
            raise InputError("pooled features are scored by CNN runs only")
        head = self.model.head.eval()
        device = next(head.parameters()).device
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16(self.precision, device)):
            logits = head.forward_pooled(features.to(device))
        return torch.softmax(logits.float(), dim=1)[:, PALSY].cpu().numpy()

    def classify(self, inputs: Sequence[ModelInput], sources: Sequence[str]) -> list[Prediction]:
        """Predictions for prepared inputs: probability, label at the run's threshold, faces and warnings."""
        if not inputs:
            return []
        probs = self.probabilities(np.stack([i.pixels.transpose(2, 0, 1) for i in inputs]))
        return [self._prediction(source, item, float(prob)) for source, item, prob in zip(sources, inputs, probs)]

    def read(self, image: ImageLike, source: str, verdict: str | None) -> PhotoReading | None:
        """The photo's one landmark reading (``face/photo_reading.py``: what ``asymmetry``, the exam and the page show
        of it), its pattern named as ``verdict`` (the run's label) allows; None without the face extra or without a
        face the mesh can measure. The photo is decoded again at the mesh's size (``MESH_SIDE``), as ``asymmetry``
        decodes it."""
        from facepalsy.data.images import load_image
        from facepalsy.face.detect import MESH_SIDE, mediapipe_available
        from facepalsy.face.photo_reading import read_photo

        if not mediapipe_available():
            return None
        if self._norms is None:
            from facepalsy.face.norms import load_norms

            self._norms = load_norms()
        try:
            rgb = np.asarray(load_image(image, MESH_SIDE)) if isinstance(image, (str, Path)) else as_rgb_array(image)
            return read_photo(rgb, source, self._norms, verdict)
        except BadImageError:
            return None

    def _add_reading(self, prediction: Prediction, image: ImageLike) -> None:
        """A face labelled palsy gets the photo's reading and its pattern. None for a face labelled normal, even one
        with a region outside the healthy range: a pattern (and a central one's stroke warning) beside a normal
        verdict would contradict it; ``asymmetry`` still shows the region."""
        if prediction.label != "palsy":
            return
        photo = self.read(image, prediction.source, prediction.label)
        if photo is None:
            prediction.palsy_pattern = PalsyPattern(
                "undetermined", None, {}, "The face mesh could not be measured on this face."
            )
            return
        prediction.reading, prediction.palsy_pattern = photo.reference, photo.pattern

    def _prediction(self, source: str, item: ModelInput, prob: float) -> Prediction:
        if np.isnan(prob):  # the landmark model could not measure the face, or cannot read it reliably
            from facepalsy.models.baseline import UNMEASURED_REASON  # only landmark runs have NaN probabilities

            reason = self.model.image_reasons(item.pixels.transpose(2, 0, 1)[None])[0]
            if reason and reason != UNMEASURED_REASON:
                return Prediction(
                    source,
                    CANNOT_READ,
                    threshold=self.threshold,
                    faces_found=item.faces_found,
                    face_box=item.face_box,
                    face_used=item.face_used,
                    error=f"cannot read reliably: {reason}",
                )
            return Prediction(
                source, "no_face", threshold=self.threshold, faces_found=item.faces_found, error=UNMEASURED
            )
        warnings = []
        if self.threshold_override is None and self.spec.operating_point is None:
            warnings.append("this run recorded no operating threshold; labelled at 0.5")
        if item.faces_found and item.faces_found > 1:
            warnings.append(
                f"{item.faces_found} faces found; "
                + ("the largest was analysed" if item.face_used else "this model labels the whole image")
            )
        elif item.faces_found == 0:
            warnings.append("no face found; this model labels the whole image")
        point, scaled = self.spec.operating_point, prob  # the interval is on the scale the threshold was chosen on
        if self.spec.temperature and not self.calibrated:
            scaled = float(apply_temperature(np.array([prob]), self.spec.temperature)[0])
        if self.threshold_override is None and point and point.contains(scaled):
            warnings.append(f"borderline: p(palsy) {scaled:.3f} lies within the threshold's {point.interval_text()}")
        return Prediction(
            source,
            "ok",
            self.label(prob),
            prob,
            self.threshold,
            item.faces_found,
            item.face_box,
            item.face_used,
            warnings,
        )

    def failed(self, source: str, exc: BadImageError) -> Prediction:
        kinds = ((TurnedFaceError, TURNED), (NoFaceError, "no_face"))
        status = next((status for kind, status in kinds if isinstance(exc, kind)), "unreadable")
        return Prediction(source, status, threshold=self.threshold, error=exc.reason)

    # -- the whole path -----------------------------------------------------------------
    def predict(
        self, images: ImageLike | Sequence[ImageLike], cam_dir: str | Path | None = None, patterns: bool = True
    ) -> Prediction | list[Prediction]:
        """Predict one image (path, PIL image or H×W×3 uint8 RGB array) or a list of them.

        An image that cannot be decoded, or without a usable face for a face-crop model, gets a
        Prediction with ``status`` and ``error`` and no label; the others are still predicted.
        Images are decoded by a thread pool one batch ahead of the network, so decoding overlaps
        compute and memory holds two batches. With ``cam_dir``, a Grad-CAM overlay of each image
        is written there in the same pass. With ``patterns`` (and the face extra), a face labelled
        palsy gets the photo's one reading and its ``palsy_pattern`` (:meth:`read`): one landmark measurement per
        palsy-labelled photo.
        """
        single = not isinstance(images, (list, tuple))
        items = [images] if single else list(images)
        sources = [_source(item, i, single) for i, item in enumerate(items)]
        results: list[Prediction | None] = [None] * len(items)
        pool = self._pool() if len(items) > 1 else None

        def decode_batch(start: int) -> list[tuple[int, Future]]:
            end = min(start + self.batch_size, len(items))
            if len(items) == 1:  # one photo: nothing to overlap, so it is decoded here rather than handed to a thread
                return [(0, run_now(self.model_input, items[0], sources[0]))]
            return [(i, pool.submit(self.model_input, items[i], sources[i])) for i in range(start, end)]

        pending = decode_batch(0)
        for start in range(0, len(items), self.batch_size):
            current, pending = (
                pending,
                decode_batch(start + self.batch_size),
            )  # the next batch decodes while this one computes
            prepared, good = [], []
            for i, future in current:
                try:
                    prepared.append(future.result())
                    good.append(i)
                except BadImageError as exc:
                    results[i] = self.failed(sources[i], exc)
            for i, prediction in zip(good, self.classify(prepared, [sources[i] for i in good])):
                results[i] = prediction
                if patterns:
                    self._add_reading(prediction, items[i])
            if cam_dir is not None and prepared:
                self._write_cams(Path(cam_dir), [results[i] for i in good], prepared, good, items)
        return results[0] if single else results

    def _write_cams(
        self, cam_dir: Path, predictions: list[Prediction], prepared: list[ModelInput], indices: list[int], items: list
    ) -> None:
        from facepalsy.inference.explain import save_overlay

        pixels = np.stack([p.pixels.transpose(2, 0, 1) for p in prepared])
        for i, prediction, image, heatmap in zip(indices, predictions, pixels, self.gradcam(pixels)):
            stem = Path(items[i]).stem if isinstance(items[i], (str, Path)) else "image"
            target = cam_dir / f"{i:04d}_{stem}_cam.png"  # named by input number: two inputs may share a name
            save_overlay(target, image, heatmap, prediction.prob_palsy, self.threshold)
            prediction.cam = str(target)

    def gradcam(self, pixels: np.ndarray) -> np.ndarray:
        """Grad-CAM heatmaps (N×S×S in [0, 1], palsy class) for N×3×S×S uint8 model input; CNN runs only."""
        from facepalsy.inference.explain import gradcam

        return gradcam(self.model, self.spec.preprocess, pixels)

    def predict_video(self, path: str | Path, out: str | Path, fps: float = 6.0) -> VideoVerdict:
        """Score a video: frames at ``fps``, each through the same face policy as a photo (:mod:`.video`)."""
        from facepalsy.inference.video import predict_video

        return predict_video(self, Path(path), out, fps)

    def video_verdict(self, path: Path, frames: VideoFrames, out: str | Path) -> VideoVerdict:
        """The verdict of a video's prepared frames (collected by whoever decoded it: predict_video, or the exam in the
        same pass)."""
        from facepalsy.inference.video import video_verdict

        return video_verdict(self, path, frames, out)


def _source(item: ImageLike, index: int, single: bool) -> str:
    if isinstance(item, (str, Path)):
        return display_path(item)
    kinds = {Image.Image: "PIL image", np.ndarray: "array"}
    kind = next((name for cls, name in kinds.items() if isinstance(item, cls)), type(item).__name__)
    return f"<{kind}>" if single else f"<{kind} #{index}>"
