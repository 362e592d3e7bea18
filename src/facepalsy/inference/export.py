"""ONNX export of a run's model (fp32, and int8 by static quantisation); the engine that runs the files is
``inference/onnx_engine.py``.

The exported graph takes N×3×H×W float pixels in [0, 255] and returns class probabilities, so the
normalisation of the weights travels with it; the file's metadata carry the rest of the model spec
(classes, size, mean and std, face policy, threshold, temperature, facepalsy version, run id), so a
deployment needs nothing from this package and the engine reads them instead of the run folder.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facepalsy.errors import FacepalsyError
from facepalsy.files import atomic_write, atomic_write_json
from facepalsy.inference.onnx_engine import METADATA_SPEC, ONNX_INSTALL, OnnxEngine
from facepalsy.inference.predictor import Predictor
from facepalsy.models.network_parts import Normalize
from facepalsy.models.operating_point import is_palsy


class _Deployable(nn.Module):
    def __init__(self, predictor: Predictor):
        super().__init__()
        self.normalize = Normalize(predictor.spec.preprocess)
        self.model = predictor.model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(self.normalize(pixels)), dim=1)


PARITY_TOLERANCE = 2e-3  # max |p(palsy) difference| between the ONNX graph and PyTorch fp32
INT8_LABEL_AGREEMENT = 0.99  # int8 labels equal PyTorch fp32's on at least this share of the check images …
INT8_DELTA_P = 0.02  # … and |Δp(palsy)| is at most this on 95% of them
INT8_CALIBRATION_IMAGES = 200


def _onnx_metadata(predictor: Predictor) -> dict[str, str]:
    """What a deployment needs beside the graph, readable by any ONNX tool (``metadata_props``)."""
    from facepalsy.version import __version__

    spec = predictor.spec
    return {
        METADATA_SPEC: json.dumps(spec.to_dict()),
        "facepalsy.version": __version__,
        "facepalsy.run_id": predictor.run.run_id if predictor.run else "unsaved",
        "classes": ",".join(spec.classes),
        "image_size": str(spec.image_size),
        "mean": ",".join(map(str, spec.preprocess.mean)),
        "std": ",".join(map(str, spec.preprocess.std)),
        "input": "N×3×H×W float pixels in [0, 255], RGB; normalisation is inside the graph",
        "threshold": f"{spec.operating_point.threshold:.6f}" if spec.operating_point else "0.5",
        "temperature": "" if spec.temperature is None else f"{spec.temperature:.6f}",
    }


def _check_exportable(predictor: Predictor) -> None:
    if not predictor.is_cnn:
        raise FacepalsyError(
            "only CNN runs can be exported to ONNX; the asymmetry baseline is a few numbers in model.pt"
        )
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError as exc:
        raise FacepalsyError(f"ONNX export needs the onnx package: {ONNX_INSTALL}") from exc


def _write_graph(predictor: Predictor, path: Path) -> None:
    """The fp32 graph with a dynamic batch size and the run's metadata."""
    import onnx

    module = _Deployable(predictor).eval().to(memory_format=torch.contiguous_format)
    size = predictor.spec.image_size
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                module,
                torch.zeros(1, 3, size, size),
                str(raw),
                input_names=["pixels"],
                output_names=["probabilities"],
                dynamic_axes={"pixels": {0: "batch"}, "probabilities": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        model = onnx.load(str(raw))
        onnx.helper.set_model_props(model, _onnx_metadata(predictor))
        atomic_write(path, lambda target: onnx.save(model, str(target)))


def export_onnx(predictor: Predictor, path: Path | None = None) -> tuple[Path, float]:
    """Write ``RUN/model.onnx`` (or ``path``) with a dynamic batch size and the run's metadata, then check it.

    Returns the path and the largest difference in p(palsy) between onnxruntime and the
    Predictor in fp32 on probe images; a file that differs by more than PARITY_TOLERANCE is
    deleted and refused. The graph holds the network and its normalisation; the metadata hold the
    rest (face policy, threshold, temperature), which ``facepalsy.load(run, engine="onnx")`` reads back.
    """
    _check_exportable(predictor)
    path = Path(path or predictor.run.onnx)
    _write_graph(predictor, path)
    size = predictor.spec.image_size
    probe = np.random.default_rng(0).integers(0, 256, (8, 3, size, size), dtype=np.uint8)
    reference = Predictor(predictor.spec, predictor.model, precision="fp32", calibrated=False).probabilities(
        probe
    )  # the graph holds the network; calibration is applied after it
    difference = float(np.abs(OnnxEngine(path).predict_proba(probe) - reference).max())
    if difference > PARITY_TOLERANCE:
        path.unlink()
        raise FacepalsyError(
            f"{path}: the exported graph differs from PyTorch by {difference:.2g} "
            f"in p(palsy) (limit {PARITY_TOLERANCE}); not written"
        )
    return path, difference


@dataclass(frozen=True)
class Int8Check:
    """An int8 file against PyTorch fp32 on a run's validation images (``model-int8.json``), and whether it was kept."""

    calibration_images: int  # training images the quantisation ranges were measured on
    check_images: int
    label_agreement: float  # share of check images given the same label at the run's threshold
    delta_p_95th_percentile: float  # |p(int8) − p(fp32)|
    delta_p_max: float
    limits: dict[str, float]  # label_agreement (at least) and delta_p_95th_percentile (at most)
    kept: bool

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Int8Check:
        return cls(**values)

    def sentence(self) -> str:
        """How the int8 labels and probabilities agree with fp32: export, the refusal and bench say it alike."""
        return (
            f"against PyTorch fp32 on {self.check_images} validation images, labels agree on "
            f"{100 * self.label_agreement:.1f}% and |Δp| ≤ {self.delta_p_95th_percentile:.4f} on 95% (max "
            f"{self.delta_p_max:.4f}; limits {100 * self.limits['label_agreement']:.0f}% and "
            f"{self.limits['delta_p_95th_percentile']})"
        )


def export_onnx_int8(
    predictor: Predictor, calibration: np.ndarray, check: np.ndarray, path: Path | None = None
) -> tuple[Path, Int8Check]:
    """Write ``RUN/model-int8.onnx`` (:func:`write_onnx_int8`), checked against PyTorch fp32.

    The file is kept only if its labels agree with PyTorch fp32 on ≥ 99% of ``check`` (the
    validation images) and |Δp| ≤ 0.02 on 95% of them; the figures go to ``RUN/model-int8.json``.
    """
    if len(check) == 0:
        raise FacepalsyError("int8 export needs check images (the run's validation images)")
    path = write_onnx_int8(predictor, calibration, Path(path or predictor.run.onnx_int8))
    reference = Predictor(predictor.spec, predictor.model, precision="fp32").probabilities(check)
    quantised_probs = Predictor(predictor.spec, predictor.model, onnx=OnnxEngine(path)).probabilities(check)
    threshold = predictor.threshold
    delta = np.abs(quantised_probs - reference)
    agreement = float((is_palsy(quantised_probs, threshold) == is_palsy(reference, threshold)).mean())
    p95 = float(np.percentile(delta, 95))
    figures = Int8Check(
        len(calibration),
        len(check),
        agreement,
        p95,
        float(delta.max()),
        {"label_agreement": INT8_LABEL_AGREEMENT, "delta_p_95th_percentile": INT8_DELTA_P},
        agreement >= INT8_LABEL_AGREEMENT and p95 <= INT8_DELTA_P,
    )
    if predictor.run:
        atomic_write_json(predictor.run.onnx_int8_check, figures.to_dict())  # kept or not: it stays on record
    if not figures.kept:
        path.unlink()
        raise FacepalsyError(f"{path}: int8 {figures.sentence()}; not written")
    return path, figures


def export_run_int8(
    predictor: Predictor, calibration_images: int = INT8_CALIBRATION_IMAGES, progress: bool = True
) -> tuple[Path, Int8Check]:
    """:func:`export_onnx_int8` on the run's own images: up to ``calibration_images`` of its training images
    (an even sample), decoded through the run's face policy, and all its validation images as the check."""
    from facepalsy.data.dataset import load_images

    run = predictor.run
    samples, parts = run.read_split()
    root = run.read_config().root
    if not root.is_dir():
        raise FacepalsyError(
            f"{root}: the run's data folder is gone; int8 export calibrates on the run's own training images"
        )
    train = [s for s, part in zip(samples, parts) if part == "train"]
    train = (
        [train[i] for i in np.linspace(0, len(train) - 1, min(calibration_images, len(train))).astype(int)]
        if train
        else []
    )
    check = [s for s, part in zip(samples, parts) if part == "val"] or [
        s for s, part in zip(samples, parts) if part == "test"
    ]
    size, face = predictor.spec.image_size, predictor.spec.face
    calibration = load_images(root, train, size, True, progress, face)[0]
    return export_onnx_int8(predictor, calibration, load_images(root, check, size, True, progress, face)[0])


def write_onnx_int8(predictor: Predictor, calibration: np.ndarray, path: Path) -> Path:
    """onnxruntime's static quantisation of the run's graph, unchecked.

    The convolutions' weights become int8 per output channel and their inputs uint8, with ranges
    measured on ``calibration`` (N×3×S×S uint8 model inputs: the run's own training images); the
    head stays fp32. QDQ format, which onnxruntime runs with integer (VNNI/AMX) kernels where the
    CPU has them.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    _check_exportable(predictor)
    if len(calibration) == 0:
        raise FacepalsyError("int8 export needs calibration images (the run's training images)")

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(calibration[i : i + 16].astype(np.float32) for i in range(0, len(calibration), 16))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"pixels": batch}

    with tempfile.TemporaryDirectory() as tmp:
        fp32, prepared, quantised = Path(tmp) / "fp32.onnx", Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        _write_graph(predictor, fp32)
        quant_pre_process(str(fp32), str(prepared))
        # the convolutions only: the head (two small dense layers) stays fp32, which costs nothing in speed; quantising
        # it too
        # moved p(palsy) about 17 times as much as all the convolutions (a VGG16 run on the real-photo set: 95th
        # percentile 0.019 vs 0.0011)
        quantize_static(
            str(prepared),
            str(quantised),
            Batches(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"],
        )
        import onnx

        model = onnx.load(str(quantised))
        onnx.helper.set_model_props(
            model,
            {
                **_onnx_metadata(predictor),
                "facepalsy.quantisation": f"int8 static, {len(calibration)} calibration images",
            },
        )
        atomic_write(path, lambda target: onnx.save(model, str(target)))
    return path
