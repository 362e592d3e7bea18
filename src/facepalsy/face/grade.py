"""An eFACE-style (automatic) grade: nine of eFACE's fifteen items, computed from an exam's mm measures.

Why this shape. eFACE (Banks et al., Plast Reconstr Surg 2015) is the grade facial-nerve clinics compare visits
and treatments by; auto-eFACE (Miller et al. 2021) showed that Emotrics' mm measures on the exam photos yield its
items. Here the items come from ``face/millimetres.py``'s measures on each expression of the exam, and each item
compares the affected side with the healthy one, as a clinician's slider does:

- static, at rest (eFACE's 0–200, 100 balanced, then folded at 100 so that a side too high or too low both
  lose): brow (affected height as a % of the healthy), palpebral fissure (healthy height as a % of the affected:
  0 wide, 200 narrow) and oral commissure (100 − COMMISSURE_POINTS_PER_MM points for each mm the affected corner
  hangs below the healthy one, + for each mm above);
- dynamic (0–100): the affected side's movement from rest as a % of the healthy side's, capped at 100: brow
  elevation (brow raise), gentle and full eye closure (the share of the resting fissure closed), commissure with
  smile (the corner's displacement from the subnasale, which a smile leaves in place: read in the eye frame alone,
  a mouth sitting a few mm further to one side in one photo than in the other, as a slightly turned head puts it,
  moved one corner more than the other; the docs, *Grade*, give the measured gain), lower lip ("eee": the lower
  lip's descent);
- synkinesis (0–100, 100 none): ocular synkinesis, 100 less the points by which the affected eye's fissure during
  smile and pucker, as a share of its resting fissure, falls short of the healthy eye's share (the lower of the two
  expressions). A difference, not a ratio: a laugh narrows both eyes, and the ratio of two nearly shut fissures is
  noise (a healthy actor's laugh, both eyes at 7% and −4% of their resting fissure, scored 0 as a ratio).

Eye closure, the smile and the lip are ratios of movement, so a face's size and the mm scale cancel; only the
commissure at rest uses mm. An item whose expression is missing is **missing** (``score`` None), never 100; the
subscores and the total are means over the items measured, and say how many. Not measurable from landmarks, so
never given: nasolabial fold depth and orientation (at rest and with smile), midfacial, mentalis and platysmal
synkinesis.

The affected side comes from the exam's reading (the regions outside the healthy range). When it names none (a
healthy exam, or both sides), the exam is graded with each side as the affected one and the lower total kept: one
side for every item, as eFACE grades one face, and never the flattering guess.
"""

from __future__ import annotations

import functools
import itertools
import json
from dataclasses import dataclass, field, replace
from importlib import resources

from facepalsy.face.expression import EXPRESSIONS
from facepalsy.face.millimetres import OTHER_SIDE, Millimetres
from facepalsy.face.readability import CLOSURE_ITEMS, PhotoQuality, unreadable

