"""How a trained model is used, whichever door asks (``predict``, ``explain``, ``evaluate``, ``exam --run``, the page,
``facepalsy.load``): one value passed through, checked once."""

from __future__ import annotations

from dataclasses import dataclass

from facepalsy.errors import FacepalsyError
from facepalsy.models.spec import PRECISIONS

ENGINES = ("torch", "onnx", "onnx-int8")


@dataclass(frozen=True)
class InferenceSettings:
    """The engine, precision, threshold and probabilities a Predictor uses; the run's own choices by default."""

    engine: str = "torch"  # torch; onnx / onnx-int8: RUN/model.onnx / RUN/model-int8.onnx with onnxruntime
    precision: str = "auto"  # auto: bf16 where the CPU/GPU has it; fp32: exact
    threshold: float | None = None  # palsy if p(palsy) >= this; None: the run's operating threshold
    calibrated: bool = True  # apply the run's temperature (when it has one)
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise FacepalsyError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.precision not in PRECISIONS:
            raise FacepalsyError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.batch_size < 1:
            raise FacepalsyError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            raise FacepalsyError(f"threshold must be between 0 and 1, got {self.threshold}")
