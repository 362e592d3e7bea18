"""Shortcut audit: can the way the photos were taken and saved tell the classes apart without any face?

Public palsy sets are often built from two sources (palsy photos from the web, normals from a face
data set); a classifier then learns the source. Per image this measures the file (width, height,
bytes, bytes per pixel, format, JPEG quality), the colour (grey, alpha, CMYK, red−blue balance,
which is negative when red and blue were swapped), EXIF orientation and, with the face extra,
the face's size and position in the frame. For each measure alone and for a cross-validated
classifier on all of them it reports how well they separate palsy from normal (ROC AUC, taken as
max(AUC, 1 − AUC)), with a subject-bootstrap interval for the classifier.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from facepalsy.data.dataset import CLASSES, Sample, map_with_progress
from facepalsy.data.harmonise import Harmonisation, harmonised_jpeg
from facepalsy.data.images import load_image, to_rgb
from facepalsy.errors import BadImageError
from facepalsy.evaluation.audit_result import Audit, CombinedSeparability, MeasureSeparability

WARN_AUC = 0.70  # above this, a measure (or all of them together) carries the label
BINARY = ("jpeg", "png", "grey", "alpha", "cmyk", "exif_rotated")
ACQUISITION = (
    "width",
    "height",
    "pixels",
    "file_bytes",
    "bytes_per_pixel",
    "jpeg",
    "png",
    "jpeg_quality",
    "grey",
    "alpha",
    "cmyk",
    "red_minus_blue",
    "exif_rotated",
)
FACE = ("face_width_fraction", "face_centre_x", "face_centre_y")
# The IJG standard luminance quantisation table (quality 50): JPEG quality is estimated from its scale.
_IJG_LUMINANCE_SUM = 3688  # sum of the 64 entries of Annex K, Table K.1 of ITU-T T.81
ADVICE = (
    "A model trained on these photos can learn where they came from instead of the palsy. Harmonise them "
    "(--harmonise: the same face crop, level of detail and re-encoding for every image; an aligned face crop alone "
    "keeps each source's resolution and compression) or take both classes from the same source; then check again."
)
CROP_ADVICE = (  # for models that already see aligned face crops: a crop keeps resolution and JPEG traces
    "A model trained on these photos can learn where they came from instead of the palsy, even from aligned face "
    "crops, which keep each source's resolution and compression. Harmonise them (--harmonise: the same face "
    "crop, level of detail and re-encoding for every image) or take both classes from the same source; then check "
    "again."
)


def below_chance_note(auc: float | None, ci: tuple[float, float] | None) -> str | None:
    """What a cross-validated AUC below 0.5 means, when its whole interval is below 0.5 (None otherwise)."""
    if auc is None or not ci or ci[1] >= 0.5:
        return None
    return (
        f"An AUC below 0.5 ({auc:.3f}, 95% CI {ci[0]:.3f}–{ci[1]:.3f}) means no usable signal, not a "
        "reversed one: when the measures carry nothing to learn, cross-validation tends to score below 0.5, because "
        "each fold's training images lean against the class balance of the images it is tested on."
    )


def jpeg_quality(img: Image.Image) -> float:
    """IJG-equivalent quality (1–100) estimated from the luminance quantisation table; NaN when unknown."""
    tables = getattr(img, "quantization", None) or {}
    if 0 not in tables:
        return float("nan")
    scale = 100.0 * float(np.sum(tables[0])) / _IJG_LUMINANCE_SUM
    return float(np.clip((200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale, 1, 100))


def image_measures(path: Path, faces: bool = False, data: bytes | None = None) -> dict[str, float]:
    """The acquisition measures of one image file, or of its encoded ``data`` when given (and the face
    measures with ``faces``); BadImageError if unreadable."""
    try:
        with Image.open(io.BytesIO(data) if data is not None else path) as img:
            width, height, fmt, mode = img.width, img.height, img.format, img.mode
            orientation = img.getexif().get(0x0112, 1)
            quality = jpeg_quality(img) if fmt == "JPEG" else float("nan")
            img.draft("RGB", (128, 128))  # JPEG: decode at a reduced scale, enough for colour statistics
            small = np.asarray(to_rgb(img).resize((64, 64)), dtype=np.float64)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise BadImageError(path, f"cannot read ({exc})") from exc
    centre = small[16:48, 16:48]
    channel_spread = np.abs(small - small.mean(axis=2, keepdims=True)).mean()
    size = len(data) if data is not None else path.stat().st_size
    result = {
        "width": float(width),
        "height": float(height),
        "pixels": float(width * height),
        "file_bytes": float(size),
        "bytes_per_pixel": size / (width * height),
        "jpeg": float(fmt == "JPEG"),
        "png": float(fmt == "PNG"),
        "jpeg_quality": quality,
        "grey": float(mode in ("1", "L", "LA", "I", "I;16", "F") or channel_spread < 2.0),
        "alpha": float("A" in mode or mode == "PA"),
        "cmyk": float(mode == "CMYK"),
        "red_minus_blue": float(centre[..., 0].mean() - centre[..., 2].mean()),
        "exif_rotated": float(orientation not in (1, None)),
    }
    if faces:
        from facepalsy.face.detect import detect_faces

        found = detect_faces(np.asarray(load_image(path)))
        box = found[0].box if found else None
        result.update(
            {
                "face_width_fraction": (box[2] - box[0]) / width if box else float("nan"),
                "face_centre_x": (box[0] + box[2]) / 2 / width if box else float("nan"),
                "face_centre_y": (box[1] + box[3]) / 2 / height if box else float("nan"),
            }
        )
    return result


def separability(labels: np.ndarray, values: np.ndarray) -> float:
    """max(AUC, 1 − AUC) of one measure for palsy vs normal (0.5: no information); NaNs left out."""
    known = ~np.isnan(values)
    if len(np.unique(labels[known])) < 2 or len(np.unique(values[known])) < 2:
        return 0.5
    auc = roc_auc_score(labels[known], values[known])
    return float(max(auc, 1 - auc))


def summary(values: np.ndarray, binary: bool) -> str:
    known = values[~np.isnan(values)]
    if not len(known):
        return "n/a"
    if binary:
        return f"{100 * known.mean():.1f}%"
    return f"{np.median(known):.4g} (n={len(known)})" if len(known) < len(values) else f"{np.median(known):.4g}"


def combined_separability(
    x: np.ndarray, labels: np.ndarray, subjects: list[str], seed: int = 0
) -> CombinedSeparability:
    """Out-of-fold ROC AUC of a random forest on all measures, folds grouped by subject.

    A forest splits on missing values itself (JPEG quality of a PNG, face size without a face), needs
    no scaling, catches non-monotonic tells (one exact size) and works on a few dozen images, where
    gradient boosting's minimum leaf size leaves it predicting a constant.
    """
    from facepalsy.evaluation.metrics import bootstrap_ci

    groups = np.array(subjects)
    per_class = min(len(set(groups[labels == c])) for c in (0, 1))
    folds = min(5, per_class)
    if folds < 2:
        return CombinedSeparability(None, None, 0)
    splitter = (
        StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
        if per_class >= folds
        else StratifiedKFold(folds, shuffle=True, random_state=seed)
    )
    prob = np.zeros(len(labels))
    for train, test in splitter.split(x, labels, groups):
        model = RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1).fit(x[train], labels[train])
        prob[test] = model.predict_proba(x[test])[:, 1]
    auc = float(roc_auc_score(labels, prob))
    ci = bootstrap_ci(labels, prob, subjects, n_boot=500, seed=seed)["roc_auc"]
    model = "scikit-learn RandomForestClassifier, subject-grouped cross-validation"
    return CombinedSeparability(auc, ci, folds, model, below_chance_note(auc, ci))


def audit(
    root: Path,
    samples: list[Sample],
    faces: bool = False,
    progress: bool = True,
    seed: int = 0,
    harmonise: tuple[int, Harmonisation] | None = None,
    crop: bool = False,
) -> Audit:
    """The shortcut audit of a data set: per-class distributions and separability of every measure, and of all together.

    With ``harmonise`` (output size, settings) the images are measured as a harmonised run sees them:
    the separability left after harmonising. ``crop``: the model sees aligned face crops already, so the advice
    does not suggest them.
    """

    def measure(sample: Sample) -> dict[str, float] | None:
        path = root / sample.path
        try:
            if harmonise is None:
                return image_measures(path, faces)
            data, _ = harmonised_jpeg(np.asarray(load_image(path)), *harmonise, path)
            return image_measures(path, data=data)
        except BadImageError:
            return None

    rows = map_with_progress(measure, samples, f"auditing {len(samples)} images", progress)
    kept = [(s, r) for s, r in zip(samples, rows) if r is not None]
    names = ACQUISITION + (FACE if faces else ())
    labels = np.array([s.label for s, _ in kept])
    x = np.array([[r[n] for n in names] for _, r in kept], dtype=np.float64).reshape(len(kept), len(names))
    present = {CLASSES[c] for c in np.unique(labels)}
    measures = [
        MeasureSeparability(
            name,
            {c: summary(x[labels == i, j], name in BINARY) for i, c in enumerate(CLASSES) if c in present},
            separability(labels, x[:, j]) if len(present) == 2 else None,
        )
        for j, name in enumerate(names)
    ]
    common = {"images": len(kept), "measures": measures, "face_measures": faces, "warn_auc": WARN_AUC}
    if len(present) < 2:
        note = f"only {', '.join(sorted(present)) or 'no'} images: nothing to compare"
        return Audit(**common, harmonised=harmonise is not None, note=note)
    combined = combined_separability(x, labels, [s.subject for s, _ in kept], seed)
    flagged = [m for m in measures if m.auc is not None and m.auc > WARN_AUC]
    warning = None
    if flagged or (combined.auc is not None and combined.auc > WARN_AUC):
        parts = [f"{m.name} (AUC {m.auc:.2f})" for m in sorted(flagged, key=lambda m: -m.auc)]
        ci = combined.ci95
        together = f"all measures together: AUC {combined.auc:.2f}" + (
            f" (95% CI {ci[0]:.2f}–{ci[1]:.2f})" if ci else ""
        )
        warning = (
            f"the photos' acquisition separates palsy from normal without looking at a face: "
            f"{', '.join(parts) + '; ' if parts else ''}{together}. {CROP_ADVICE if crop else ADVICE}"
        )
    return Audit(
        **common,
        harmonised=harmonise is not None,
        combined=combined,
        flagged=[m.name for m in flagged],
        warning=warning,
    )
