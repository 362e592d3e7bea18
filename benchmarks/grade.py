"""The eFACE-style (automatic) grade on real photos: healthy exams, the mm scale, controlled changes, retest noise.

    .venv/bin/python benchmarks/grade.py ../shared/realfaces/expressions [--warp-photos 20] [--out docs/figures]

EXPRESSIONS is the healthy-expressions folder (manifest columns source, subject, session, exam_expression). Every
photo goes through facepalsy's own measure (``image_asymmetry`` on JITTER's views, as an exam measures its photos,
with its named expression, then ``Asymmetry.millimetres``) and grade (``face.grade.grade``). Writes ``grade.json``
into --out, and the items' retest noise into the package (``face/grade_retest.json``), which ``history`` judges
changes by:

- healthy exams: per person and session, the rest (neutral), smile (happy) and brow raise (surprised) photos
  graded as one exam with no side read (so the lower-grading side): totals, each item's median and how many
  static items fall under 80;
- the mm scale: the iris route against the inter-ocular route (63 mm) on the resting photos;
- controlled changes on real frontal photos (KDEF neutral, session A): one mouth corner moved down, one brow
  lowered, by 2, 4 and 6 mm (a smooth image warp, ``data.synth.warp_region``, sized by the photo's own iris), and
  a gentle (80%) and a full (100%) eye closure drawn by a lid warp (``data.synth.close_eyelids``) with one eye held
  open by a third, two thirds and all of it; each re-measured and graded with the warped side as the affected one;
- test–retest: KDEF's two sessions (A, B) of each person, graded with the same side as affected: MDC95 =
  1.96 × SD of the session differences (= 1.96·√2·SEM) per item and for the total;
- time: one 7-photo exam measured and graded, after the face models are loaded.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from realfaces import provenance

from facepalsy.data.images import load_image
from facepalsy.data.synth import close_eyelids, warp_region
from facepalsy.face.asymmetry import JITTER, image_asymmetry
from facepalsy.face.detect import largest_face
from facepalsy.face.grade import ITEMS, KINDS, grade, retest_key
from facepalsy.face.millimetres import INTEROCULAR_MM, mm_per_pixel
from facepalsy.face.norms import load_norms
from facepalsy.face.readability import photo_quality
from facepalsy.workflows.exam import measure_exam

RETEST_FILE = Path(__file__).parent.parent / "src" / "facepalsy" / "face" / "grade_retest.json"
EXAM = ("rest", "smile", "brow_raise")
SIZES_MM = (2.0, 4.0, 6.0)
KEPT_OPEN = (1 / 3, 2 / 3, 1.0)  # of the closure, the last a lid that does not move
# (what, mesh point per side (patient's right, left), item, warp width in inter-ocular distances)
WARPS = (
    ("mouth corner down", (61, 291), "commissure_at_rest", 0.16),
    ("brow down", (105, 334), "brow_at_rest", 0.16),
)
UPPER_LIDS, LOWER_LIDS = (159, 386), (145, 374)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "expressions", type=Path, help="the healthy-expressions folder (../shared/realfaces/expressions)"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/figures"), help="where grade.json goes")
    parser.add_argument("--warp-photos", type=int, default=20, help="real photos warped per controlled change")
    args = parser.parse_args()
    rows = [r for r in csv.DictReader((args.expressions / "manifest.csv").open()) if r["exam_expression"] in EXAM]
    started = time.perf_counter()
    photos, smiles, qualities = measure_all(args.expressions, rows)
    print(f"measured {len(photos)} of {len(rows)} photos in {time.perf_counter() - started:.0f} s")
    figures = {
        **provenance(),
        "data": str(args.expressions),
        "healthy": healthy_exams(rows, photos, smiles, qualities),
        "scale": scale_agreement(rows, photos),
        "warps": warps(args.expressions, rows, args.warp_photos),
        "retest": retest(rows, photos, smiles, qualities),
        "seconds_per_7_photo_exam": timing(args.expressions, rows),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "grade.json").write_text(json.dumps(figures, indent=2) + "\n")
    RETEST_FILE.write_text(
        json.dumps(
            {
                "source": "KDEF sessions A and B (Lundqvist et al. 1998): neutral, happy, surprised",
                "date": figures["date"],
                "commit": figures["commit"],
                **figures["retest"],
            },
            indent=2,
        )
        + "\n"
    )
    print(json.dumps({k: v for k, v in figures.items() if k != "warps"}, indent=2))


def measure_all(folder: Path, rows: list[dict]) -> tuple[dict[str, object], dict[str, float], dict[str, object]]:
    """Every photo's mm measures (photos without a usable face are left out and counted), each smile photo's
    mouth-region score against the shipped healthy ranges (healthy-spread units), and each photo's quality
    (``face/readability.py``), all by path."""
    norms, measured, smiles, qualities = load_norms(), {}, {}, {}
    for row in rows:
        try:
            rgb = np.asarray(load_image(folder / row["path"]))
            result, _, _ = image_asymmetry(rgb, views=JITTER, expression=row["exam_expression"])
        except Exception as exc:  # noqa: BLE001 - a benchmark counts what it cannot measure
            print(f"  {row['path']}: {exc}")
            continue
        measured[row["path"]] = result.millimetres()
        qualities[row["path"]] = photo_quality(rgb, result.face.landmarks, result.pose)
        if row["exam_expression"] == "smile" and not result.turned:
            smiles[row["path"]] = result.compare(norms).reference.regions["mouth"].score
    return measured, smiles, qualities


def exams(rows: list[dict], photos: dict) -> dict[tuple[str, str, str], dict]:
    """Per (source, subject, session): its measured exam photos by expression."""
    found: dict[tuple[str, str, str], dict] = defaultdict(dict)
    for row in rows:
        if row["path"] in photos:
            found[(row["source"], row["subject"], row["session"])][row["exam_expression"]] = photos[row["path"]]
    return found


def healthy_exams(rows: list[dict], photos: dict, smiles: dict, qualities: dict) -> dict:
    """Per source, each person's session graded as an exam with its photos' readability applied, as ``exam`` does."""
    per_source: dict[str, dict] = {}
    grouped = exams(rows, photos)
    extras = _extras(rows, smiles, qualities)
    for source in sorted({key[0] for key in grouped}):
        graded = [
            grade(exam, qualities=extras[key][0], smile_reading=extras[key][1])
            for key, exam in grouped.items()
            if key[0] == source and "rest" in exam
        ]
        reasons = [item.unreadable.split(" in the ")[0] for g in graded for item in g.items.values() if item.unreadable]
        totals = np.array([g.total for g in graded if g.total is not None])
        items = {name: [g.items[name].score for g in graded if g.items[name].score is not None] for name in ITEMS}
        static = [s for name, kind in ((n, ITEMS[n][0]) for n in ITEMS) if kind == "static" for s in items[name]]
        per_source[source] = {
            "exams": len(graded),
            "expressions": list(EXAM),
            "total": _spread(totals),
            "exams_total_below_85": int((totals < 85).sum()),
            "static_items_below_80": int(sum(s < 80 for s in static)),
            "static_items": len(static),
            "items": {name: _spread(np.array(v)) for name, v in items.items() if v},
            "median_item": float(np.median([s for v in items.values() for s in v])),
            "items_not_readable": len(reasons),
            "not_readable_reasons": {reason: reasons.count(reason) for reason in sorted(set(reasons))},
            **{
                kind: _spread(np.array([g.subscore(kind) for g in graded if g.subscore(kind) is not None]))
                for kind in KINDS
            },
        }
        print(f"{source}: {len(graded)} exams, total {per_source[source]['total']}")
    return per_source


def _extras(rows: list[dict], smiles: dict, qualities: dict) -> dict[tuple[str, str, str], tuple[dict, float | None]]:
    """Per (source, subject, session): its photos' qualities by expression, and its smile photo's reading."""
    found: dict[tuple[str, str, str], tuple[dict, float | None]] = defaultdict(lambda: ({}, None))
    for row in rows:
        key = (row["source"], row["subject"], row["session"])
        quality, reading = found[key]
        if row["path"] in qualities:
            quality[row["exam_expression"]] = qualities[row["path"]]
        found[key] = (quality, smiles.get(row["path"], reading))
    return found


def scale_agreement(rows: list[dict], photos: dict) -> dict:
    """Per source, the iris route's mm per inter-ocular distance over the inter-ocular route's (63 mm)."""
    found = {}
    for source in sorted({r["source"] for r in rows}):
        ratios = np.array(
            [
                photos[r["path"]].mm_per_unit / INTEROCULAR_MM
                for r in rows
                if r["source"] == source and r["exam_expression"] == "rest" and r["path"] in photos
            ]
        )
        found[source] = {
            "photos": len(ratios),
            **_spread(ratios),
            "within_10_percent": float(np.mean(abs(ratios - 1) <= 0.1)),
        }
    return found


def warps(folder: Path, rows: list[dict], count: int) -> dict:
    chosen = [r for r in rows if r["source"] == "KDEF" and r["exam_expression"] == "rest" and r["session"] == "A"]
    results: dict[str, list] = defaultdict(list)
    for index, row in enumerate(chosen[:count]):
        rgb = np.asarray(load_image(folder / row["path"]))
        face = largest_face(rgb, backend="mediapipe")
        scale = mm_per_pixel(face.landmarks)
        iod = float(np.hypot(*np.subtract(face.left_eye, face.right_eye)))
        side = index % 2  # alternate the patient's right and left
        name = ("right", "left")[side]
        for what, points, item, width in WARPS:
            values = []
            for mm in (0.0, *SIZES_MM):
                image = warp_region(rgb, face.landmarks[points[side]], (0.0, mm / scale), width * iod) if mm else rgb
                values.append(_graded(image, name).items[item].raw)
            results[what].append({"photo": row["path"], "side": name, "raw": values, "falls": _falls(values)})
        for item, row_found in _kept_open(rgb, face, iod, side, row["path"]).items():
            results[f"eye kept open ({item})"].append(row_found)
    return {
        what: {
            "photos": len(found),
            "falling": sum(r["falls"] for r in found),
            "graded_every_step": sum(None not in r["raw"] for r in found),
            "mean_by_size": np.mean([r["raw"] for r in found if None not in r["raw"]], axis=0).round(1).tolist(),
            "rows": found,
        }
        for what, found in results.items()
    }


def _kept_open(rgb: np.ndarray, face, iod: float, side: int, path: str) -> dict:
    """Both eyes closed by a lid warp (``data.synth.close_eyelids``: gentle 80%, full 100% of the fissure), one of
    them held open by KEPT_OPEN of that closure: the gentle and full eye-closure items (graded on the held side) and
    the held side's measured closure (% of its resting fissure)."""
    rest, _, _ = image_asymmetry(rgb, views=JITTER, expression="rest")
    found: dict[str, dict] = {}
    for expression, closure in (("eye_closure_gentle", 0.8), ("eye_closure_full", 1.0)):
        item_name = expression.replace("eye_closure_", "") + "_eye_closure"
        scores, affected, unreadable = [], [], []
        for kept in (0.0, *KEPT_OPEN):
            image = rgb
            for s in (0, 1):
                share = 1.0 - kept if s == side else 1.0
                upper, lower = face.landmarks[UPPER_LIDS[s]], face.landmarks[LOWER_LIDS[s]]
                image = close_eyelids(image, upper, lower, 0.5 * iod, closure * share)
            closed, _, _ = image_asymmetry(image, views=JITTER, expression=expression)
            item = grade({"rest": rest.millimetres(), expression: closed.millimetres()}, ("right", "left")[side])
            item = item.items[item_name]
            scores.append(None if item.score is None else round(item.score, 1))
            affected.append(None if item.affected is None else round(item.affected, 1))
            unreadable.append(item.unreadable or None)
        found[item_name] = {
            "photo": path,
            "side": ("right", "left")[side],
            "raw": scores,
            "closure": affected,
            "not_readable": unreadable,  # face/readability.py: a closure the mesh did not follow
            "falls": _lowers(scores),
        }
    return found


