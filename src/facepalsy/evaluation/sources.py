"""Figures per held-out source (``cv --protocol leave-source-out``): what a model does on photos from a source it
never saw.

A within-source k-fold cannot see a model that learned "this source looks healthy"; holding each source out whole
can. A healthy-only source gets its false-positive rate, a palsy source its sensitivity, a source with both its
AUC as well, each with its images that got no verdict (no usable face, or a face the model could not read
reliably) beside it: a model that abstains on the hard faces is not a model that reads them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from facepalsy.evaluation.metrics import binary_metrics


def wilson_interval(successes: int, trials: int) -> tuple[float, float] | None:
    """The Wilson score 95% interval of a proportion (scipy's), None without trials."""
    from scipy.stats import binomtest

    if trials == 0:
        return None
    interval = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


@dataclass(frozen=True)
class SourceFigures:
    """One held-out source: how many of its images got a verdict, and how good the verdicts were."""

    source: str
    normal: int  # images of the source listed, per class
    palsy: int
    abstained: int  # images without a verdict: no usable face, unreadable, or a face the model could not read
    false_positive_rate: float | None = None  # healthy faces called palsy, of those with a verdict
    false_positive_ci95: tuple[float, float] | None = None  # Wilson score interval
    sensitivity: float | None = None  # palsy faces called palsy, of those with a verdict
    sensitivity_ci95: tuple[float, float] | None = None
    roc_auc: float | None = None  # only where the source has both classes with verdicts
    threshold: float | None = None  # the fold's threshold, chosen on the other sources' validation faces (None: pooled)

    @property
    def abstention_rate(self) -> float:
        return self.abstained / max(self.normal + self.palsy, 1)

    def to_dict(self) -> dict:
        return {**asdict(self), "abstention_rate": self.abstention_rate}

    @classmethod
    def from_dict(cls, values: dict) -> "SourceFigures":
        known = {k: v for k, v in values.items() if k != "abstention_rate"}
        for key in ("false_positive_ci95", "sensitivity_ci95"):
            known[key] = tuple(known[key]) if known.get(key) is not None else None
        return cls(**known)

    def row(self) -> list[str]:
        """The table cells of :data:`COLUMNS`."""

        def rate(value: float | None, interval: tuple[float, float] | None) -> str:
            if value is None:
                return "—"
            return f"{100 * value:.1f}% ({100 * interval[0]:.1f}–{100 * interval[1]:.1f})"

        return [
            self.source,
            f"{self.normal} / {self.palsy}",
            rate(self.false_positive_rate, self.false_positive_ci95),
            rate(self.sensitivity, self.sensitivity_ci95),
            "—" if self.roc_auc is None else f"{self.roc_auc:.3f}",
            f"{100 * self.abstention_rate:.1f}% ({self.abstained})",
        ]


COLUMNS = (
    "source",
    "normal / palsy",
    "false positives (95% CI)",
    "sensitivity (95% CI)",
    "ROC AUC",
    "no verdict",
)


def source_figures(
    source: str, listed: dict[int, int], labels: np.ndarray, probs: np.ndarray, threshold: float | np.ndarray
) -> SourceFigures:
    """The figures of one source from its verdicts (``labels``, ``probs``: images that got one) and the number of its
    images listed per class (``listed``: label index → count). ``threshold``: one, or one per image (pooled folds)."""
    labels = np.asarray(labels, int)
    called = np.asarray(probs, float) >= threshold
    healthy, palsy = labels == 0, labels == 1
    false_positives, hits = int(called[healthy].sum()), int(called[palsy].sum())
    return SourceFigures(
        source=source,
        normal=listed.get(0, 0),
        palsy=listed.get(1, 0),
        abstained=sum(listed.values()) - len(labels),
        false_positive_rate=false_positives / healthy.sum() if healthy.any() else None,
        false_positive_ci95=wilson_interval(false_positives, int(healthy.sum())),
        sensitivity=hits / palsy.sum() if palsy.any() else None,
        sensitivity_ci95=wilson_interval(hits, int(palsy.sum())),
        roc_auc=binary_metrics(labels, probs, threshold)["roc_auc"] if healthy.any() and palsy.any() else None,
        threshold=float(threshold) if np.ndim(threshold) == 0 else None,
    )


def markdown(figures: list[SourceFigures]) -> list[str]:
    """The per-source table as Markdown lines."""
    return [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(f.row()) + " |" for f in figures),
    ]
