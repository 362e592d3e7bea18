"""Training the landmark model: fitted on the training and validation faces, its threshold and temperature to be
chosen on their cross-fitted out-of-fold probabilities; ``train.fit_split`` saves it and tests it like any run."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from facepalsy.config import Config
from facepalsy.data.dataset import Sample

if TYPE_CHECKING:  # the landmark model imports MediaPipe: only landmark runs load it
    from facepalsy.models.baseline import AsymmetryClassifier


def fit_landmarks(
    config: Config, images: np.ndarray, samples: list[Sample], assignment: list[str], progress: bool
) -> tuple[AsymmetryClassifier, tuple[np.ndarray, np.ndarray, list[str]] | None, tuple[str, ...]]:
    """The fitted landmark model (``AsymmetryClassifier``), what its threshold and temperature are to be chosen on
    (labels, cross-fitted out-of-fold probabilities and subjects, ``AsymmetryClassifier.out_of_fold``; None: the
    validation images, when there are too few subjects to cross-fit), and the report's notes on both."""
    from facepalsy.models.baseline import (  # MediaPipe: landmark runs only
        CROSS_FIT_FOLDS,
        AsymmetryClassifier,
        features,
        orbit_readings,
    )

    parts = np.array(assignment)
    fitting = parts != "test"
    labels = np.array([s.label for s in samples])[fitting]
    subjects = np.array([s.subject for s in samples])[fitting]
    sources = np.array([s.source for s in samples])[fitting]
    every = features(images, progress)  # the test faces too: their reasons are counted below
    orbits = orbit_readings(images)  # read with the features: the eye rules' readings
    x = every[fitting]
    twins = None
    if config.twins:  # drawn from the healthy faces that fit, never from the test part
        healthy = np.flatnonzero(fitting)[labels == 0]
        twins = twin_rows(images[healthy], subjects[labels == 0], sources[labels == 0], config.seed, progress)
    real = len(x)
    grown = _with_twins(twins, x, labels, subjects, sources, orbits[fitting])
    # a face the eye rules refuse a verdict plays no part in choosing the threshold either
    out_of_fold = AsymmetryClassifier.out_of_fold(
        grown.x, grown.labels, grown.subjects, grown.sources, config.seed, grown.orbits
    )
    if out_of_fold is None:  # too few subjects: fit on the training part and choose on the validation part
        train = parts[fitting] == "train"
        kept = np.concatenate([train, np.isin(grown.subjects[real:], subjects[train])])  # twins of training faces only
        classifier = AsymmetryClassifier.fit(
            grown.x[kept], grown.labels[kept], config.seed, sources=grown.sources[kept]
        )
        chosen_on, notes = None, ()
    else:
        classifier = AsymmetryClassifier.fit(grown.x, grown.labels, seed=config.seed, sources=grown.sources)
        # the threshold and temperature are chosen on the real faces alone: a twin is for learning, not for measuring
        chosen_on = (labels, out_of_fold[:real], list(subjects))
        notes = (
            f"Landmark model: fitted on the training and validation faces together; its threshold and temperature "
            f"were chosen on their out-of-fold probabilities ({CROSS_FIT_FOLDS}-fold by subject), not on a "
            "validation part alone. The test faces played no part.",
        )
    if twins is not None:
        notes = (*notes, twins_note(twins))
    reasons = classifier.reasons(every, orbits)
    unmeasured = int(np.isnan(every).any(axis=1).sum())
    unread = sum(bool(r) for r in reasons) - unmeasured
    notes = (
        *notes,
        f"Landmark model: of the {len(images)} faces found, the mesh could not be measured on {unmeasured} and "
        f"{unread} could not be read reliably (the reason is given per image when predicting); none of them "
        "gets a verdict.",
    )
    return classifier, chosen_on, notes


@dataclass(frozen=True)
class TwinRows:
    """Feature rows of the palsied twins of healthy training faces (``data/twins.py``) and of the healthy originals
    that were degraded with them, ready to stack under the real rows; or (``_with_twins``) the stacked rows a landmark
    model is fitted on."""

    x: np.ndarray  # feature rows (``baseline.features``)
    labels: np.ndarray  # 1 for a twin, 0 for a degraded original
    subjects: np.ndarray  # the original's subject: a twin and its original fall on one side of every split
    sources: np.ndarray  # side_differences.TWINS_SOURCE for a twin, the original's source for a degraded original
    orbits: np.ndarray  # ``baseline.orbit_readings`` of each row's image
    plans: tuple  # the twins' ``TwinPlan``s, in the order of the twin rows


