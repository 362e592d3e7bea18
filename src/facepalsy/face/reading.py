"""A face read against the healthy reference ranges (``face/norms.py``), typed: per region its score, healthy
percentile, flag and weaker side; for the face, the regions outside the range and the more affected side.

``to_dict`` is the JSON every output carries (``asymmetry --json``, ``predict --json``, ``exam.json``);
``sentence`` and ``markdown`` are the one plain-text and the one Markdown rendering of the reading, used by
the terminal, the page and the reports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


def ordinal(value: float) -> str:
    """82 → "82nd", 11 → "11th", 1 → "1st": a percentile as a clinician reads it."""
    n = int(round(value))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def side_words(side: str) -> str:
    """A more affected side as a sentence says it: "patient's left", or "both sides"."""
    return "both sides" if side == "both" else f"patient's {side}"


@dataclass
class RegionReading:
    """One region (brow, eye, mid-face, mouth) against the healthy range."""

    score: float  # the region's asymmetry in units of healthy spread
    healthy_percentile: float  # where the score falls among healthy faces, 0–100
    outside_healthy_range: bool
    weaker_side: str | None  # the patient's "left" or "right", named only outside the range
    leaning_side: str  # where the measures point, inside the range too (for the palsy pattern)
    z: dict[str, float] = field(default_factory=dict)  # per measure, robust z of its |difference|
    edge: float | None = None  # the score where the healthy range ends (its 99th percentile; None in older files)

    def measures_text(self) -> str:
        """Each measure of the region with its robust z against healthy faces, the largest first: what flagged it."""
        ordered = sorted(self.z.items(), key=lambda item: -item[1])
        return ", ".join(f"{name.replace('_', ' ')} z {z:+.1f}" for name, z in ordered)

    @property
    def side(self) -> str:
        """The weaker side where one is named, else the side the measures lean to."""
        return self.weaker_side or self.leaning_side


@dataclass
class HealthyRangeReading:
    """A face against the healthy reference: ``regions`` empty and ``turned`` when the head is turned too far to
    compare the sides (then nothing is outside and no side is named)."""

    regions: dict[str, RegionReading]
    outside_healthy_range: bool | None
    more_affected_side: str | None  # "left", "right" or "both", only for regions outside the range
    reference: dict = field(default_factory=dict)  # the ranges used: source, count, date, expression, slack
    turned: bool = False

    @property
    def side_words(self) -> str:
        return side_words(self.more_affected_side)

    @classmethod
    def turned_away(cls) -> HealthyRangeReading:
        return cls(regions={}, outside_healthy_range=None, more_affected_side=None, turned=True)

    @classmethod
    def from_dict(cls, values: dict) -> HealthyRangeReading:
        if values.get("turned"):
            return cls.turned_away()
        regions = {name: RegionReading(**region) for name, region in values["regions"].items()}
        return cls(regions, values["outside_healthy_range"], values["more_affected_side"], values.get("reference", {}))

    def to_dict(self) -> dict:
        if self.turned:
            return {"turned": True, "outside_healthy_range": None, "regions": {}, "more_affected_side": None}
        return {
            "regions": {name: asdict(region) for name, region in self.regions.items()},
            "outside_healthy_range": self.outside_healthy_range,
            "more_affected_side": self.more_affected_side,
            "reference": self.reference,
        }

    @property
    def expression(self) -> str:
        return self.reference.get("expression", "rest")

    @property
    def outside_regions(self) -> list[str]:
        return [name for name, region in self.regions.items() if region.outside_healthy_range]

    def rows(self) -> list[tuple[str, str, str, bool, str, str]]:
        """Per region: name, score, healthy percentile, outside the range, weaker side, its measures with their z
        (for a table)."""
        return [
            (
                name.replace("_", " "),
                f"{r.score:.2f}",
                f"{r.healthy_percentile:.1f}",
                r.outside_healthy_range,
                r.weaker_side or "—",
                r.measures_text(),
            )
            for name, r in self.regions.items()
        ]

    def sentence(self) -> str:
        """The reading in one plain line: within range (no side named), or which regions are outside and which side
        is weaker."""
        if self.turned:
            return "head turned too far to compare the sides: no reading against the healthy range"
        outside = [name.replace("_", " ") for name in self.outside_regions]
        if not outside:
            return "within the healthy range in every region (no affected side named)"
        return f"outside the healthy range: {', '.join(outside)}; more affected side: {self.side_words}"

    def _named(self, name: str) -> str:
        measures = self.regions[name].measures_text()
        return name.replace("_", " ") + (f" ({measures})" if measures else "")

    def markdown(self) -> str:
        """The reading as one Markdown sentence with each region's healthy percentile, a side named only for
        regions outside the range."""
        if self.turned:
            return "The head is turned too far to compare the sides: **no reading against the healthy range**"
        percentiles = ", ".join(
            f"{n.replace('_', ' ')} {ordinal(r.healthy_percentile)}" for n, r in self.regions.items()
        )
        outside = [self._named(name) for name in self.outside_regions]
        if not outside:
            return (
                "**Within the healthy range** in every region (healthy "
                f"percentiles: {percentiles}); no affected side is named"
            )
        return (
            f"**Outside the healthy range: {', '.join(outside)}**; more affected side: "
            f"**{self.side_words}** (healthy percentiles: {percentiles})"
        )
