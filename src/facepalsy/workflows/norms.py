"""``norms build``: healthy reference ranges from a folder of healthy photos, each measured on its frontal mesh,
per expression where the folder names it (``face/norms.py`` holds the ranges and how a face is read against them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facepalsy.data.dataset import map_with_progress
from facepalsy.data.images import expand_inputs, load_image
from facepalsy.errors import BadImageError, FacepalsyError
from facepalsy.face.asymmetry import image_asymmetry
from facepalsy.face.expression import EXPRESSIONS
from facepalsy.face.norms import build_norms, differences, side_sizes


def measure_healthy_folder(folder: str | Path, source: str, progress: bool = True) -> tuple[dict, list[str], int]:
    """Reference ranges from every photo under ``folder``: the norms, the photos that could not be
    measured (with the reason) and how many faces were turned too far to count (they are left out)."""
    paths = expand_inputs([folder])
    if not paths:
        raise FacepalsyError(f"{folder}: no images found")

    def measure_one(path: Path):
        try:
            return image_asymmetry(np.asarray(load_image(path)), path, expression=named_expression(path))[0]
        except BadImageError as exc:
            return str(exc)

    results = map_with_progress(measure_one, paths, f"measuring {len(paths)} healthy faces", progress)
    failures = [r for r in results if isinstance(r, str)]
    measured = [r for r in results if not isinstance(r, str)]
    frontal = [r for r in measured if not r.turned]
    norms = build_norms(
        [differences(r) for r in frontal], source, [r.expression for r in frontal], [side_sizes(r) for r in frontal]
    )
    return norms, failures, len(measured) - len(frontal)


def named_expression(path: Path) -> str | None:
    """The expression a healthy photo's file or folder names (``smile.jpg``, ``brow_raise/0001.jpg``), if any."""
    return next((n for n in (path.stem.lower(), path.parent.name.lower()) if n in EXPRESSIONS), None)