def _graded(image: np.ndarray, side: str):
    result, _, _ = image_asymmetry(image, views=JITTER, expression="rest")
    return grade({"rest": result.millimetres()}, side)


def _falls(values: list) -> bool:
    """Lower at every step."""
    return all(a is not None and b is not None and b < a for a, b in zip(values, values[1:]))


def _lowers(values: list) -> bool:
    """Graded at every step, never higher than the step before, and lower at the end (a capped item may hold at 100
    for the first step)."""
    return None not in values and all(b <= a for a, b in zip(values, values[1:])) and values[-1] < values[0]


def retest(rows: list[dict], photos: dict, smile_readings: dict[str, float], qualities: dict) -> dict:
    """MDC95 per item (and per basis: a smile photo alone, graded from its smile reading), of the total and of the
    smile reading, from KDEF's sessions A and B; each side graded as the affected one in turn. And the faces' median
    eye distance in pixels, the size these MDC95 hold at (``readability.REFERENCE_EYE_DISTANCE_PX``)."""
    kdef = [r for r in rows if r["source"] == "KDEF"]
    grouped = exams(kdef, photos)
    reading = _extras(kdef, smile_readings, qualities)
    differences: dict[str, list[float]] = defaultdict(list)
    for (source, subject, session), first in grouped.items():
        second = grouped.get((source, subject, "B")) if session == "A" else None
        if second is None:
            continue
        for side in ("right", "left"):
            pairs = [(grade(first, side), grade(second, side))]
            if "smile" in first and "smile" in second:
                taken = [reading[(source, subject, retake)][1] for retake in ("A", "B")]
                alone = [grade({"smile": e["smile"]}, side, smile_reading=r) for e, r in zip((first, second), taken)]
                pairs.append((alone[0], alone[1]))
            for a, b in pairs:
                for name, item in a.items.items():
                    other = b.items[name]
                    if item.score is not None and other.score is not None and item.basis == other.basis:
                        differences[retest_key(name, item.basis)].append(other.score - item.score)
            a, b = pairs[0]
            if a.total is not None and b.total is not None and a.measured == b.measured:
                differences["total"].append(b.total - a.total)
    smiles = {(r["subject"], r["session"]): smile_readings[r["path"]] for r in kdef if r["path"] in smile_readings}
    differences["smile_reading"] = [
        smiles[(s, "B")] - v for (s, session), v in smiles.items() if session == "A" and (s, "B") in smiles
    ]
    return {
        "method": "KDEF sessions A and B of each person (real retakes), each side graded as the affected one: "
        "MDC95 = 1.96 × SD of the differences (items and total in points; the smile reading, the smile photo's "
        "mouth-region score, in units of healthy spread)",
        "eye_distance_px": _median_eye_distance(kdef, qualities),
        "pairs": {name: len(v) for name, v in differences.items()},
        "mdc95": {name: round(1.96 * float(np.std(v, ddof=1)), 2) for name, v in differences.items() if len(v) > 2},
    }