COMMISSURE_POINTS_PER_MM = 8.0  # a 4 mm droop at rest scores 68, about the eFACE of flaccid palsy's commissure
# A healthy side that moves less did not make the expression (KDEF's "surprised" faces lift the brow 0.6–9 mm): the
# item is not graded, since a ratio of two noise-sized movements says nothing. Per unit of ITEMS.
MIN_MOVEMENT = {"mm": 2.0, "%": 20.0}
KINDS = ("static", "dynamic", "synkinesis")
# name: kind, the expressions it needs (a tuple: any one of them), the per-side measure it reads (face/millimetres.py;
# commissure_position: the mouth corner's x and y in mm from the subnasale, Millimetres.corners) and the unit of its
# healthy and affected values
ITEMS = {
    "brow_at_rest": ("static", ("rest",), "brow_height", "mm"),
    "palpebral_fissure_at_rest": ("static", ("rest",), "palpebral_fissure", "mm"),
    "commissure_at_rest": ("static", ("rest",), "commissure_height", "mm"),
    "brow_elevation": ("dynamic", ("rest", "brow_raise"), "brow_height", "mm"),
    "gentle_eye_closure": ("dynamic", ("rest", "eye_closure_gentle"), "palpebral_fissure", "%"),
    "full_eye_closure": ("dynamic", ("rest", "eye_closure_full"), "palpebral_fissure", "%"),
    "commissure_with_smile": ("dynamic", ("rest", "smile"), "commissure_position", "mm"),
    "lower_lip": ("dynamic", ("rest", "lip_depression"), "lower_lip_height", "mm"),
    "ocular_synkinesis": ("synkinesis", ("rest", ("smile", "pucker")), "palpebral_fissure", "%"),
}
# Each item as a facial-nerve clinic names it (eFACE's wording), for every table a person reads
TITLES = {
    "brow_at_rest": "Brow at rest",
    "palpebral_fissure_at_rest": "Palpebral fissure at rest",
    "commissure_at_rest": "Oral commissure at rest",
    "brow_elevation": "Brow elevation",
    "gentle_eye_closure": "Gentle eye closure",
    "full_eye_closure": "Full eye closure",
    "commissure_with_smile": "Oral commissure with smile",
    "lower_lip": "Lower lip movement",
    "ocular_synkinesis": "Ocular synkinesis",
}
SMILE_ALONE = "smile photo alone"  # commissure with smile without a rest photo: the smile reading, not movement
# A smile photo alone is graded from its smile reading (the mouth region against healthy smiles, healthy spreads):
# 100 up to the healthy smiles' median reading, falling linearly to 0 at SMILE_ZERO (a smile with one corner still)
SMILE_FREE, SMILE_ZERO = 0.5, 5.0
NOT_MEASURABLE = (
    "nasolabial fold depth at rest",
    "nasolabial fold depth with smile",
    "nasolabial fold orientation with smile",
    "midfacial synkinesis",
    "mentalis synkinesis",
    "platysmal synkinesis",
)
LABEL = "eFACE-style (automatic)"
COLUMNS = ("item", "score", "± MDC95", "healthy side", "affected side", "unit", "note")
RETEST_FILE = "grade_retest.json"  # the items' MDC95 from real retakes, written by benchmarks/grade.py


def retest_key(name: str, basis: str = "") -> str:
    """The key of an item's noise in the retest table: an item read on another basis has its own noise."""
    return f"{name}:{basis}" if basis else name


@dataclass(frozen=True)
class GradeRetest:
    """How much the grade moves between two real photo sessions of one healthy person (``grade_retest.json``)."""

    source: str  # the photo sessions
    date: str
    commit: str  # of the benchmark that measured it (benchmarks/grade.py)
    method: str
    pairs: dict[str, int]  # per item (``retest_key``), ``total`` and ``smile_reading``: session pairs measured
    mdc95: dict[str, float]  # the same keys: MDC95 (items and total in points; the smile reading in healthy spreads)
    eye_distance_px: float | None = None  # the retakes' median eye distance (px): the face size these MDC95 hold at


@functools.cache
def load_retest() -> GradeRetest:
    """The shipped retest table."""
    text = resources.files("facepalsy.face").joinpath(RETEST_FILE).read_text(encoding="utf-8")
    return GradeRetest(**json.loads(text))


@dataclass(frozen=True)
class GradeItem:
    """One eFACE-style item of one exam."""

    name: str  # a key of ITEMS
    kind: str  # static, dynamic or synkinesis
    score: float | None  # 0–100 (static: folded), None when missing
    raw: float | None  # static: eFACE's 0–200 before folding (100 balanced); others: the score
    healthy: float | None  # the healthy side's value (ITEMS' unit)
    affected: float | None  # the affected side's value
    unit: str
    affected_side: str | None  # the side graded as affected ("right"/"left"; the patient's)
    expressions: tuple[str, ...]  # the exam's expressions it was read on
    # per expression, per side its measure (mm): what the score is computed from; a corner's position per side and
    # axis ("right_x", "right_y": mm from the subnasale, x towards the patient's left, y down)
    measures: dict[str, dict[str, float]] = field(default_factory=dict)
    basis: str = ""  # "" as ITEMS defines it; SMILE_ALONE for a smile without a rest photo (compared only alike)
    note: str = ""  # why it is missing or not readable, when it is
    unreadable: str = ""  # why its photos cannot support it (face/readability.py); "" when they can
    mdc95: float | None = None  # its retest noise on these photos (points): KDEF's, wider for a smaller face

    def to_dict(self) -> dict:
        return {
            "score": None if self.score is None else round(self.score, 1),
            "raw": None if self.raw is None else round(self.raw, 1),
            "kind": self.kind,
            "healthy": None if self.healthy is None else round(self.healthy, 2),
            "affected": None if self.affected is None else round(self.affected, 2),
            "unit": self.unit,
            "affected_side": self.affected_side,
            "expressions": list(self.expressions),
            "measures_mm": {e: {k: round(v, 2) for k, v in sides.items()} for e, sides in self.measures.items()},
            "basis": self.basis,
            "note": self.note,
            "readable": not self.unreadable,
            "mdc95": None if self.mdc95 is None else round(self.mdc95, 1),
        }

    @property
    def state(self) -> str:
        """The score as a table shows it: the number, "not readable" or "missing"."""
        if self.score is not None:
            return f"{self.score:.0f}"
        return "not readable" if self.unreadable else "missing"


