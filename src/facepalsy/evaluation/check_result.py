"""What the data checks find, typed: the leakage guard of a split (``leakage.json``), the overlap of an evaluated
folder with a run's training images (``metrics.json``'s ``overlap``) and ``facepalsy check``'s data check.

Each says what it is once (a sentence, ``findings()``, ``to_dict()``); the computation is in ``check.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from facepalsy.evaluation.audit_result import Audit
from facepalsy.runfolder import RunFolder, read_json

# Radius for "near-duplicate", in bits of a 256-bit pHash. On synthetic faces, different people are at least 40 bits
# apart and a resized, re-encoded, brightened copy is 0 bits away; consecutive video frames fall in between.
NEAR_DUPLICATE_BITS = 24


@dataclass(frozen=True)
class Leakage:
    """What the test side of a split shares with training (train and validation both shape the model kept)."""

    test_images: int
    test_subjects_in_training: list[str]
    test_images_with_subject_in_training: int
    test_images_with_near_duplicate_in_training: int | None = None  # None: no perceptual hashes to compare
    protocol: str | None = None  # the split's protocol; None: not a guarded split

    def to_dict(self) -> dict:
        values = asdict(self)
        return {k: v for k, v in values.items() if v is not None}  # as leakage.json was always written

    @classmethod
    def from_dict(cls, values: dict) -> Leakage:
        return cls(**values)

    def sentence(self) -> str:
        """What the test side shares with training, said plainly (Markdown)."""
        n, near = self.test_images, self.test_images_with_near_duplicate_in_training
        text = (
            "Test images with an image of the same subject in training or "
            f"validation: **{self.test_images_with_subject_in_training} of {n}**"
        )
        if near is not None:
            text += f"; with a near-duplicate image (perceptual hash) in training or validation: **{near} of {n}**"
        text += "."
        if self.protocol == "frame" and self.test_images_with_subject_in_training:
            text += " This is the paper's setting: the model was tested on people it was trained on."
        elif near:
            text += (
                " Under a subject split this can mean one person under two subject ids: check with `facepalsy check`."
            )
        return text

    def frame_note(self) -> str:
        """The frame split's overlap as training prints it."""
        return (
            f"frame split (the paper's protocol): {self.test_images_with_subject_in_training} of {self.test_images} "
            f"test images have an image of the same subject in training, "
            f"{self.test_images_with_near_duplicate_in_training or 0} a near-duplicate"
        )


def read_leakage(run: RunFolder) -> Leakage | None:
    """The leakage guard a run wrote (None for a run without one)."""
    return Leakage.from_dict(read_json(run.leakage)) if run.leakage.is_file() else None


@dataclass(frozen=True)
class Overlap:
    """How many images of an evaluated folder a run was trained (or validated) on."""

    images: int  # images of the evaluated folder
    training_images: int  # the run's training and validation images
    identical: int  # byte-identical (SHA-256) to one of them
    near_duplicates: int  # near-duplicates of their model inputs (pHash within NEAR_DUPLICATE_BITS), among the rest
    identical_paths: list[str] = field(default_factory=list)  # the first 50
    near_duplicate_paths: list[str] = field(default_factory=list)  # the first 50

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Overlap:
        return cls(**values)

    def sentence(self, root: str) -> str:
        """The overlap as ``evaluate --data`` says it on the terminal."""
        if not self.found:
            return (
                f"overlap with training: none of the {self.images} images of {root} is one of the run's "
                f"{self.training_images} training and validation images (SHA-256), and none is a near-duplicate "
                f"of one (pHash within {NEAR_DUPLICATE_BITS} bits)"
            )
        return (
            f"overlap with training: {self.identical} of the {self.images} images of {root} are byte-identical to "
            f"training or validation images and {self.near_duplicates} more are near-duplicates (pHash within "
            f"{NEAR_DUPLICATE_BITS} bits): these metrics overstate performance on unseen data (listed in "
            "metrics.json, overlap)"
        )

    @property
    def found(self) -> bool:
        """Whether any image is one the run was trained on, or a near-duplicate of one."""
        return bool(self.identical or self.near_duplicates)

    def protocol_text(self) -> str:
        """The report's protocol line for an external evaluation."""
        return (
            f"External evaluation of a trained run: {self.identical} images byte-identical to its training or "
            f"validation images, {self.near_duplicates} near-duplicates."
        )


@dataclass(frozen=True)
class Duplicates:
    """Images that are the same photo: byte-identical, or within the near-duplicate radius of each other."""

    paths: list[str]  # relative to the data folder
    across_classes: bool  # labelled palsy in one and normal in another
    bits: int | None = None  # near-duplicates: their pHash distance (None: byte-identical)
    same_subject: bool | None = None  # near-duplicates: one subject (expected for video frames)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def line(self) -> str:
        joined = " = ".join(self.paths) if self.bits is None else " ~ ".join(self.paths) + f"  ({self.bits} bits)"
        return joined + ("  [ACROSS CLASSES]" if self.across_classes else "")


@dataclass(frozen=True)
class DataCheck:
    """``facepalsy check DATA``: counts, unreadable files, duplicates, subjects with both labels, unlisted files,
    and the shortcut audit."""

    data: str
    images: dict[str, int]  # per class
    subjects: dict[str, int]  # per class
    images_per_subject: dict[str, float]  # min, median, max
    unreadable: list[dict[str, str]]  # path, reason
    exact_duplicates: list[Duplicates]
    near_duplicates: list[Duplicates]
    subjects_with_both_labels: list[str]
    not_in_manifest: list[str]
    audit: Audit

    def to_dict(self) -> dict:
        return {
            **{k: getattr(self, k) for k in ("data", "images", "subjects", "images_per_subject", "unreadable")},
            "exact_duplicates": [d.to_dict() for d in self.exact_duplicates],
            "near_duplicates": [d.to_dict() for d in self.near_duplicates],
            "subjects_with_both_labels": self.subjects_with_both_labels,
            "not_in_manifest": self.not_in_manifest,
            "audit": self.audit.to_dict(),
        }

    def findings(self) -> list[tuple[str, list[str]]]:
        """Each kind of problem with its items, one line each (empty when there is none)."""
        return [
            ("unreadable files", [f"{u['path']}: {u['reason']}" for u in self.unreadable]),
            ("exact duplicates (same bytes)", [d.line() for d in self.exact_duplicates]),
            (
                f"near-duplicates of different subjects (pHash within {NEAR_DUPLICATE_BITS} bits)",
                [d.line() for d in self.near_duplicates if not d.same_subject],
            ),
            ("subjects with both labels", self.subjects_with_both_labels),
            ("image files the manifest does not list (not used)", self.not_in_manifest),
        ]

    @property
    def near_duplicates_within_subjects(self) -> int:
        """Near-duplicate pairs of one subject: expected for video frames, so counted, not listed."""
        return sum(bool(d.same_subject) for d in self.near_duplicates)
