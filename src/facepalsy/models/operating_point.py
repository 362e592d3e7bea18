"""The threshold a model labels with, and its temperature: what turns a probability into a verdict.

They travel with the model (``model.pt`` and ``ModelSpec``), so they live beside it, below the evaluation that
chooses them; ``is_palsy`` is the one place the labelling rule (p ≥ threshold) is written.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from facepalsy.errors import FacepalsyError

OPERATING_POINT_HELP = (
    "youden (default: max sensitivity + specificity − 1), sensitivity=0.90, specificity=0.90, or fixed=0.5"
)


@dataclass(frozen=True)
class OperatingPoint:
    """The threshold a run labels with, the rule that chose it and what it gave on validation data."""

    threshold: float
    rule: str = "fixed=0.5"
    sensitivity: float | None = None  # on the validation images, at this threshold
    specificity: float | None = None
    validation_images: int = 0
    interval: tuple[float, float] | None = None  # 95% interval of the threshold over validation subject resamples

    def to_dict(self) -> dict:
        values = asdict(self)
        if self.interval is None:
            values.pop("interval")  # as runs before the interval was recorded
        else:
            values["interval"] = list(self.interval)  # as JSON reads it back
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "OperatingPoint":
        interval = values.get("interval")
        return cls(**{**values, "interval": tuple(interval) if interval else None})

    def contains(self, prob_palsy: float) -> bool:
        """Whether a probability lies within the threshold's interval: borderline, another validation sample could
        have labelled it the other way."""
        return self.interval is not None and self.interval[0] <= prob_palsy <= self.interval[1]

    def interval_text(self) -> str:
        low, high = self.interval
        return (
            f"95% interval ({low:.3f}–{high:.3f}): another sample of validation subjects could have put the threshold "
            "on its other side"
        )


LANDMARK_POINT = "specificity=0.95"  # the landmark model's default: a healthy face from any source reads healthy first


def default_rule(model: str) -> str:
    """The operating point a model is thresholded by when none is asked for: LANDMARK_POINT for the landmark model,
    Youden's for the CNNs."""
    return LANDMARK_POINT if model == "landmarks" else "youden"


def parse_operating_point(rule: str) -> tuple[str, float | None]:
    """``youden`` → ("youden", None); ``sensitivity=0.9`` → ("sensitivity", 0.9); refuses anything else in one line."""
    match = re.fullmatch(r"\s*(youden|sensitivity|specificity|fixed)\s*(?:=\s*([0-9]*\.?[0-9]+)\s*)?", str(rule))
    if not match or (match.group(1) == "youden") != (match.group(2) is None):
        raise FacepalsyError(f"operating_point must be one of: {OPERATING_POINT_HELP}; got {rule!r}")
    value = None if match.group(2) is None else float(match.group(2))
    if value is not None and not 0 <= value <= 1:
        raise FacepalsyError(f"operating_point {rule!r}: the value must be between 0 and 1")
    return match.group(1), value


def is_palsy(prob_palsy: np.ndarray | float, threshold: float | np.ndarray) -> np.ndarray | bool:
    """The labelling rule everywhere: palsy when the probability reaches the threshold."""
    return np.asarray(prob_palsy) >= threshold


_EPS = 1e-12  # probabilities of exactly 0 or 1 (float32 softmax) get a finite logit


def logit(prob: np.ndarray) -> np.ndarray:
    prob = np.clip(np.asarray(prob, dtype=float), _EPS, 1 - _EPS)
    return np.log(prob / (1 - prob))


def apply_temperature(prob_palsy: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of two-class probabilities: sigmoid(logit(p) / T); T > 1 softens, T < 1 sharpens."""
    from scipy.special import expit  # no overflow warning for a very confident probability

    return expit(logit(prob_palsy) / temperature)
