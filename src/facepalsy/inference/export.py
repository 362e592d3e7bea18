"""ONNX export of a run's model, and an onnxruntime engine for predict (the ``onnx`` extra).

The exported graph takes N×3×H×W float pixels in [0, 255] and returns class probabilities, so the
normalisation of the weights travels with it and a deployment needs nothing from this package.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facepalsy.data.dataset import PALSY
from facepalsy.errors import FacepalsyError
from facepalsy.inference.predictor import Predictor
from facepalsy.io import atomic_write
from facepalsy.models.spec import Normalize

ONNX_INSTALL = "pip install 'onnx==1.17.0' onnxruntime  (onnx 1.18+ needs protobuf 6, which MediaPipe 0.10.21 cannot use)"


class _Deployable(nn.Module):
    def __init__(self, predictor: Predictor):
        super().__init__()
        self.normalize = Normalize(predictor.spec.preprocess)
        self.model = predictor.model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(self.normalize(pixels)), dim=1)


PARITY_TOLERANCE = 2e-3  # max |p(palsy) difference| between the ONNX graph and PyTorch fp32


def export_onnx(predictor: Predictor, path: Path | None = None) -> tuple[Path, float]:
    """Write ``RUN/model.onnx`` (or ``path``) with a dynamic batch size, then check it.

    Returns the path and the largest difference in p(palsy) between onnxruntime and the
    Predictor in fp32 on probe images; a file that differs by more than PARITY_TOLERANCE is
    deleted and refused. Only the network travels: decoding, the face policy and the threshold
    stay with the Predictor (``facepalsy.load(run, engine="onnx")`` uses the file with them).
    """
    if not predictor.is_cnn:
        raise FacepalsyError("only CNN runs can be exported to ONNX; the asymmetry baseline is a few numbers in model.pt")
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError as exc:
        raise FacepalsyError(f"ONNX export needs the onnx package: {ONNX_INSTALL}") from exc
    path = Path(path or predictor.run.onnx)
    module = _Deployable(predictor).eval().to(memory_format=torch.contiguous_format)
    size = predictor.spec.image_size
    example = torch.zeros(1, 3, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        atomic_write(path, lambda tmp: torch.onnx.export(
            module, example, str(tmp), input_names=["pixels"], output_names=["probabilities"],
            dynamic_axes={"pixels": {0: "batch"}, "probabilities": {0: "batch"}}, opset_version=17, dynamo=False,
        ))
    probe = np.random.default_rng(0).integers(0, 256, (8, 3, size, size), dtype=np.uint8)
    reference = Predictor(predictor.spec, predictor.model, precision="fp32", calibrated=False).probabilities(probe)  # the graph holds the network; calibration is applied after it
    difference = float(np.abs(OnnxEngine(path).predict_proba(probe) - reference).max())
    if difference > PARITY_TOLERANCE:
        path.unlink()
        raise FacepalsyError(f"{path}: the exported graph differs from PyTorch by {difference:.2g} in p(palsy) (limit {PARITY_TOLERANCE}); not written")
    return path, difference


class OnnxEngine:
    """Palsy probabilities from ``model.onnx`` with onnxruntime (CPU)."""

    def __init__(self, path: Path):
        try:
            import onnxruntime
        except ImportError as exc:
            raise FacepalsyError(f"the onnx engine needs onnxruntime: {ONNX_INSTALL}") from exc
        if not path.is_file():
            raise FacepalsyError(f"{path} not found: run `facepalsy export {path.parent} --format onnx` first")
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def predict_proba(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        out = [self.session.run(None, {"pixels": images[i : i + batch_size].astype(np.float32)})[0][:, PALSY] for i in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros(0, np.float32)