@dataclass(frozen=True)
class Grade:
    """The eFACE-style (automatic) grade of one exam: its items, subscores and total, and what was missing."""

    items: dict[str, GradeItem]  # by ITEMS name, every item (missing ones with score None)
    affected_side: str  # the side graded as affected: the exam's reading, else the side that grades lower
    side_source: str  # how the affected side was chosen, in words
    photos: dict[str, Millimetres]  # per expression, the mm measures the items were read from
    missing_expressions: tuple[str, ...]  # expressions some item needed and the exam lacked
    qualities: dict[str, PhotoQuality] = field(default_factory=dict)  # per expression, what its photo can support

    def subscore(self, kind: str) -> float | None:
        """The mean of the measured items of one kind (None when none was measured)."""
        scores = [i.score for i in self.items.values() if i.kind == kind and i.score is not None]
        return sum(scores) / len(scores) if scores else None

    @property
    def total(self) -> float | None:
        """The mean of every measured item (None when none was)."""
        scores = [i.score for i in self.items.values() if i.score is not None]
        return sum(scores) / len(scores) if scores else None

    @property
    def measured(self) -> int:
        return sum(i.score is not None for i in self.items.values())

    @property
    def not_readable(self) -> int:
        """Items whose photos were there but cannot support them."""
        return sum(bool(i.unreadable) for i in self.items.values())

    def to_dict(self) -> dict:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        return {
            "label": LABEL,
            "items": {name: item.to_dict() for name, item in self.items.items()},
            **{kind: rounded(self.subscore(kind)) for kind in KINDS},
            "total": rounded(self.total),
            "items_measured": self.measured,
            "items_not_readable": self.not_readable,
            "items_possible": len(ITEMS),
            "affected_side": self.affected_side,
            "side_source": self.side_source,
            "missing_expressions": list(self.missing_expressions),
            "not_measurable": list(NOT_MEASURABLE),
            "photos": {name: photo.to_dict() for name, photo in self.photos.items()},
            "photo_quality": {name: quality.to_dict() for name, quality in self.qualities.items()},
        }

    def rows(self) -> list[tuple[str, str, str, str, str, str, str]]:
        """Per item: name, score, ± MDC95, healthy side, affected side, unit, note (why it is not graded, or how a
        smile alone was read) (the terminal's and the report's table); then the subscores and the total."""
        table = []
        for name, item in self.items.items():
            mdc = "" if item.mdc95 is None or item.score is None else f"± {item.mdc95:.0f}"
            values = ("—", "—") if item.unreadable else (_value(item.healthy), _value(item.affected))
            table.append((TITLES[name], item.state, mdc, *values, item.unit, item.note))
        for kind in KINDS:
            value = self.subscore(kind)
            table.append((f"{kind} subscore", "—" if value is None else f"{value:.0f}", "", "", "", "", ""))
        total = "—" if self.total is None else f"{self.total:.0f}"
        table.append(("total", total, "", "", "", "", self.rests_on()))
        return table

    def rests_on(self) -> str:
        """How many items the total rests on: "6 of 9 items (2 not readable)"."""
        unreadable = f" ({self.not_readable} not readable)" if self.not_readable else ""
        return f"{self.measured} of {len(ITEMS)} items{unreadable}"

    def summary(self) -> str:
        """One sentence: the total, over how many items, the side, what was missing."""
        total = "no item measured" if self.total is None else f"total {self.total:.0f}"
        text = f"{LABEL}: {total} ({self.rests_on()}); affected side: {self.side_source}."
        if self.missing_expressions:
            text += f" Missing (their items not graded): {', '.join(self.missing_expressions)}."
        return text

    def markdown(self) -> str:
        lines = [f"## {LABEL} grade", "", self.summary(), ""]
        lines += ["| " + " | ".join(COLUMNS) + " |", "|---" * len(COLUMNS) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows()]
        lines += ["", "Not measurable from landmarks, so not graded: " + ", ".join(NOT_MEASURABLE) + ".", ""]
        return "\n".join(lines)


