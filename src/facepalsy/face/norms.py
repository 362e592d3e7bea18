"""Healthy reference ranges: how asymmetric healthy faces are, region by region, and where a face falls.

No face is perfectly symmetric, so a left/right difference means nothing until it is compared
with healthy faces. ``facepalsy norms build FOLDER`` measures healthy photos and stores, per
measure, the distribution of |left − right| (median, MAD, 95th and 99th percentiles) and, per
region, the distribution of the region score; ``reading`` places one face against it.

Definitions (all in the eye-aligned frame, lengths in inter-ocular distances; see ``asymmetry``):

- A measure's *scaled difference* is |left − right| divided by the healthy 95th percentile of
  |left − right| for that measure: 1.0 is the edge of the healthy 95% range.
- A *region score* is the largest scaled difference among the region's measures (REGIONS).
- A region is ``outside_healthy_range`` when its score is above the healthy 99th percentile of
  that region's score; its *percentile* is the share of healthy faces with a lower score.
- The *weaker side* of a region is the side its measures point to (WEAKER_SIGN: a lower brow, a
  wider-open eye, a longer nose-to-mouth-corner distance, a lower mouth corner pulled less far
  out), and it is named only for a region outside the healthy range.

Follow-up: the *overall score* of a face is its largest region score (``overall`` holds its healthy
distribution). ``retest`` holds the minimal detectable change (MDC95) of every measure, region score
and the overall score: healthy resting photos are each measured again on re-taken views (turned,
rescaled, shifted, re-lit, re-encoded; ``workflows/norms_from_photos.py``), the within-photo spread gives the
standard error of measurement (SEM) and MDC95 = 1.96 × √2 × SEM, the smallest difference between
two visits that measurement noise explains only 5% of the time. No repeated visits of healthy
people were available, so it is a floor: real re-photographing also changes expression and light.

Expressions: healthy faces are more asymmetric in a smile or a brow raise than at rest. Every
healthy photo's expression is recognised (``expression``; a sub-folder or file named after an
expression names it instead), and each expression with at least MIN_PER_EXPRESSION faces gets its
own ranges (``expressions`` in the file). A face is read against the ranges of its expression
where the reference has them, else against all healthy faces; for an expression without healthy
data, the region it moves is allowed an asymmetry in proportion to how far it moved (a raised brow
twice as high as a healthy resting brow may differ twice as much), and the reading says so.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from facepalsy.errors import FacepalsyError
from facepalsy.face.reading import HealthyRangeReading, RegionReading

# Per region, the per-side measures compared (all from face/asymmetry.py, differences left − right).
REGIONS: dict[str, tuple[str, ...]] = {
    "brow": ("brow_height", "brow_inner_height", "brow_outer_height"),
    "eye": ("eye_opening", "palpebral_ratio", "inner_lid_distance"),
    "mid_face": ("nasolabial_length",),
    "mouth": ("mouth_corner_drop", "mouth_corner_from_midline"),
}
# +1: the weaker (palsied) side has the larger value; −1: the smaller.
WEAKER_SIGN = {
    "brow_height": -1,
    "brow_inner_height": -1,
    "brow_outer_height": -1,
    "eye_opening": +1,
    "palpebral_ratio": +1,
    "inner_lid_distance": +1,
    "nasolabial_length": +1,
    "mouth_corner_drop": +1,
    "mouth_corner_from_midline": -1,
}
OUTSIDE_PERCENTILE = 99.0
DEFAULT_REFERENCE = "reference_norms.json"  # shipped with the package: numbers only, with their source
FORMAT = 2  # 2: per-expression ranges and side sizes; files of format 1 still load
MIN_PER_EXPRESSION = 20
# Per region, the per-side size that grows with the expression moving it (the slack for expressions without healthy
# data).
REGION_SIZE = {"brow": "brow_height", "eye": "eye_opening", "mouth": "mouth_corner_from_midline"}


@dataclass(frozen=True)
class MeasureRange:
    """How far apart the two sides of one measure are on healthy faces: |left − right| (inter-ocular distances)."""

    median_abs: float
    mad_abs: float  # median absolute deviation
    p95_abs: float  # the edge of the healthy 95% range: a scaled difference of 1.0
    p99_abs: float


@dataclass(frozen=True)
class ScoreDistribution:
    """A region score (or the overall score) over healthy faces."""

    quantiles: list[float]  # the 0th to 100th percentiles
    p99: float  # above it: outside the healthy range


@dataclass(frozen=True)
class Ranges:
    """The healthy ranges of one group of faces (all of them, or one expression's)."""

    count: int
    measures: dict[str, MeasureRange]
    regions: dict[str, ScoreDistribution]
    overall: ScoreDistribution | None = None  # None in format-1 files

    def to_dict(self) -> dict:
        values = asdict(self)
        return values if self.overall is not None else {k: v for k, v in values.items() if k != "overall"}

    @classmethod
    def from_dict(cls, values: dict) -> Ranges:
        overall = values.get("overall")
        return cls(
            values["count"],
            {m: MeasureRange(**v) for m, v in values["measures"].items()},
            {r: ScoreDistribution(**v) for r, v in values["regions"].items()},
            ScoreDistribution(**overall) if overall else None,
        )


@dataclass(frozen=True)
class Retest:
    """The minimal detectable change (MDC95) between two visits, from healthy photos measured again on re-taken
    views: per measure (|left − right|), per region score and of the overall score."""

    method: str  # how the photos were re-taken
    photos: int
    views_per_photo: float
    measures: dict[str, float]
    regions: dict[str, float]
    overall: float | None = None

    def to_dict(self) -> dict:
        mdc95 = {"measures": self.measures, "regions": self.regions}
        mdc95 |= {"overall": self.overall} if self.overall is not None else {}
        return {"method": self.method, "photos": self.photos, "views_per_photo": self.views_per_photo, "mdc95": mdc95}

    @classmethod
    def from_dict(cls, values: dict) -> Retest:
        mdc95 = values["mdc95"]
        return cls(
            values["method"],
            values["photos"],
            values["views_per_photo"],
            mdc95.get("measures", {}),
            mdc95.get("regions", {}),
            mdc95.get("overall"),
        )


@dataclass(frozen=True)
class Norms:
    """Healthy reference ranges as ``norms build`` writes them (``reference_norms.json`` ships with the package): the
    ranges of all healthy faces and of each expression with enough faces, the resting sizes behind the slack for
    other expressions, and the retest noise."""

    source: str  # where the healthy photos came from
    date: str
    facepalsy: str  # the version that built them
    ranges: Ranges  # over all healthy faces (the file's top level)
    expressions: dict[str, Ranges] = field(default_factory=dict)  # per expression with MIN_PER_EXPRESSION faces
    expression_counts: dict[str, int] = field(default_factory=dict)
    rest_sizes: dict[str, float] = field(default_factory=dict)  # per REGION_SIZE measure, the healthy resting median
    retest: Retest | None = None
    format: int = FORMAT

    @property
    def count(self) -> int:
        return self.ranges.count

    def ranges_for(self, expression: str) -> Ranges | None:
        """The ranges of ``expression`` where the reference has them (None otherwise)."""
        return self.expressions.get(expression)

    @property
    def rest(self) -> Ranges:
        """The ranges a resting face is read against: the rest expression's where the reference has them."""
        return self.ranges_for("rest") or self.ranges

    def to_dict(self) -> dict:
        values = {"format": self.format, "source": self.source, "date": self.date, "facepalsy": self.facepalsy}
        values |= self.ranges.to_dict()
        values |= {
            "expressions": {name: r.to_dict() for name, r in self.expressions.items()},
            "expression_counts": self.expression_counts,
            "rest_sizes": self.rest_sizes,
        }
        return values | ({"retest": self.retest.to_dict()} if self.retest else {})

    @classmethod
    def from_dict(cls, values: dict) -> Norms:
        retest = values.get("retest")
        return cls(
            values["source"],
            values["date"],
            values.get("facepalsy", ""),
            Ranges.from_dict(values),
            {name: Ranges.from_dict(r) for name, r in values.get("expressions", {}).items()},
            values.get("expression_counts", {}),
            values.get("rest_sizes", {}),
            Retest.from_dict(retest) if retest else None,
            values["format"],
        )


def differences(result) -> dict[str, float]:
    """left − right of every region measure of an Asymmetry."""
    values = {**result.difference, **{k: v for k, v in result.shape.items() if k in WEAKER_SIGN}}
    return {m: float(values[m]) for region in REGIONS.values() for m in region}


def side_sizes(result) -> dict[str, float]:
    """Per REGION_SIZE measure of an Asymmetry, the mean of its two sides (how far the region is moved)."""
    return {m: (result.left[m] + result.right[m]) / 2 for m in REGION_SIZE.values()}


def _ranges(measured: list[dict[str, float]]) -> Ranges:
    measures = {}
    for m in WEAKER_SIGN:
        absolute = np.abs([d[m] for d in measured])
        median = float(np.median(absolute))
        measures[m] = MeasureRange(
            median,
            float(np.median(np.abs(absolute - median))),
            float(np.percentile(absolute, 95)),
            float(np.percentile(absolute, 99)),
        )
    partial = Ranges(len(measured), measures, {})  # what region scores need: the measures' 95th percentiles
    regions = {r: _distribution(np.array([region_score(d, partial, r) for d in measured])) for r in REGIONS}
    overall = _distribution(np.array([overall_score(d, partial) for d in measured]))
    return Ranges(len(measured), measures, regions, overall)


def _distribution(scores: np.ndarray) -> ScoreDistribution:
    return ScoreDistribution(
        [float(q) for q in np.percentile(scores, np.arange(101))], float(np.percentile(scores, OUTSIDE_PERCENTILE))
    )


def retest_mdc(retakes: list[list[dict[str, float]]], ranges: Ranges, method: str) -> Retest:
    """MDC95 per measure (|left − right|, inter-ocular distances), region score and overall score, from the
    differences of each healthy photo measured on several re-taken views (one list per photo)."""
    retakes = [views for views in retakes if len(views) >= 2]
    if len(retakes) < 10:
        raise FacepalsyError(f"the minimal detectable change needs at least 10 re-measured photos, got {len(retakes)}")

    def mdc(value) -> float:
        within = [np.var([value(d) for d in views], ddof=1) for views in retakes]
        return round(1.96 * np.sqrt(2.0) * float(np.sqrt(np.mean(within))), 4)

    return Retest(
        method,
        len(retakes),
        round(float(np.mean([len(v) for v in retakes])), 1),
        {m: mdc(lambda d, m=m: abs(d[m])) for m in WEAKER_SIGN},
        {r: mdc(lambda d, r=r: region_score(d, ranges, r)) for r in REGIONS},
        mdc(lambda d: overall_score(d, ranges)),
    )


def build_norms(
    measured: list[dict[str, float]],
    source: str,
    expressions: list[str] | None = None,
    sizes: list[dict[str, float]] | None = None,
    retakes: tuple[list[list[dict[str, float]]], str] | None = None,
) -> Norms:
    """Reference ranges from the region-measure differences of healthy faces (one dict per face), over
    all faces and per expression (``expressions``, one per face) with enough faces; ``sizes`` (one
    :func:`side_sizes` per face) give the healthy resting sizes behind the slack for other expressions;
    ``retakes`` (re-measured resting photos and how they were re-taken) the minimal detectable change."""
    from facepalsy.version import __version__

    if len(measured) < 20:
        raise FacepalsyError(f"healthy reference ranges need at least 20 measured faces, got {len(measured)}")
    expressions = expressions or ["rest"] * len(measured)
    counts, per_expression = {}, {}
    for name in sorted(set(expressions)):
        group = [d for d, e in zip(measured, expressions) if e == name]
        counts[name] = len(group)
        if len(group) >= MIN_PER_EXPRESSION:
            per_expression[name] = _ranges(group)
    rest_sizes = {}
    if sizes:
        resting = [s for s, e in zip(sizes, expressions) if e == "rest"] or sizes
        rest_sizes = {m: float(np.median([s[m] for s in resting])) for m in REGION_SIZE.values()}
    norms = Norms(
        source, datetime.date.today().isoformat(), __version__, _ranges(measured), per_expression, counts, rest_sizes
    )
    if retakes:
        norms = dataclasses.replace(norms, retest=retest_mdc(retakes[0], norms.rest, retakes[1]))
    return norms


def region_score(diffs: dict[str, float], ranges: Ranges, region: str) -> float:
    """The region's largest scaled difference: |left − right| over the healthy 95th percentile."""
    return max(abs(diffs[m]) / max(ranges.measures[m].p95_abs, 1e-9) for m in REGIONS[region])


def overall_score(diffs: dict[str, float], ranges: Ranges) -> float:
    """The face's largest region score: one number to follow over visits."""
    return max(region_score(diffs, ranges, region) for region in REGIONS)


def reading(
    diffs: dict[str, float], norms: Norms, expression: str = "rest", sizes: dict[str, float] | None = None
) -> HealthyRangeReading:
    """One face against the healthy reference: per region its score, percentile, flag and (if outside) weaker side; per
    measure z.

    The ranges are those of ``expression`` where the reference has them, else those of all healthy
    faces; then, for an expression other than rest, a region is allowed the asymmetry of its size
    (``sizes``, from :func:`side_sizes`) over the healthy resting size, where larger.
    """
    own = norms.ranges_for(expression)
    ranges = own or norms.ranges
    slack = {}
    if own is None and expression != "rest" and sizes and norms.rest_sizes:
        for region, measure in REGION_SIZE.items():
            ratio = abs(sizes[measure]) / max(abs(norms.rest_sizes[measure]), 1e-9)
            if ratio > 1.0:
                slack[region] = round(float(ratio), 3)
    regions = {}
    for region, measures in REGIONS.items():
        stats = ranges.regions[region]
        score = region_score(diffs, ranges, region) / slack.get(region, 1.0)
        percentile = float(np.interp(score, stats.quantiles, np.arange(101)))
        outside = score > stats.p99
        evidence = sum(WEAKER_SIGN[m] * diffs[m] / max(ranges.measures[m].p95_abs, 1e-9) for m in measures)
        regions[region] = RegionReading(
            score=round(score, 4),
            healthy_percentile=round(percentile, 1),
            outside_healthy_range=bool(outside),
            weaker_side=("left" if evidence > 0 else "right") if outside else None,
            leaning_side="left" if evidence > 0 else "right",
            z={
                m: round(
                    (abs(diffs[m]) - ranges.measures[m].median_abs) / max(1.4826 * ranges.measures[m].mad_abs, 1e-9),
                    2,
                )
                for m in measures
            },
            edge=round(float(stats.p99), 4),
        )
    outside = [r for r, v in regions.items() if v.outside_healthy_range]
    sides = {regions[r].weaker_side for r in outside}
    return HealthyRangeReading(
        regions=regions,
        outside_healthy_range=bool(outside),
        more_affected_side=sides.pop() if len(sides) == 1 else ("both" if sides else None),
        reference={
            "source": norms.source,
            "count": norms.count,
            "date": norms.date,
            "expression": expression,
            "ranges": expression if own else "all expressions",
            "ranges_count": ranges.count,
            **({"slack": slack} if slack else {}),
        },
    )


def load_norms(path: str | Path | None = None) -> Norms:
    """A reference written by ``norms build``; the shipped default without ``path``."""
    try:
        text = (
            Path(path).read_text(encoding="utf-8")
            if path
            else resources.files("facepalsy.face").joinpath(DEFAULT_REFERENCE).read_text(encoding="utf-8")
        )
        norms = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FacepalsyError(f"{path or DEFAULT_REFERENCE}: cannot read healthy reference ranges ({exc})") from exc
    if (
        not isinstance(norms, dict)
        or norms.get("format") not in (1, FORMAT)
        or set(norms.get("regions", {})) != set(REGIONS)
    ):
        raise FacepalsyError(
            f"{path or DEFAULT_REFERENCE}: not a facepalsy reference "
            f"(format 1 or {FORMAT} with regions {', '.join(REGIONS)})"
        )
    return Norms.from_dict(norms)
