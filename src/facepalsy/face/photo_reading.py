"""One photo, read once: the reading every surface renders (``predict``, ``asymmetry``, the exam, the page).

Before 2026-12-06 the surfaces measured a photo their own ways (``predict`` on the model's 224-px input, ``asymmetry``
and the page on two face-mesh passes, the exam on JITTER's views), so one photo could read "central, urgent" in one
and "within the healthy range" in another, with its eye at the 58th healthy percentile in one and the 80th in the
other. Now a photo is read here alone, as the exam always read it: the face found on the photo's own pass, measured
on JITTER's views of its aligned crop (the steadiest measure: docs/performance.md), read against the healthy ranges,
and its palsy pattern named for a face outside the range or read as palsy by a model. A landmark run still measures
its own input for its probability (it was trained on that measure); its verdict only says whether the pattern is
named.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facepalsy.face.asymmetry import JITTER, Asymmetry, face_asymmetry, image_asymmetry
from facepalsy.face.norms import Norms
from facepalsy.face.pattern import PalsyPattern
from facepalsy.face.reading import HealthyRangeReading

# Said where a model reads a face as palsy but no single region lies outside the healthy range: the pattern below it
# is named from where the regions lean, and "within the healthy range, no affected side named" would contradict it.
WITHIN_BUT_PALSY = (
    "no single region lies outside the healthy range; read as palsy by the model, the side is named from where the "
    "regions lean"
)


@dataclass
class PhotoReading:
    """One photo's landmark reading: its measures against the healthy ranges and, where named, its palsy pattern."""

    source: str  # the file, or the name the caller gave the image
    asymmetry: Asymmetry  # measured on JITTER's views, compared with the healthy ranges
    # the label a trained run gave the photo ("palsy", "normal"), None when read without one. Read as palsy, the
    # pattern is named even with every region within the range; read as normal, never (beside a normal verdict a
    # pattern, and a central one's stroke warning, would contradict it)
    verdict: str | None = None
    crop: np.ndarray | None = field(default=None, repr=False)  # the aligned face the drawings are made on
    landmarks: np.ndarray | None = field(default=None, repr=False)  # its landmarks in that crop

    @property
    def reference(self) -> HealthyRangeReading:
        return self.asymmetry.reference

    @property
    def pattern(self) -> PalsyPattern | None:
        return self.asymmetry.palsy_pattern

    @property
    def within_but_palsy(self) -> bool:
        """A pattern named (the model read palsy) though no single region lies outside the healthy range."""
        return self.pattern is not None and not self.reference.turned and not self.reference.outside_regions

    def sentence(self) -> str:
        """The reading in one plain line; never "no affected side named" beside a pattern that names one."""
        return WITHIN_BUT_PALSY if self.within_but_palsy else self.reference.sentence()

    def markdown(self) -> str:
        """The reading and, where named, the pattern, in Markdown (the page and the reports)."""
        if self.within_but_palsy:
            text = f"{WITHIN_BUT_PALSY[0].upper()}{WITHIN_BUT_PALSY[1:]} (healthy percentiles: {self.percentiles()})"
        else:
            text = self.reference.markdown()
        return text + (f"\n\n{self.pattern.markdown()}" if self.pattern else "")

    def percentiles(self) -> str:
        regions = self.reference.regions.items()
        return ", ".join(f"{name.replace('_', ' ')} {region.healthy_percentile:.0f}" for name, region in regions)

    def to_dict(self) -> dict:
        return {"source": self.source, "verdict": self.verdict, "sentence": self.sentence(), **self.asymmetry.to_dict()}


def read_found(
    rgb: np.ndarray,
    found: Asymmetry,
    source: str,
    norms: Norms,
    expression: str | None = None,
    verdict: str | None = None,
) -> PhotoReading:
    """The reading of a face already found in ``rgb`` (``found``: ``image_asymmetry``'s result, whose aligned-crop
    pass is reused as JITTER's centre view). ``expression`` names the face's expression; without it, it is recognised
    on the steadier mesh. ``verdict``: a trained run's label of the photo, which decides whether a pattern is named."""
    result, crop, landmarks = face_asymmetry(rgb, found.face, source, JITTER, expression, centre=found.second)
    result.compare(norms, palsy=verdict == "palsy")
    if verdict == "normal":
        result.palsy_pattern = None
    return PhotoReading(source, result, verdict, crop, landmarks)


def read_photo(
    rgb: np.ndarray, source: str, norms: Norms, verdict: str | None = None, expression: str | None = None
) -> PhotoReading:
    """Read the largest face of an RGB photo; raises ``BadImageError`` without a usable face."""
    found = image_asymmetry(rgb, source, expression=expression)[0]
    return read_found(rgb, found, source, norms, expression, verdict)