def _value(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def grade(
    photos: dict[str, Millimetres],
    affected_side: str | None = None,
    side_source: str = "",
    qualities: dict[str, PhotoQuality] | None = None,
    smile_reading: float | None = None,
) -> Grade:
    """The grade of an exam from its mm measures per expression; ``affected_side`` from the exam's reading. Without
    one, the exam is graded with each side as the affected one and the lower total is kept: one side per face, as
    eFACE assumes, and never the flattering one. ``qualities`` (per expression, ``face/readability.py``): an item
    its photos cannot support is left ungraded with the reason, and each item's MDC95 widens on a small face.
    ``smile_reading``: the smile photo's mouth region against healthy smiles, which grades a smile photo alone."""
    context = (qualities or {}, smile_reading)
    if affected_side in ("right", "left"):
        source = side_source or f"patient's {affected_side}, from the exam's reading"
        return _graded(photos, affected_side, source, *context)
    both = [_graded(photos, s, f"none read; the patient's {s} grades lower", *context) for s in ("right", "left")]
    return min(both, key=lambda g: (g.total is None, g.total if g.total is not None else 0.0))


def _graded(
    photos: dict[str, Millimetres],
    side: str,
    source: str,
    qualities: dict[str, PhotoQuality],
    smile_reading: float | None,
) -> Grade:
    items, missing = {}, set()
    for name, (kind, needs, measure, unit) in ITEMS.items():
        options = [[e for e in ((need,) if isinstance(need, str) else need) if e in photos] for need in needs]
        lacking = [need if isinstance(need, str) else " or ".join(need) for need, got in zip(needs, options) if not got]
        if name == "commissure_with_smile" and lacking == ["rest"]:
            items[name] = _smile_alone(smile_reading, side)
        elif lacking:
            missing.update(lacking)
            note = f"no {', '.join(lacking)} photo"
            items[name] = GradeItem(name, kind, None, None, None, None, unit, side, (), note=note)
        else:
            candidates = [_item(name, [photos[e] for e in used], side, used) for used in itertools.product(*options)]
            items[name] = min(candidates, key=_order)  # ocular synkinesis reads smile and pucker: the lower counts
        if items[name].score is not None and not items[name].measures:
            used = items[name].expressions
            items[name] = replace(items[name], measures={e: _sides(photos[e], measure) for e in used})
        if items[name].expressions:  # its photos are there: can they support it?
            items[name] = _read(items[name], qualities)
    ordered = tuple(e for e in EXPRESSIONS if e in missing) + tuple(sorted(m for m in missing if m not in EXPRESSIONS))
    return Grade(items, side, source, dict(photos), ordered, dict(qualities))


def _order(item: GradeItem) -> tuple[bool, float]:
    return item.score is None, item.score if item.score is not None else 0.0


def _sides(photo: Millimetres, measure: str) -> dict[str, float]:
    if measure == "commissure_position":
        return {f"{side}_{axis}": photo.corners[side][i] for side in ("right", "left") for i, axis in enumerate("xy")}
    return {"right": photo.right[measure], "left": photo.left[measure]}


def _item(name: str, measured: list[Millimetres], affected: str, used: tuple) -> GradeItem:
    kind, _, measure, unit = ITEMS[name]
    healthy = OTHER_SIDE[affected]
    rest = measured[0]
    if kind == "static":
        value = {s: rest.side(s)[measure] for s in (healthy, affected)}
        if name == "palpebral_fissure_at_rest":  # eFACE: 0 wide, 100 balanced, 200 narrow
            ratio = value[healthy] / max(value[affected], 1e-6)
        elif name == "commissure_at_rest":  # heights are below the iris line: a lower corner lies further
            ratio = 1.0 + COMMISSURE_POINTS_PER_MM * (value[healthy] - value[affected]) / 100.0
        else:
            ratio = value[affected] / max(value[healthy], 1e-6)
        raw = max(0.0, min(200.0, 100.0 * ratio))
        return GradeItem(
            name, kind, 100.0 - abs(raw - 100.0), raw, value[healthy], value[affected], unit, affected, used
        )
    moved = {s: _movement(name, rest, measured[1], s) for s in (healthy, affected)}
    if kind == "synkinesis":
        score = max(0.0, min(100.0, 100.0 - (moved[healthy] - moved[affected])))
        return GradeItem(name, kind, score, score, moved[healthy], moved[affected], unit, affected, used)
    return _ratio(name, kind, unit, affected, used, moved[healthy], moved[affected], MIN_MOVEMENT[unit])


def _smile_alone(reading: float | None, affected: str) -> GradeItem:
    """Commissure with smile from a smile photo without rest (a daily smiling selfie): from the smile reading, 100 up
    to SMILE_FREE and 0 from SMILE_ZERO, linear between. The reading follows a recovery (its Spearman with the day
    −0.56 on a real series, issue 50) where the corners' smile angles did not (+0.20). Its ``basis`` keeps it apart
    from the movement-based item."""
    kind, unit = "dynamic", "healthy spreads"
    if reading is None:
        note = "no rest photo, and no smile reading (the face is turned too far)"
        return GradeItem("commissure_with_smile", kind, None, None, None, None, unit, affected, (), note=note)
    score = 100.0 * min(1.0, max(0.0, (SMILE_ZERO - reading) / (SMILE_ZERO - SMILE_FREE)))
    note = "no rest photo: the smile's asymmetry against healthy smiles, not the corners' movement"
    measures = {"smile": {"mouth_reading": reading}}
    values = (score, score, None, reading, unit, affected, ("smile",), measures, SMILE_ALONE, note)
    return GradeItem("commissure_with_smile", kind, *values)


def _read(item: GradeItem, qualities: dict[str, PhotoQuality]) -> GradeItem:
    """The item with its MDC95 on these photos and, where they cannot support it, ungraded with the reason."""
    used = {e: qualities[e] for e in item.expressions if e in qualities}
    closing = None  # an eye closure: the more closed eye's fissure as a share of its resting one (from its movement)
    if item.name in CLOSURE_ITEMS and item.healthy is not None and item.affected is not None:
        closing = 1.0 - max(item.healthy, item.affected) / 100.0
    reason = unreadable(item.name, item.kind, used, closing)
    if reason:
        return replace(item, score=None, raw=None, healthy=None, affected=None, note=reason, unreadable=reason)
    noise = load_retest().mdc95.get(retest_key(item.name, item.basis))
    if item.score is None or noise is None:
        return item
    return replace(item, mdc95=noise * max((q.scale for q in used.values()), default=1.0))


def _movement(name: str, rest: Millimetres, moved: Millimetres, side: str) -> float:
    """How far one side moved from rest in the item's expression (ITEMS' unit)."""
    before, after = rest.side(side), moved.side(side)
    if name == "brow_elevation":
        return after["brow_height"] - before["brow_height"]
    if name in ("gentle_eye_closure", "full_eye_closure"):
        return 100.0 * (1.0 - after["palpebral_fissure"] / max(before["palpebral_fissure"], 1e-6))
    if name == "ocular_synkinesis":  # the share of the resting fissure kept: 100 while the eye stays open
        return 100.0 * after["palpebral_fissure"] / max(before["palpebral_fissure"], 1e-6)
    if name == "commissure_with_smile":  # Millimetres.corners are read from the subnasale
        (x0, y0), (x1, y1) = rest.corners[side], moved.corners[side]
        return float(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5)
    return after["lower_lip_height"] - before["lower_lip_height"]  # lower_lip: the lip's descent ("eee")


def _ratio(
    name: str, kind: str, unit: str, side: str, used: tuple, healthy: float, affected: float, minimum: float
) -> GradeItem:
    """A dynamic item: the affected side's movement as a % of the healthy side's, capped at 100."""
    if healthy <= minimum:
        note = f"the healthy side moved {healthy:.1f} {unit}: the expression was not made, so it is not graded"
        return GradeItem(name, kind, None, None, healthy, affected, unit, side, used, note=note)
    score = 100.0 * max(0.0, min(1.0, affected / healthy))
    return GradeItem(name, kind, score, score, healthy, affected, unit, side, used)
