"""The onnxruntime engine (the ``onnx`` extra): palsy probabilities from an exported file, and the model spec its
metadata carry, so the Predictor can run an exported model without importing the exporter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from facepalsy.data.dataset import PALSY
from facepalsy.errors import FacepalsyError
from facepalsy.models.spec import ModelSpec

ONNX_INSTALL = (
    "pip install 'onnx==1.17.0' onnxruntime  (onnx 1.18+ needs protobuf 6, which MediaPipe 0.10.21 cannot use)"
)
METADATA_SPEC = (
    "facepalsy.spec"  # the ModelSpec as JSON: face policy, size, normalisation, classes, threshold, temperature
)


class OnnxEngine:
    """Palsy probabilities from an exported ONNX file with onnxruntime (CPU), and the metadata it carries."""

    def __init__(self, path: Path):
        try:
            import onnxruntime
        except ImportError as exc:
            raise FacepalsyError(f"the onnx engine needs onnxruntime: {ONNX_INSTALL}") from exc
        if not path.is_file():
            export = "--format onnx-int8" if path.name.endswith("int8.onnx") else "--format onnx"
            raise FacepalsyError(f"{path} not found: run `facepalsy export {path.parent} {export}` first")
        self.path = path
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def spec(self) -> ModelSpec | None:
        """The ModelSpec the file carries (None for a file exported before metadata)."""
        text = self.metadata.get(METADATA_SPEC)
        return ModelSpec.from_dict(json.loads(text), str(self.path)) if text else None

    def predict_proba(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        out = [
            self.session.run(None, {"pixels": images[i : i + batch_size].astype(np.float32)})[0][:, PALSY]
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros(0, np.float32)
