"""The shortcut audit's result (``audit.json`` in a run or cross-validation, ``facepalsy check``'s ``audit``): how
well each acquisition measure, and all of them together, separates palsy from normal without looking at a face.

It says what it is once: ``rows()`` for a table, ``markdown()`` for reports, ``to_dict()`` for JSON; the terminal
and the reports only draw those. The computation is in ``audit.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from facepalsy.data.dataset import CLASSES
from facepalsy.runfolder import CvFolder, RunFolder, read_json


@dataclass(frozen=True)
class MeasureSeparability:
    """One acquisition measure: its per-class summary and how well it alone separates the classes."""

    name: str  # e.g. "jpeg_quality", "face_width_fraction"
    per_class: dict[str, str]  # class → median (or share, for yes/no measures) as text; only classes present
    auc: float | None  # max(AUC, 1 − AUC); None with one class only


@dataclass(frozen=True)
class CombinedSeparability:
    """All measures together: a random forest's out-of-fold ROC AUC, folds grouped by subject."""

    auc: float | None  # None: too few subjects per class for two folds
    ci95: tuple[float, float] | None  # subject-bootstrap 95% interval
    folds: int
    model: str | None = None  # the classifier and how it was cross-validated
    below_chance: str | None = None  # what an AUC wholly below 0.5 means, when it is

    @classmethod
    def from_dict(cls, values: dict) -> CombinedSeparability:
        ci = values.get("ci95")
        return cls(**{**values, "ci95": tuple(ci) if ci else None})


@dataclass(frozen=True)
class Audit:
    """The shortcut audit of a set of images."""

    images: int  # images measured (unreadable ones are left out)
    measures: list[MeasureSeparability]
    face_measures: bool  # whether face size and position were measured too
    warn_auc: float  # the separability above which a measure is flagged
    harmonised: bool  # measured as a harmonised run sees the images
    combined: CombinedSeparability | None = None  # None with one class only
    flagged: list[str] = field(default_factory=list)  # names of the measures above warn_auc
    warning: str | None = None  # the warning to show, with its advice; None when nothing separates the classes
    note: str | None = None  # why nothing was compared (one class only)

    def to_dict(self) -> dict:
        values = asdict(self)
        if self.combined is not None and self.combined.ci95 is not None:
            values["combined"]["ci95"] = list(self.combined.ci95)  # as JSON reads it back
        if self.note is None:
            values.pop("note")  # as audits with two classes were always written
        return values

    @classmethod
    def from_dict(cls, values: dict) -> Audit:
        combined = values.get("combined")
        return cls(
            **{
                **values,
                "measures": [MeasureSeparability(**m) for m in values["measures"]],
                "combined": CombinedSeparability.from_dict(combined) if combined else None,
            }
        )

    @property
    def classes(self) -> list[str]:
        """The classes present, in CLASSES order."""
        present = self.measures[0].per_class if self.measures else {}
        return [c for c in CLASSES if c in present]

    def columns(self) -> list[str]:
        return ["measure", *self.classes, "separability AUC"]

    def rows(self) -> list[tuple[list[str], bool]]:
        """Per measure: its cells (name, per-class summaries, AUC) and whether it is flagged."""
        return [
            (
                [m.name, *(m.per_class[c] for c in self.classes), "n/a" if m.auc is None else f"{m.auc:.3f}"],
                m.name in self.flagged,
            )
            for m in self.measures
        ]

    def combined_line(self) -> str | None:
        """All measures together, in one sentence (None when they could not be cross-validated)."""
        c = self.combined
        if c is None or c.auc is None:
            return None
        interval = f", 95% CI {c.ci95[0]:.3f}–{c.ci95[1]:.3f} (subject bootstrap)" if c.ci95 else ""
        return f"All measures together ({c.model}, {c.folds} folds): AUC {c.auc:.3f}{interval}."

    def markdown(self) -> list[str]:
        """The audit as Markdown lines for reports."""
        lines = ["## Shortcut audit (photo acquisition, no face)", ""]
        if self.harmonised:
            lines += [
                "Measured on the harmonised images the model was trained on: what is left after harmonising. "
                "`facepalsy check DATA` measures the photos as given.",
                "",
            ]
        if self.warning:
            lines += [f"**Warning:** {self.warning}", ""]
        lines += ["| " + " | ".join(self.columns()) + " |", "|---" * len(self.columns()) + "|"]
        lines += [
            "| " + " | ".join(cells[:-1] + [cells[-1] + (" **!**" if hit else "")]) + " |" for cells, hit in self.rows()
        ]
        if self.combined_line():
            lines += ["", self.combined_line()]
            if self.combined.below_chance:
                lines += ["", self.combined.below_chance]
        elif self.note:
            lines += ["", self.note + "."]
        return lines + [""]

    def warning_lines(self) -> list[str]:
        """The warning as a report's heading paragraph points to it (nothing when there is none)."""
        return [f"**Warning (shortcut audit, see below):** {self.warning}", ""] if self.warning else []


def read_audit(folder: RunFolder | CvFolder) -> Audit | None:
    """The audit a run or cross-validation wrote of its training images (None when it has none)."""
    path = folder.audit_found()
    return Audit.from_dict(read_json(path)) if path else None
