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
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facepalsy.data.exam_names import expression_photos, moving_rest, unmoved
from facepalsy.data.images import load_image
from facepalsy.data.prepare import VIDEO_EXTENSIONS, read_ahead, video_frames
from facepalsy.errors import BadImageError, FacepalsyError
from facepalsy.face.asymmetry import Asymmetry, aligned_crop, draw, found_asymmetry, image_asymmetry
from facepalsy.face.detect import LEFT_EYE_RING, MESH_SIDE, RIGHT_EYE_RING, largest_face
from facepalsy.face.exam_result import Exam, ExamRegion
from facepalsy.face.expression import EXPRESSIONS, expression_measures, made_from_rest
from facepalsy.face.grade import grade
from facepalsy.face.millimetres import IRIS_MM, OTHER_SIDE, draw_millimetres
from facepalsy.face.norms import REGIONS, Norms
from facepalsy.face.pattern import exam_pattern
from facepalsy.face.photo_reading import read_found
from facepalsy.face.tracking import FaceTracker
from facepalsy.files import atomic_write_json, atomic_write_text
from facepalsy.inference.prediction import VideoFrames
from facepalsy.plots import plot_exam_regions, plot_grade, plot_region_timeline
from facepalsy.runfolder import ExamFolder

# Per region: the expressions that move it (the first present is used) and the per-side value that moves.
MOVEMENT = {
    "brow": (("brow_raise",), "brow_height"),
    "eye": (("eye_closure_full", "eye_closure_gentle"), "eye_opening"),
    "mid_face": (("snarl", "smile"), "nasolabial_length"),
    "mouth": (("smile", "lip_depression", "pucker"), "mouth_corner"),
}
# Face-mesh indices per side (patient's right, left) of the per-side values.
SIDE_POINTS = {
    "brow": ([70, 63, 105, 66, 107], [300, 293, 334, 296, 336]),
    "upper_lid": (159, 386),
    "lower_lid": (145, 374),
    "mouth_corner": (61, 291),
    "nose_ala": (98, 327),
}
MOVED_MORE = 0.10  # a side read as weaker that moved this much more than the other: position and movement disagree
SYNKINESIS_NARROWING = 0.20  # one eye closes this much more (share of its resting opening) than the other
SYNKINESIS_EXPRESSIONS = ("smile", "pucker")


def _side_values(mesh: np.ndarray) -> dict[str, dict[str, np.ndarray | float]]:
    """Per side, from a 468×2 eye-frame mesh: brow height, eye opening, nose-to-mouth-corner length, mouth corner
    position."""
    eye_rings = (RIGHT_EYE_RING, LEFT_EYE_RING)
    values = {}
    for side, name in ((0, "right"), (1, "left")):
        eye_y = mesh[eye_rings[side]][:, 1].mean()
        corner = mesh[SIDE_POINTS["mouth_corner"][side]]
        values[name] = {
            "brow_height": float(eye_y - mesh[SIDE_POINTS["brow"][side]][:, 1].mean()),
            "eye_opening": float(mesh[SIDE_POINTS["lower_lid"][side]][1] - mesh[SIDE_POINTS["upper_lid"][side]][1]),
            "nasolabial_length": float(np.hypot(*(mesh[SIDE_POINTS["nose_ala"][side]] - corner))),
            "mouth_corner": corner.copy(),
        }
    return values


def _movement(rest: dict, expression: dict, value: str) -> dict[str, float]:
    """How far each side's value moved from rest (absolute; a displacement length for the mouth corner)."""
    if value == "mouth_corner":
        return {side: float(np.hypot(*(expression[side][value] - rest[side][value]))) for side in ("right", "left")}
    return {side: float(abs(expression[side][value] - rest[side][value])) for side in ("right", "left")}


def symmetry_percent(moved: dict[str, float]) -> float | None:
    """The weaker side's movement as a percentage of the stronger side's (None when neither moved)."""
    strongest = max(moved.values())
    return None if strongest < 1e-6 else round(100.0 * min(moved.values()) / strongest, 1)


@dataclass
class Measured:
    """One expression of the exam: a photo or a video frame, measured."""

    source: str
    asymmetry: Asymmetry  # compared against the norms
    values: dict  # side_values of its mesh
    crop: np.ndarray | None = None
    landmarks: np.ndarray | None = None


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
        grade=grade(photos, side),
        **extra,
    )


PEAK_NAMES = {
    "brow": "brow_raise",
    "eye": "eye_closure_full",
    "mid_face": "snarl",
    "mouth": "smile",
}  # a video's peak frame stands for, where it is recognised as that expression
PEAK_WINDOW = 0.25  # seconds either side of a peak (its neighbours at 6 fps) whose frames give its confidence


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


def measure_named(source: str, rgb: np.ndarray, found: Asymmetry, expression: str, norms: Norms) -> Measured:
    """A photo or a frame as the exam takes it: the photo's one reading (``face/photo_reading.py``, the same every
    surface shows) of its face (``found``, measured once), named ``expression``, with its aligned face for the
    drawings.

    Every photo of an exam is measured alike, on all of JITTER's views: its movements are differences between photos,
    which a mix of measures would bias."""
    photo = read_found(rgb, found, source, norms, expression)
    return Measured(source, photo.asymmetry, _side_values(photo.asymmetry.mesh), photo.crop, photo.landmarks)


