"""The typed calibration of an evaluation: how far its probabilities can be taken at their word.

``Calibration`` is what ``metrics.json`` and ``cv.json`` hold under ``calibration`` (the layout unchanged): the
temperature, which probabilities the figures use, the run's decision on a temperature in words, and per kind of
probability (as given, calibrated, uncalibrated, pooled out-of-fold) Brier, ECE, intercept and slope with their
subject-bootstrap intervals and the reliability curve. It says itself once: ``sentence`` for the terminal and the
model card, ``markdown`` for the report; ``plots.plot_reliability`` draws its curves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

METRICS = ("brier", "ece", "calibration_intercept", "calibration_slope")
EACH_FOLD = "each fold's own temperature"  # the pooled probabilities of a cross-validation
POOLED = "pooled out-of-fold"
NOT_FITTED = "No fitted temperature: probabilities as the model gives them."
EXPLAINED = (
    "Brier: mean squared error of p(palsy) (0 is perfect, 0.25 is a constant 0.5); ECE: mean gap between predicted "
    "and observed palsy rate over 10 bins; intercept 0 and slope 1 are ideal (slope < 1: too confident). 95% "
    "intervals: subject bootstrap."
)


@dataclass(frozen=True)
class ReliabilityCurve:
    """Observed palsy rate against mean p(palsy) per equal-width bin, with each bin's image count and the Wilson 95%
    interval of its observed rate; empty with one class only."""

    observed: list[float] = field(default_factory=list)
    predicted: list[float] = field(default_factory=list)
    count: list[int] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: list(getattr(self, k)) for k in ("observed", "predicted", "count", "low", "high")}

    @classmethod
    def from_dict(cls, values: dict) -> ReliabilityCurve:
        return cls(**{k: list(values.get(k, [])) for k in ("observed", "predicted", "count", "low", "high")})


@dataclass(frozen=True)
class CalibrationFigures:
    """One kind of probability's calibration."""

    brier: float  # mean squared error of p(palsy)
    ece: float  # expected calibration error over 10 equal-width bins
    calibration_intercept: float  # 0 is ideal
    calibration_slope: float  # 1 is ideal; below 1: too confident
    ci95: dict[str, tuple[float, float] | None]  # per METRICS name, its subject-bootstrap interval
    curve: ReliabilityCurve

    def to_dict(self) -> dict:
        return {
            **{k: getattr(self, k) for k in METRICS},
            "ci95": {k: None if v is None else list(v) for k, v in self.ci95.items()},
            "curve": self.curve.to_dict(),
        }

    @classmethod
    def from_dict(cls, values: dict) -> CalibrationFigures:
        intervals = {k: None if v is None else tuple(v) for k, v in (values.get("ci95") or {}).items()}
        return cls(**{k: values[k] for k in METRICS}, ci95=intervals, curve=ReliabilityCurve.from_dict(values["curve"]))

    def summary(self) -> str:
        """Brier, ECE, intercept and slope in one phrase."""
        return (
            f"Brier {self.brier:.3f}, ECE {self.ece:.3f}, intercept {self.calibration_intercept:.2f}, "
            f"slope {self.calibration_slope:.2f}"
        )

    def cell(self, name: str) -> str:
        """A metric with its interval, as the report's table shows it."""
        interval = self.ci95.get(name)
        return f"{getattr(self, name):.3f}" + (f" ({interval[0]:.3f} to {interval[1]:.3f})" if interval else "")


@dataclass(frozen=True)
class Calibration:
    """The calibration of an evaluation's probabilities, and of the other kind for comparison."""

    temperature: float | None  # the run's fitted temperature (None: none fitted or kept)
    applied: str  # "calibrated", "uncalibrated" or EACH_FOLD: which probabilities the figures use
    decision: str | None  # the run's choice about a temperature, in words (None for runs from before it was recorded)
    kinds: dict[str, CalibrationFigures]  # per kind of probability: "as given", "calibrated", POOLED, …

    def to_dict(self) -> dict:
        return {
            "temperature": self.temperature,
            "applied": self.applied,
            "decision": self.decision,
            "kinds": {name: kind.to_dict() for name, kind in self.kinds.items()},
        }

    @classmethod
    def from_dict(cls, values: dict | None) -> Calibration | None:
        if not values:
            return None
        kinds = {name: CalibrationFigures.from_dict(kind) for name, kind in values["kinds"].items()}
        return cls(values.get("temperature"), values["applied"], values.get("decision"), kinds)

    @property
    def shown(self) -> CalibrationFigures:
        """The figures of the probabilities the labels use."""
        return self.kinds.get(self.applied) or next(iter(self.kinds.values()))

    def sentence(self) -> str:
        """Brier, ECE, intercept and slope of the probabilities applied, in one line (terminal, model card)."""
        temperature = f"temperature {self.temperature:.3f}, " if self.temperature else ""
        return f"calibration ({self.applied}; {temperature}see report): {self.shown.summary()}"

    def card_text(self) -> str:
        """The model card's calibration paragraph."""
        if self.temperature:
            return (
                f"Temperature scaling fitted on validation data, T = {self.temperature:.3f}; on these images: "
                f"{self.kinds['calibrated'].summary()} (intervals in the report)."
            )
        if self.applied == EACH_FOLD:
            return f"Each fold temperature-scaled on its own validation images; pooled: {self.shown.summary()}."
        return self.decision or NOT_FITTED

    def markdown(self, diagram: str) -> list[str]:
        """The report's section: the decision, the temperature, a table of every kind, the ``diagram`` file."""
        lines = ["## Calibration", ""]
        if self.decision:
            lines += [self.decision, ""]
        if self.temperature:
            at_limit = (
                "; at the search limit of 100: the validation images showed no usable signal, "
                "so calibrated probabilities sit near 0.5"
            )
            lines += [
                f"Temperature scaling fitted on the run's validation images: T = {self.temperature:.3f} "
                f"({'softens' if self.temperature > 1 else 'sharpens'} the model's probabilities"
                f"{at_limit if self.temperature > 99 else ''}). "
                f"Labels and figures above use the {self.applied} probabilities (`--uncalibrated` for the other).",
                "",
            ]
        elif self.applied == EACH_FOLD:
            lines += [
                "Each fold's probabilities were temperature-scaled with the temperature fitted on that fold's "
                "validation images; pooled here.",
                "",
            ]
        elif not self.decision:
            lines += [
                "This run has no fitted temperature (no validation images, or a run from before calibration): "
                "probabilities as the model gives them.",
                "",
            ]
        lines += [
            "| probabilities | Brier | ECE | calibration intercept | calibration slope |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {name} | {' | '.join(kind.cell(k) for k in METRICS)} |" for name, kind in self.kinds.items()]
        return [*lines, "", EXPLAINED, "", f"![reliability diagram]({diagram})", ""]
