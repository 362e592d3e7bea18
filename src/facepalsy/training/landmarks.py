"""Training the landmark model: fitted on the training and validation faces, its threshold and temperature to be
chosen on their cross-fitted out-of-fold probabilities; ``train.fit_split`` saves it and tests it like any run."""

from __future__ import annotations

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
    # a face the eye rules refuse a verdict plays no part in choosing the threshold either
    out_of_fold = AsymmetryClassifier.out_of_fold(x, labels, subjects, sources, config.seed, orbits[fitting])
    if out_of_fold is None:  # too few subjects: fit on the training part and choose on the validation part
        kept = parts[fitting] == "train"
        classifier = AsymmetryClassifier.fit(x[kept], labels[kept], seed=config.seed, sources=sources[kept])
        chosen_on, notes = None, ()
    else:
        classifier = AsymmetryClassifier.fit(x, labels, seed=config.seed, sources=sources)
        chosen_on = (labels, out_of_fold, list(subjects))
        notes = (
            f"Landmark model: fitted on the training and validation faces together; its threshold and temperature "
            f"were chosen on their out-of-fold probabilities ({CROSS_FIT_FOLDS}-fold by subject), not on a "
            "validation part alone. The test faces played no part.",
        )
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
