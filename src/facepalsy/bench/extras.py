"""The cross-validation figure of ``facepalsy bench``: the feature bank shared by the folds against one fold trained
alone."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from facepalsy.bench.figures import SharedFeatureFigures
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
