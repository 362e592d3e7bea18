"""The clinical exam: one person's expressions (a folder of photos, or a video), region by region and side by side.

Clinicians grade facial palsy per region across a set of voluntary expressions (House–Brackmann,
Sunnybrook, eFACE). An exam takes whatever a clinic has: photos named by expression (any subset of
EXPRESSIONS; a CSV can map other file names), or one video, in which the frame nearest to rest and
each region's frame of largest movement are found automatically.

Per region (brow, eye, mid-face, mouth) and side, with every length in inter-ocular distances in
the eye-aligned frame (see ``asymmetry``) and the landmark indices in SIDE_POINTS:

- *resting asymmetry*: the rest photo read against the healthy reference ranges (``norms``);
- *movement* per side: how far the region's measure moves from rest in the region's expression
  (MOVEMENT: brow height in brow_raise, eye opening in eye closure, nose-to-mouth-corner distance
  in snarl, mouth-corner displacement in smile);
- *symmetry of movement*: the weaker side's movement as a percentage of the stronger side's,
  0–100 (100: both sides move alike), eFACE-like;
- *synkinesis hint*: one eye narrowing by SYNKINESIS_NARROWING more than the other during smile or
  pucker (eye opening relative to rest);
- a region is ``outside_healthy_range`` when any of its photos reads outside the healthy range
  there; the weaker side is named only then.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from facepalsy.data.exam_names import expression_photos, moving_rest, unmoved
from facepalsy.data.images import load_image
from facepalsy.data.prepare import VIDEO_EXTENSIONS
from facepalsy.errors import BadImageError, FacepalsyError
from facepalsy.face.asymmetry import draw, image_asymmetry
from facepalsy.face.detect import MESH_SIDE
from facepalsy.face.exam_result import Exam, ExamRegion
from facepalsy.face.expression import EXPRESSIONS
from facepalsy.face.grade import grade
from facepalsy.face.millimetres import IRIS_MM, OTHER_SIDE, draw_millimetres
from facepalsy.face.norms import REGIONS, Norms
from facepalsy.face.pattern import exam_pattern
from facepalsy.files import atomic_write_json, atomic_write_text
from facepalsy.plots import plot_exam_regions, plot_grade, plot_region_timeline
from facepalsy.runfolder import ExamFolder
from facepalsy.workflows.exam_measures import MOVEMENT, Measured, _movement, measure_named, symmetry_percent
from facepalsy.workflows.exam_video import PEAK_NAMES, exam_video

MOVED_MORE = 0.10  # a side read as weaker that moved this much more than the other: position and movement disagree
SYNKINESIS_NARROWING = 0.20  # one eye closes this much more (share of its resting opening) than the other
SYNKINESIS_EXPRESSIONS = ("smile", "pucker")


def _exam_regions(measured: dict[str, Measured]) -> dict[str, ExamRegion]:
    """Per region: the resting reading, movement per side, symmetry of movement, flags, weaker side."""
    rest = measured.get("rest")
    regions = {}
    for region, (expressions, value) in MOVEMENT.items():
        used = next((e for e in expressions if e in measured), None)
        readings = {name: m.asymmetry.reference.regions.get(region) for name, m in measured.items()}
        flagged = {name: r for name, r in readings.items() if r and r.outside_healthy_range and name in ("rest", used)}
        sides = {r.weaker_side for r in flagged.values()}
        moved, note = None, None
        if rest is not None and used is not None:
            moved = _movement(rest.values, measured[used].values, value)
        elif used is None:
            note = f"no {' or '.join(expressions)} photo: movement not measured"
        else:
            note = "no rest photo: movement not measured"
        weaker = (sides.pop() if len(sides) == 1 else "both") if flagged else None
        if weaker in ("right", "left") and moved and moved[weaker] > moved[OTHER_SIDE[weaker]] * (1 + MOVED_MORE):
            note = (
                f"the position reads the patient's {weaker} as weaker, but it moved more "
                f"({moved[weaker]:.2f} against {moved[OTHER_SIDE[weaker]]:.2f}): no weaker side named"
            )
            weaker = "unclear"
        regions[region] = ExamRegion(
            measures=list(REGIONS[region]),
            rest=readings.get("rest"),
            expression=used,
            movement={side: round(v, 4) for side, v in moved.items()} if moved else None,
            symmetry_percent=symmetry_percent(moved) if moved else None,
            outside_healthy_range=bool(flagged),
            weaker_side=weaker,
            flagged_in=sorted(flagged),
            note=note,
        )
    return regions


def _synkinesis_hint(measured: dict[str, Measured]) -> dict | None:
    """An eye that narrows clearly more than the other during smile or pucker (relative to its resting opening)."""
    rest = measured.get("rest")
    if rest is None:
        return None
    for expression in SYNKINESIS_EXPRESSIONS:
        if expression not in measured:
            continue
        narrowing = {
            side: 1.0 - measured[expression].values[side]["eye_opening"] / max(rest.values[side]["eye_opening"], 1e-6)
            for side in ("right", "left")
        }
        side = max(narrowing, key=narrowing.get)
        other = "left" if side == "right" else "right"
        if narrowing[side] - narrowing[other] > SYNKINESIS_NARROWING:
            return {"expression": expression, "side": side, "narrowing": {s: round(v, 3) for s, v in narrowing.items()}}
    return None


def _smile_reading(measured: dict[str, Measured]) -> float | None:
    """The smile photo's mouth region against healthy smiles (None without a smile, or turned too far to read)."""
    smile = measured.get("smile")
    regions = smile.asymmetry.reference.regions if smile and smile.asymmetry.reference else {}
    return regions["mouth"].score if "mouth" in regions else None


