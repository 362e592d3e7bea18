"""The figures of ``facepalsy bench`` beyond one backbone's speed: the feature bank shared by cross-validation
folds, the landmark measurement against the algorithm it replaced, and video analysis in real time."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from facepalsy.bench.figures import LandmarkFigures, SharedFeatureFigures
from facepalsy.bench.timing import face_photo, timed
from facepalsy.config import Config


def bench_shared_features(
    backbone: str = "vgg16",
    size: int = 224,
    subjects: int = 24,
    images_per_subject: int = 6,
    views: int = 4,
    epochs: int = 10,
) -> SharedFeatureFigures:
    """Leave-one-subject-out over ``subjects`` subjects with a frozen backbone and ``--feature-cache views``: the whole
    cross-validation (features shared by the folds, no per-fold details) against one of its folds trained alone as
    ``train`` would (decode, shortcut audit, fit, every figure and interval). Wall time and backbone passes, at the
    method's 224 px."""
    from facepalsy.data.dataset import load_images, scan_dataset
    from facepalsy.data.synth import make_synthetic_dataset
    from facepalsy.evaluation.audit import audit
    from facepalsy.runfolder import RunFolder
    from facepalsy.training import features
    from facepalsy.training.cv import fold_assignments, run_cv
    from facepalsy.training.train import fit_split, forget_model_to_train, model_to_train

    with tempfile.TemporaryDirectory() as tmp:
        data = make_synthetic_dataset(
            Path(tmp) / "data",
            subjects=subjects,
            images_per_subject=images_per_subject,
            seed=7,
            size=size,
            progress=False,
        )
        config = Config(
            data=str(data),
            backbone=backbone,
            weights="none",
            image_size=size,
            epochs=epochs,
            feature_cache=views,
            face_required=False,
        )
        features.forget_banks()
        forget_model_to_train()
        start = time.perf_counter()
        run_cv(config, Path(tmp) / "cv", "lopo", progress=False)
        whole = time.perf_counter() - start
        passes_whole = features.backbone_passes()
        features.forget_banks()
        forget_model_to_train()
        start = time.perf_counter()
        images, samples, _ = load_images(data, scan_dataset(data), size, progress=False)
        assignment = fold_assignments(samples, "lopo", subjects, config.val_fraction, config.seed)[0]
        audit(data, samples, progress=False, seed=config.seed)
        fit_split(
            config.replace(split="subject"),
            RunFolder(Path(tmp) / "alone").make_ready(),
            model_to_train(config),
            images,
            samples,
            assignment,
            progress=False,
        )
        alone = time.perf_counter() - start
        passes_alone = features.backbone_passes()
        features.forget_banks()
    return SharedFeatureFigures(
        backbone,
        size,
        subjects,
        subjects * images_per_subject,
        views,
        epochs,
        whole,
        alone,
        whole / alone,
        passes_whole,
        passes_alone,
        passes_whole / passes_alone,
    )


def _previous_asymmetry(rgb: np.ndarray) -> None:
    """The landmark measurement before this version, kept here as the yardstick: a pass on the photo, one on the aligned
    crop, then fifteen views (±6° × 0.92–1.08), each measured (its mirrored-landmark distances by broadcasting), and
    the median of the measures."""
    import cv2

    from facepalsy.face.asymmetry import CANONICAL_SIZE, eye_frame, measure
    from facepalsy.face.detect import align_face, detect_faces, largest_face

    crop = align_face(rgb, largest_face(rgb, backend="mediapipe"), CANONICAL_SIZE)
    largest_face(crop, backend="mediapipe")
    scores = []
    for degrees in (-6, -3, 0, 3, 6):
        for scale in (0.92, 1.0, 1.08):
            view = cv2.warpAffine(
                crop,
                cv2.getRotationMatrix2D((CANONICAL_SIZE / 2,) * 2, degrees, scale),
                (CANONICAL_SIZE,) * 2,
                borderMode=cv2.BORDER_REPLICATE,
            )
            for face in detect_faces(view, backend="mediapipe")[:1]:
                mesh = eye_frame(face.landmarks)[:468]
                nearest = np.sqrt(((mesh * [-1.0, 1.0])[:, None, :] - mesh[None, :, :]) ** 2).sum(axis=2).min(axis=1)
                scores.append((measure(face.landmarks).score, nearest.mean()))
    np.median(scores, axis=0)


def bench_landmarks(photos: Path | None = None, count: int = 12) -> LandmarkFigures:
    """ms per photo of ``image_asymmetry`` against the previous measurement: on ``count`` photos of the folder
    ``photos`` (the first with a face), else on ``count`` drawn faces. Needs the face extra."""
    from facepalsy.data.images import IMAGE_EXTENSIONS, as_rgb_array
    from facepalsy.errors import BadImageError
    from facepalsy.face.asymmetry import image_asymmetry

    if photos is None:
        faces, source = [np.asarray(face_photo(seed=seed)) for seed in range(count)], "drawn faces on 640×480"
    else:
        faces, source = [], str(photos)
        for path in sorted(p for p in Path(photos).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS):
            try:
                rgb = as_rgb_array(path)
                image_asymmetry(rgb)
            except BadImageError:
                continue
            faces.append(rgb)
            if len(faces) == count:
                break
    now = timed(lambda: [image_asymmetry(face) for face in faces], 2) / len(faces)
    before = timed(lambda: [_previous_asymmetry(face) for face in faces], 2) / len(faces)
    return LandmarkFigures(len(faces), source, 1000 * now, 1000 * before, before / now)
