"""The typed results of evaluation: ``Scores`` (the binary metrics at a threshold, with intervals), ``Evaluation``
(one run on its test split or on another folder: ``metrics.json``) and ``CvSummary`` (a cross-validation:
``cv.json``).

Each has ``to_dict`` for JSON (the files' layout, unchanged) and ``from_dict`` to read it back, and one
Markdown renderer; the terminal renderer is the CLI's (``app/render.py``). Fractions throughout: the
renderers turn them into percentages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from facepalsy.evaluation import sources as source_table
from facepalsy.evaluation.calibration import Calibration
from facepalsy.evaluation.check_result import Leakage, Overlap
from facepalsy.evaluation.metrics import ChanceCheck
from facepalsy.evaluation.sources import SourceFigures
from facepalsy.models.operating_point import OperatingPoint
from facepalsy.runfolder import ResultFiles, read_json

SCORE_KEYS = ("accuracy", "recall", "precision", "f1", "specificity", "roc_auc")
AT_HALF = {"sensitivity_at_half": "sensitivity_at_0.5", "specificity_at_half": "specificity_at_0.5"}  # field: JSON key
FIELD_OF_KEY = {key: name for name, key in AT_HALF.items()}


def percent(value: float | None, interval: tuple[float, float] | None = None, digits: int = 2) -> str:
    """A fraction as a percentage with ``digits`` decimals (and its interval in brackets, when given); n/a for None.
    The one percent formatter of tables, reports, cards and the comparison."""
    if value is None:
        return "n/a"
    text = f"{100 * value:.{digits}f}"
    return text + (f" ({100 * interval[0]:.{digits}f}–{100 * interval[1]:.{digits}f})" if interval else "")


@dataclass
class Scores:
    """Accuracy, precision, recall, F1, specificity (positive class palsy) and ROC AUC at one threshold, as
    fractions; ``ci95`` holds each one's subject-bootstrap interval (or None where it cannot be drawn)."""

    accuracy: float
    precision: float
    recall: float
    f1: float
    specificity: float
    roc_auc: float | None  # None: one class only
    confusion_matrix: list[list[int]]  # [[tn, fp], [fn, tp]]
    threshold: float | None  # None: one threshold per image (pooled folds)
    n: int
    ci95: dict[str, list[float] | None] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict) -> Scores:
        names = {f.name for f in fields(cls)}
        return cls(**{FIELD_OF_KEY.get(k, k): v for k, v in values.items() if FIELD_OF_KEY.get(k, k) in names})

    def to_dict(self) -> dict:
        return {AT_HALF.get(f.name, f.name): getattr(self, f.name) for f in fields(self)}

    def interval(self, key: str) -> str:
        """A metric's 95% interval in percent, or n/a."""
        bounds = self.ci95.get(key)
        return "n/a" if not bounds else f"{percent(bounds[0])}–{percent(bounds[1])}"

    def markdown_table(self) -> list[str]:
        """The Table 1 metrics with their subject-bootstrap 95% intervals, as Markdown lines."""
        return [
            "| | accuracy | recall | precision | F1 | specificity | ROC AUC | n |",
            "|---|---|---|---|---|---|---|---|",
            "| % | " + " | ".join(percent(getattr(self, k)) for k in SCORE_KEYS) + f" | {self.n} |",
            "| 95% CI | " + " | ".join(self.interval(k) for k in SCORE_KEYS) + " | |",
        ]


@dataclass(frozen=True)
class LeftOut:
    """An evaluation's images without a verdict, per reason: not in its n."""

    unreadable: int = 0
    no_face: int = 0  # without the usable face the model needs, or a face mesh that could not be measured
    cannot_read: int | None = None  # the landmark model: faces measured but not read reliably (None: none counted)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, values: dict) -> LeftOut:
        return cls(**values)


@dataclass
class Evaluation(Scores):
    """A run's scores on a set of images (``metrics.json``), and what a reader needs to trust them: the threshold
    and how it was chosen, the scores at 0.5 for comparison with argmax papers, the chance check, calibration,
    what was left out and what the set shares with training. Pooled out-of-fold scores use the same type, without
    the fields that belong to one run."""

    sensitivity_at_half: float | None = None
    specificity_at_half: float | None = None
    chance: ChanceCheck | None = None
    calibration: Calibration | None = None
    threshold_text: str | None = None
    operating_point: OperatingPoint | None = None  # the run's threshold, its rule and its validation figures
    data: str | None = None  # None: the run's own test split
    split: str | None = None
    left_out: LeftOut | None = None  # images without a verdict: not in n
    overlap: Overlap | None = None  # evaluate --data: what the set shares with the training images
    heatmaps: str | None = None

    TYPED = {
        "chance": ChanceCheck,
        "calibration": Calibration,
        "operating_point": OperatingPoint,
        "overlap": Overlap,
        "left_out": LeftOut,
    }

    @classmethod
    def from_dict(cls, values: dict) -> Evaluation:
        typed = {k: v.from_dict(values[k]) if values.get(k) else None for k, v in cls.TYPED.items() if k in values}
        return super().from_dict({**values, **typed})

    @classmethod
    def read(cls, results: ResultFiles) -> Evaluation:
        """An evaluation's ``metrics.json``, typed."""
        return cls.from_dict(read_json(results.metrics))

    def to_dict(self) -> dict:
        values = super().to_dict()
        for name in self.TYPED:
            values[name] = values[name].to_dict() if values[name] is not None else None
        return values

    @property
    def better_than_chance(self) -> bool:
        return bool(self.chance and self.chance.better_than_chance)

    def chance_lines(self) -> list[str]:
        """The chance check, bold when the model is not shown to beat chance."""
        if not self.chance:
            return []
        statement = self.chance.statement
        return [statement if self.better_than_chance else f"**{statement}**", ""]


