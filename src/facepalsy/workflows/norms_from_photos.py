"""``norms build``: healthy reference ranges from a folder of healthy photos, each measured on its frontal mesh,
per expression where the folder names it, and the minimal detectable change from resting photos measured again on
re-taken views (``face/norms.py`` holds the ranges and how a face is read against them).

Each photo is measured on JITTER's views: the measure a reading near the edge of a range is decided on
(``Asymmetry.compare``), so that the edge and the faces weighed against it are measured alike."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from facepalsy.data.dataset import map_with_progress
from facepalsy.data.images import expand_inputs, load_image
from facepalsy.errors import BadImageError, FacepalsyError
from facepalsy.face.asymmetry import JITTER, image_asymmetry
from facepalsy.face.detect import MESH_SIDE
from facepalsy.face.expression import EXPRESSIONS
from facepalsy.face.norms import build_norms, differences, side_sizes

RETEST_PHOTOS = 80  # resting photos measured again for the minimal detectable change
RETEST_VIEWS = 4  # re-taken views of each
RETAKE = (
    "each photo re-taken {views} times: turned up to ±3°, rescaled 0.93–1.07, shifted up to 3% of its side, "
    "re-lit ×0.9–1.1 and re-encoded as JPEG at quality 70–95"
)


def retake(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same face as another photo of it might show it: a little turned, nearer or farther, off-centre, lit and
    compressed differently."""
    image = Image.fromarray(rgb)
    width, height = image.size
    scale = rng.uniform(0.93, 1.07)
    image = image.resize((max(16, round(width * scale)), max(16, round(height * scale))), Image.Resampling.BICUBIC)
    shift = (rng.uniform(-0.03, 0.03) * width, rng.uniform(-0.03, 0.03) * height)
    image = image.rotate(rng.uniform(-3, 3), Image.Resampling.BICUBIC, translate=shift, fillcolor=(128, 128, 128))
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.9, 1.1))
    encoded = io.BytesIO()
    image.save(encoded, "JPEG", quality=int(rng.integers(70, 96)))
    return np.asarray(Image.open(encoded).convert("RGB"))


def measure_retakes(
    paths: list[Path], views: int = RETEST_VIEWS, seed: int = 0, progress: bool = True
) -> list[list[dict[str, float]]]:
    """Per photo, the differences of the photo itself and of ``views`` re-taken views that still show a frontal
    face (a view the mesh cannot measure is left out of its photo's group)."""
    rng = np.random.default_rng(seed)
    jobs = [(path, np.random.default_rng(rng.integers(2**32))) for path in paths]

    def measure_photo(job) -> list[dict[str, float]]:
        path, own = job
        rgb = np.asarray(load_image(path, MESH_SIDE))
        group = []
        for view in [rgb, *(retake(rgb, own) for _ in range(views))]:
            try:
                measured = image_asymmetry(view, path, JITTER, expression="rest")[0]
            except BadImageError:
                continue
            if not measured.turned:
                group.append(differences(measured))
        return group

    return map_with_progress(measure_photo, jobs, f"re-measuring {len(paths)} resting faces", progress)


def measure_healthy_folder(
    folder: str | Path, source: str, progress: bool = True, retest_photos: int = RETEST_PHOTOS
) -> tuple[dict, list[str], int]:
    """Reference ranges from every photo under ``folder``: the norms, the photos that could not be
    measured (with the reason) and how many faces were turned too far to count (they are left out).
    Up to ``retest_photos`` resting faces, spread over the folder, are measured again for the MDC95."""
    paths = expand_inputs([folder])
    if not paths:
        raise FacepalsyError(f"{folder}: no images found")

    def measure_one(path: Path):
        try:
            rgb = np.asarray(load_image(path, MESH_SIDE))
            return image_asymmetry(rgb, path, JITTER, expression=named_expression(path))[0]
        except BadImageError as exc:
            return str(exc)

    results = map_with_progress(measure_one, paths, f"measuring {len(paths)} healthy faces", progress)
    failures = [r for r in results if isinstance(r, str)]
    measured = [r for r in results if not isinstance(r, str)]
    frontal = [r for r in measured if not r.turned]
    resting = [p for p, r in zip(paths, results) if not isinstance(r, str) and not r.turned and r.expression == "rest"]
    chosen = resting[:: max(1, len(resting) // retest_photos)][:retest_photos] if retest_photos else []
    retakes = (measure_retakes(chosen, progress=progress), RETAKE.format(views=RETEST_VIEWS)) if chosen else None
    norms = build_norms(
        [differences(r) for r in frontal],
        source,
        [r.expression for r in frontal],
        [side_sizes(r) for r in frontal],
        retakes,
    )
    return norms, failures, len(measured) - len(frontal)


def named_expression(path: Path) -> str | None:
    """The expression a healthy photo's file or folder names (``smile.jpg``, ``brow_raise/0001.jpg``), if any."""
    return next((n for n in (path.stem.lower(), path.parent.name.lower()) if n in EXPRESSIONS), None)