def make_exam(person: str, measured: dict[str, Measured], kind: str, iris_mm: float = IRIS_MM, **extra) -> Exam:
    """The exam from its measured expressions: regions, the top-level flag, what was measured and what is missing,
    the palsy pattern and the eFACE-style grade (its mm scale from an iris of ``iris_mm``). ``extra``: Exam's fields
    for photos (no_face, unnamed_files) or a video (video)."""
    regions = _exam_regions(measured)
    outside = any(r.outside_healthy_range for r in regions.values())
    sides = {r.weaker_side for r in regions.values() if r.weaker_side in ("right", "left", "both")}
    side = (sides.pop() if len(sides) == 1 else "both") if sides else None
    readings = {name: m.asymmetry.reference for name, m in measured.items()}
    photos = {name: m.asymmetry.millimetres(iris_mm) for name, m in measured.items()}
    qualities = {name: m.quality for name, m in measured.items() if m.quality is not None}
    return Exam(
        person=person,
        kind=kind,
        expressions={name: m.source for name, m in measured.items()},
        missing=[e for e in EXPRESSIONS if e not in measured],
        regions=regions,
        outside_healthy_range=outside,
        more_affected_side=side,
        readings=readings,
        recognised_expressions={
            name: m.asymmetry.expression for name, m in measured.items() if not m.asymmetry.expression_named
        },
        synkinesis_hint=_synkinesis_hint(measured),
        palsy_pattern=exam_pattern(regions, readings, outside, side),
        grade=grade(photos, side, qualities=qualities, smile_reading=_smile_reading(measured)),
        **extra,
    )


def exam_photos(
    folder: Path, norms: Norms, names: dict[str, str] | None = None
) -> tuple[dict[str, Measured], dict[str, str], list[str], dict[str, str], list[str]]:
    """Measure each expression photo: the measured ones, those without a usable face (with the reason), unnamed
    files, photos named rest whose face moves (named: recognised; left out) and photos named as a movement whose face
    looks at rest (kept)."""
    photos, unknown = expression_photos(folder, names)
    if not photos:
        raise FacepalsyError(
            f"{folder}: no photo named by an expression ({', '.join(EXPRESSIONS)}; or map names with --names MAP.csv)"
        )
    measured, failed, mismatched, still = {}, {}, {}, []
    for expression in EXPRESSIONS:
        if expression not in photos:
            continue
        try:
            rgb = np.asarray(load_image(photos[expression], MESH_SIDE))
            result = image_asymmetry(rgb, photos[expression].name)[0]
        except BadImageError as exc:
            failed[expression] = exc.reason
            continue
        if moving_rest(expression, result.expression):
            mismatched[expression] = result.expression
            continue
        if unmoved(expression, result.expression):
            still.append(expression)
        measured[expression] = measure_named(photos[expression].name, rgb, result, expression, norms)
    return measured, failed, unknown, mismatched, still