def exam_video(
    path: Path, norms: Norms, fps: float = 6.0, frames_for=None, track: bool = True
) -> tuple[dict[str, Measured], dict]:
    """Measure a video's frames; rest is the frame nearest the median face, each region's peak the frame it moves most
    in.

    Returns the measured rest and peak frames (named by PEAK_NAMES) and the timeline: per frame its
    time, whether a face was measured and each region's score against the healthy range. With
    ``frames_for`` (a Predictor), the same decoded frames are prepared for its network too, into
    ``video["cnn_frames"]``, so a video is decoded once for both, and each frame's face, found once, serves both.
    Frames are decoded on a thread while the last ones are measured. With ``track`` the face is followed from frame
    to frame (:class:`~facepalsy.face.tracking.FaceTracker`) and the whole frame searched only when it is lost;
    ``track=False`` searches every frame (the benchmark's yardstick for the verdicts).
    """
    frames: list[tuple[float, Measured | None, np.ndarray]] = []
    cnn_frames = VideoFrames()
    with FaceTracker() as tracker:
        for time, bgr in read_ahead(video_frames(path, fps)):
            rgb, source = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), f"{path.name} at {time:.2f} s"
            try:
                face = tracker.find(rgb, source) if track else largest_face(rgb, source, backend="mediapipe")
            except BadImageError:
                face = None  # no usable face: the network's own policy decides what such a frame gets
            if frames_for is not None:
                cnn_frames.add(frames_for, time, rgb, source, face=face)
            if face is None:
                frames.append((time, None, rgb))
                continue
            result = found_asymmetry(face).compare(norms)  # one pass per frame: the frames are many
            frames.append((time, Measured(source, result, _side_values(result.mesh)), rgb))
    usable = [(t, m) for t, m, _ in frames if m is not None and not m.asymmetry.turned]
    if not usable:
        raise FacepalsyError(f"{path}: no frame with a usable, frontal face in {len(frames)} frames")
    keys = ("brow_height", "eye_opening", "nasolabial_length")
    table = np.array(
        [
            [m.values[s][k] for s in ("right", "left") for k in keys]
            + list(m.values["right"]["mouth_corner"])
            + list(m.values["left"]["mouth_corner"])
            for _, m in usable
        ]
    )
    centre, spread = np.median(table, axis=0), table.std(axis=0) + 1e-6
    rest_index = int(np.argmin((((table - centre) / spread) ** 2).sum(axis=1)))
    rest = usable[rest_index][1]
    measured = {"rest": rest}
    peaks = {}
    for region, (_, value) in MOVEMENT.items():
        moved = [sum(_movement(rest.values, m.values, value).values()) for _, m in usable]
        best = int(np.argmax(moved))
        expression, confidence = _made(usable, rest, best, PEAK_NAMES[region])
        if expression:
            measured[expression] = usable[best][1]
        peaks[region] = {
            "time": round(usable[best][0], 3),
            "movement": round(moved[best], 4),
            "expression": expression,  # None: the region's largest movement was not that expression (not made)
            "confidence": confidence,
        }
    timeline = {
        "time": [round(t, 3) for t, _, _ in frames],
        "face": [m is not None for _, m, _ in frames],
        "regions": {
            region: [
                m.asymmetry.reference.regions[region].score if m is not None and m.asymmetry.reference.regions else None
                for _, m, _ in frames
            ]
            for region in REGIONS
        },
    }
    for _, frame, rgb in frames:  # the chosen frames are drawn: their faces aligned
        if frame is not None and frame.crop is None and any(frame is m for m in measured.values()):
            frame.crop, frame.landmarks = aligned_crop(rgb, frame.asymmetry.face)
    return measured, {
        "rest_time": round(usable[rest_index][0], 3),
        "peaks": peaks,
        "timeline": timeline,
        "frames": len(frames),
        "frames_measured": len(usable),
        "face_searches": tracker.detections if track else len(frames),
        "cnn_frames": cnn_frames,
    }


def _made(usable: list[tuple[float, Measured]], rest: Measured, best: int, expression: str) -> tuple[str | None, float]:
    """Whether a region's peak frame shows the expression it stands for (PEAK_NAMES), judged against the same
    person's rest frame (``expression.made_from_rest``: a palsied smile still counts), and the confidence: the share
    of the measured frames within PEAK_WINDOW seconds of the peak that show it. A brow raise also moves the eyes and
    the mid-face; only a frame with a closed eye is an eye closure, so an expression never made is missing, in the
    exam as in the grade."""
    before = _expression_measures(rest)
    shows = [made_from_rest(before, _expression_measures(m), expression) for _, m in usable]
    near = [shown for (t, _), shown in zip(usable, shows) if abs(t - usable[best][0]) <= PEAK_WINDOW]
    return (expression if shows[best] else None), round(sum(near) / len(near), 2)


def _expression_measures(frame: Measured) -> dict[str, float]:
    """The expression rules' distances of a frame's frontal mesh, scaled by its irises as ``recognise`` reads them."""
    return expression_measures(np.vstack([frame.asymmetry.mesh, frame.asymmetry.iris]))


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