@dataclass(frozen=True)
class FoldResult:
    """One fold of a cross-validation: who it tested, at which threshold, what its test side shared with training,
    and its scores."""

    fold: int
    run: str  # the fold's run folder, relative to the cross-validation's
    test_subjects: list[str]
    threshold: float  # the fold's operating threshold, chosen on its own validation images
    leakage: Leakage
    metrics: Evaluation

    def to_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**values, "leakage": self.leakage.to_dict(), "metrics": self.metrics.to_dict()}

    @classmethod
    def from_dict(cls, values: dict) -> FoldResult:
        return cls(
            **{
                **values,
                "leakage": Leakage.from_dict(values["leakage"]),
                "metrics": Evaluation.from_dict(values["metrics"]),
            }
        )


@dataclass(frozen=True)
class SubjectScore:
    """A subject's score in a cross-validation: the mean palsy probability of its images."""

    subject: str
    label: str  # "palsy" or "normal"
    mean_prob_palsy: float


@dataclass
class CvSummary:
    """A cross-validation (``cv.json``): per fold, pooled over every out-of-fold prediction, per subject."""

    protocol: str
    protocol_text: str
    backbone: str
    folds: list[FoldResult]
    folds_with_test_subject_in_training: list[int]
    pooled: Evaluation
    per_subject: Scores
    subject_scores: list[SubjectScore]
    sources: list[SourceFigures] = field(default_factory=list)  # leave-source-out: one per held-out source

    @classmethod
    def from_dict(cls, values: dict) -> CvSummary:
        return cls(
            **{
                **values,
                "folds": [FoldResult.from_dict(f) for f in values["folds"]],
                "pooled": Evaluation.from_dict(values["pooled"]),
                "per_subject": Scores.from_dict(values["per_subject"]),
                "subject_scores": [SubjectScore(**s) for s in values["subject_scores"]],
                "sources": [SourceFigures.from_dict(s) for s in values.get("sources", [])],
            }
        )

    def to_dict(self) -> dict:
        return {
            **{f.name: getattr(self, f.name) for f in fields(self)},
            "folds": [f.to_dict() for f in self.folds],
            "subject_scores": [asdict(s) for s in self.subject_scores],
            "pooled": self.pooled.to_dict(),
            "per_subject": self.per_subject.to_dict(),
            "sources": [s.to_dict() for s in self.sources],
        }

    @property
    def thresholds(self) -> str:
        return ", ".join(f"{fold.threshold:.3f}" for fold in self.folds)

    def markdown(self) -> list[str]:
        """The per-fold table and the pooled and per-subject scores, as Markdown lines (the report adds the rest)."""
        lines = [
            "## Per fold",
            "",
            "| fold | test subjects | n | accuracy | recall | precision "
            "| F1 | ROC AUC | same-subject test images in training |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for fold in self.folds:
            m, guard = fold.metrics, fold.leakage
            subjects = ", ".join(fold.test_subjects[:4]) + (" …" if len(fold.test_subjects) > 4 else "")
            lines.append(
                f"| {fold.fold} | {subjects} | {m.n} | "
                + " | ".join(percent(getattr(m, k)) for k in ("accuracy", "recall", "precision", "f1", "roc_auc"))
                + f" | {guard.test_images_with_subject_in_training} of {guard.test_images} |"
            )
        pooled = self.pooled
        if self.sources:
            lines = [
                "## Per held-out source",
                "",
                "Each source was held out whole: the model of its fold never saw a photo of it. False positives: "
                "healthy faces called palsy; sensitivity: palsy faces called palsy; both of the faces that got a "
                "verdict, at the fold's threshold (chosen on the other sources' faces, never the held-out one), "
                "with Wilson 95% intervals. No verdict: no usable face, or a face the model could not read reliably.",
                "",
                *source_table.markdown(self.sources),
                "",
                *lines,
            ]
        return [
            *lines,
            "",
            "## Pooled over all out-of-fold predictions (per image)",
            "",
            *pooled.chance_lines(),
            *pooled.markdown_table(),
            "",
            "Each image is labelled at its fold's operating threshold, chosen on that fold's validation data "
            f"(thresholds: {self.thresholds}). "
            f"Sensitivity / specificity at 0.5 instead: {percent(pooled.sensitivity_at_half)} "
            f"/ {percent(pooled.specificity_at_half)}.",
            "",
            "## Per subject (a subject's score is the mean palsy probability of its images)",
            "",
            *self.per_subject.markdown_table(),
            "",
            "Intervals: percentile bootstrap over subjects (all images of a resampled subject move together).",
            "",
        ]