def _median_eye_distance(rows: list[dict], qualities: dict) -> float:
    return round(float(np.median([qualities[r["path"]].eye_distance_px for r in rows if r["path"] in qualities])), 1)


def timing(folder: Path, rows: list[dict]) -> float:
    """Seconds to measure and grade one 7-photo exam, after a first exam loaded the face models."""
    kdef = [r for r in rows if r["source"] == "KDEF" and r["subject"] == rows[0]["subject"] and r["session"] == "A"]
    pick = {r["exam_expression"]: r["path"] for r in kdef}
    names = ("rest", "brow_raise", "eye_closure_gentle", "eye_closure_full", "smile", "pucker", "lip_depression")
    with tempfile.TemporaryDirectory() as scratch:  # copies, deleted at once: the photos never enter the project
        for name in names:
            source = pick.get(name, pick["rest"])
            shutil.copy(folder / source, Path(scratch) / f"{name}{Path(source).suffix}")
        norms = load_norms()
        measure_exam(scratch, norms)
        started = time.perf_counter()
        measure_exam(scratch, norms)
        return round(time.perf_counter() - started, 2)


def _spread(values: np.ndarray) -> dict:
    if len(values) == 0:
        return {}
    return {
        "n": int(len(values)),
        "min": round(float(values.min()), 3),
        "p5": round(float(np.percentile(values, 5)), 3),
        "median": round(float(np.median(values)), 3),
        "max": round(float(values.max()), 3),
    }


if __name__ == "__main__":
    main()