TWIN_CACHE_LIMIT = 20_000  # healthy faces whose twin rows are kept (as baseline.CACHE_LIMIT): cv measures each once
# (image hash, seed) → the rows one healthy face gives, (feature row, orbit readings, label) per image drawn (the twin,
# then its degraded original), and its plan. The face's own mesh is not kept after measuring it (baseline keeps the
# last READINGS_LIMIT), so without this every fold would measure each original again only to find where to draw.
_twins: OrderedDict[tuple[str, int], tuple[list[tuple[np.ndarray, np.ndarray, int]], object]] = OrderedDict()


def twin_rows(
    images: np.ndarray, subjects: np.ndarray, sources: np.ndarray, seed: int, progress: bool = False
) -> TwinRows:
    """The twins of healthy CHW uint8 face crops (each drawn from its bytes and ``seed``, so a fold reuses the twin
    another fold measured); faces the mesh could not measure get none."""
    from facepalsy.log import progress_bar
    from facepalsy.models.baseline import row_length
    from facepalsy.models.side_differences import TWINS_SOURCE

    x, orbits, labels, whose, where, plans = [], [], [], [], [], []
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task(f"drawing and measuring the twins of {len(images)} healthy faces", total=len(images))
        for image, subject, source in zip(images, subjects, sources):
            entries, plan = _twin_entries(image, seed)
            for row, orbit, label in entries:
                x.append(row)
                orbits.append(orbit)
                labels.append(label)
                whose.append(subject)
                where.append(TWINS_SOURCE if label == 1 else source)
            if plan is not None:
                plans.append(plan)
            bar.advance(task)
    return TwinRows(
        np.array(x, dtype=np.float64).reshape(len(x), row_length()),
        np.array(labels, int),
        np.array(whose),
        np.array(where),
        np.array(orbits, dtype=np.float64).reshape(len(orbits), 3),
        tuple(plans),
    )


def _twin_entries(image: np.ndarray, seed: int) -> tuple[list[tuple[np.ndarray, np.ndarray, int]], object]:
    """One healthy face's twin rows (and its original's, degraded alike, where the plan degrades the pair), measured
    once per process and seed."""
    import hashlib

    from facepalsy.data.twins import plan_twin, twin_pair
    from facepalsy.models.baseline import image_features, measured, orbit_readings

    key = (hashlib.sha1(image.tobytes()).hexdigest(), seed)
    if key in _twins:
        _twins.move_to_end(key)
        return _twins[key]
    result = measured(image)
    if result is None or result.face is None or result.face.landmarks is None:
        found: tuple = ([], None)
    else:
        plan = plan_twin(image, seed)
        original, twin = twin_pair(image.transpose(1, 2, 0), result.face.landmarks, plan, result.expression)
        drawn = [(twin, 1)] + ([(original, 0)] if plan.pixels else [])
        entries = []
        for picture, label in drawn:
            chw = np.ascontiguousarray(picture.transpose(2, 0, 1))
            entries.append((image_features(chw), orbit_readings(chw[None])[0], label))
        found = (entries, plan)
    if len(_twins) >= TWIN_CACHE_LIMIT:
        _twins.popitem(last=False)
    _twins[key] = found
    return found


def _with_twins(
    twins: TwinRows | None, x: np.ndarray, labels: np.ndarray, subjects: np.ndarray, sources: np.ndarray, orbits
) -> TwinRows:
    """The real rows with the twin rows stacked under them (the real ones first, in their order)."""
    if twins is None or not len(twins.x):
        return TwinRows(x, labels, subjects, sources, orbits, ())
    return TwinRows(
        np.vstack([x, twins.x]),
        np.concatenate([labels, twins.labels]),
        np.concatenate([subjects, twins.subjects]),
        np.concatenate([sources, twins.sources]),
        np.vstack([orbits, twins.orbits]),
        twins.plans,
    )


def twins_note(twins: TwinRows) -> str:
    """What the run's report says of the twins it trained on."""
    from facepalsy.data.twins import BROW_MM, MOUTH_MM

    kinds = {kind: sum(p.kind == kind for p in twins.plans) for kind in ("central", "peripheral")}
    degraded = sum(bool(p.pixels) for p in twins.plans)
    return (
        f"Landmark model: trained also on {len(twins.plans)} palsied twins of its healthy training faces "
        f"({kinds['central']} central: one mouth corner {MOUTH_MM[0]:g}–{MOUTH_MM[1]:g} mm lower, lagging on a smile; "
        f"{kinds['peripheral']} peripheral: that corner, the brow {BROW_MM[0]:g}–{BROW_MM[1]:g} mm lower and the eye "
        f"wider on the same side), {degraded} of them with their originals brought down to news-photo resolution "
        "and JPEG quality. The twins play no part in choosing the threshold or the temperature, nor in any figure."
    )