def measure_exam(
    path: str | Path,
    norms: Norms,
    names: dict[str, str] | None = None,
    fps: float = 6.0,
    predictor=None,
    iris_mm: float = IRIS_MM,
    person: str | None = None,
) -> tuple[Exam, dict[str, Measured], dict | None]:
    """The exam of one person (a folder of expression photos, or a video), measured and read, nothing written: the
    exam, its measured expressions and, for a video, what :func:`exam_video` found (else None). ``person``: how
    the exam is titled (default: the path)."""
    person = person or str(path)
    path = Path(path)
    if path.is_dir():
        measured, failed, unknown, mismatched, still = exam_photos(path, norms, names)
        if not measured:
            reasons = [f"{e}: {r}" for e, r in failed.items()] + [f"{e}: looks like {r}" for e, r in mismatched.items()]
            raise FacepalsyError(
                f"{path}: no expression photo with a usable face that shows its expression ({'; '.join(reasons)})"
            )
        extra = {"no_face": failed, "unnamed_files": unknown, "mismatched": mismatched, "unmoved": still}
        return make_exam(person, measured, "photos", iris_mm, **extra), measured, None
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        measured, video = exam_video(path, norms, fps, frames_for=predictor)
        summary = {k: v for k, v in video.items() if k not in ("timeline", "cnn_frames")}
        return make_exam(person, measured, "video", iris_mm, video=summary), measured, video
    raise FacepalsyError(
        f"{path}: give a folder of expression photos or a video ({', '.join(sorted(VIDEO_EXTENSIONS))})"
    )


def run_exam(path: str | Path, out: str | Path, norms: Norms, predictor=None, **options) -> Exam:
    """The whole exam of one person (:func:`measure_exam`, which takes ``options``: names, fps, iris_mm, person),
    written: ``out/exam.json``, ``exam.md``, ``regions.png``, ``grade.png``, a landmark and an mm drawing per
    expression and, for a video, the timeline (with ``predictor``, the network's too)."""
    path, folder = Path(path), ExamFolder(out)
    exam, measured, video = measure_exam(path, norms, predictor=predictor, **options)
    folder.path.mkdir(parents=True, exist_ok=True)
    pictures = {"movement per side": folder.chart.name}
    if video is not None:
        cnn = None
        if predictor is not None:
            verdict = predictor.video_verdict(path, video["cnn_frames"], folder.path / "cnn")
            cnn = folder.path / "cnn" / "frames.csv" if verdict.error is None else None
            exam.cnn = verdict.to_dict()
        plot_region_timeline(
            video["timeline"],
            folder.timeline,
            _read_cnn_frames(cnn),
            title=f"{_titled(exam)}: regions against the healthy range",
        )
        pictures["regions over time"] = folder.timeline.name
        for region, peak in exam.video["peaks"].items():
            if peak["expression"] is None:  # not made: nothing to draw
                continue
            frame = measured[PEAK_NAMES[region]]
            draw(
                frame.crop,
                frame.landmarks,
                frame.asymmetry,
                folder.peak(region),
                exam.drawing_verdict(PEAK_NAMES[region]),
            )
            peak["picture"] = pictures[f"{region} peak"] = folder.peak(region).name
        exam.video["timeline"] = folder.timeline.name
    for name, m in measured.items():
        draw(m.crop, m.landmarks, m.asymmetry, folder.drawing(name), exam.drawing_verdict(name))
        draw_millimetres(m.crop, m.landmarks, exam.grade.photos[name], folder.distances(name))
        pictures[name], pictures[f"{name} in mm"] = folder.drawing(name).name, folder.distances(name).name
    plot_exam_regions(
        [name.replace("_", " ") for name in exam.regions],
        [(r.movement or {}).get("right", 0.0) for r in exam.regions.values()],
        [(r.movement or {}).get("left", 0.0) for r in exam.regions.values()],
        [r.expression or "not measured" for r in exam.regions.values()],
        [r.outside_healthy_range for r in exam.regions.values()],
        folder.chart,
        title=f"{_titled(exam)}: movement per side",
    )
    items = list(exam.grade.items.values())
    plot_grade(
        [i.name for i in items], [i.score for i in items], [i.kind for i in items], folder.grade_chart, _titled(exam)
    )
    pictures["eFACE-style grade"] = folder.grade_chart.name
    exam.pictures = pictures
    atomic_write_json(folder.document, exam.to_dict(), private=True)  # a patient's data, as the record database
    atomic_write_text(folder.report, exam.markdown(), private=True)
    return exam


def _read_cnn_frames(path: Path | None) -> tuple[list[float], list[float]] | None:
    if path is None or not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [float(r["frame_time"]) for r in rows], [float(r["prob_palsy"]) for r in rows]


def _titled(exam: Exam) -> str:
    """The exam's name on its charts: its person (the page gives a title, the CLI the path), never a temporary
    folder's name."""
    return Path(exam.person).name or exam.person
