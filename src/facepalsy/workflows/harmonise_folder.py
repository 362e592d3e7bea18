"""Harmonise a data folder into a new one (``prepare --harmonise``): every image through the same decoding, face
crop, detail and re-encoding (``data/harmonise.py``), a manifest that keeps subjects, and the shortcut audit of
the result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facepalsy.data.dataset import (
    CLASSES,
    manifest_rows,
    map_with_progress,
    scan_dataset,
    write_bad_images,
    write_manifest,
)
from facepalsy.data.harmonise import Harmonisation, harmonised_jpeg
from facepalsy.data.images import load_image
from facepalsy.errors import BadImageError, DataError
from facepalsy.evaluation.audit import audit
from facepalsy.evaluation.audit_result import Audit
from facepalsy.files import atomic_write

LEFT_OUT = "left_out.txt"  # in a harmonised data folder: the images not written, with the reason


@dataclass
class HarmoniseReport:
    written: int
    left_out: list  # BadImageError: unreadable, or no usable face (NoFaceError)
    audit: Audit  # the shortcut audit of the harmonised folder: the separability left


def harmonised_name(relative: str) -> str:
    """``a/b.jpg`` stays; ``a/b.png`` becomes ``a/b.png.jpg`` so that ``b.png`` and ``b.jpg`` never collide."""
    return relative if relative.lower().endswith(".jpg") else relative + ".jpg"


def harmonise_folder(
    source: str | Path,
    out: str | Path,
    size: int = 224,
    settings: Harmonisation | None = None,
    progress: bool = True,
) -> HarmoniseReport:
    """Write every image of the data folder ``source`` harmonised into the data folder ``out``.

    ``out/manifest.csv`` keeps each image's subject and the source manifest's other columns (for
    subgroups), plus ``harmonised_from``. Images without a usable face, or unreadable, are left out and
    listed in ``out/left_out.txt``. The shortcut audit is run on the result.
    """
    source, out, settings = Path(source), Path(out), settings or Harmonisation()
    if out.resolve() == source.resolve() or out.resolve().is_relative_to(source.resolve()):
        raise DataError(f"{out}: write the harmonised images outside the source folder {source}")
    samples = scan_dataset(source, require_both=False)
    extra = manifest_rows(source)

    def write(sample) -> dict | BadImageError:
        path = source / sample.path
        try:
            data, _ = harmonised_jpeg(np.asarray(load_image(path)), size, settings, path)
        except BadImageError as exc:
            return exc
        target = harmonised_name(sample.path)
        atomic_write(out / target, lambda tmp: tmp.write_bytes(data))
        row = {k: v for k, v in extra.get(sample.path, {}).items() if k not in ("path", "label", "subject")}
        return {
            "path": target,
            "label": CLASSES[sample.label],
            "subject": sample.subject,
            **row,
            "harmonised_from": sample.path,
        }

    results = map_with_progress(write, samples, f"harmonising {len(samples)} images", progress)
    rows = [r for r in results if isinstance(r, dict)]
    left_out = [r for r in results if isinstance(r, BadImageError)]
    if not rows:
        raise DataError(f"{source}: no image with a usable face to harmonise ({len(left_out)} left out)")
    write_manifest(out, rows)
    if left_out:
        write_bad_images(out / LEFT_OUT, left_out, source)
    kept = scan_dataset(out, require_both=False)
    return HarmoniseReport(len(rows), left_out, audit(out, kept, progress=progress))
