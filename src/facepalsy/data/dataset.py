"""The data contract: ``DATA/palsy/**`` and ``DATA/normal/**``, or ``DATA/manifest.csv``.

A manifest has the columns ``path,label,subject`` (paths relative to DATA, more columns allowed)
and overrides the folder scan. Without one, an image's subject is the first sub-folder under its
class folder, else the file itself. Images are decoded to RGB whatever their mode (grayscale,
RGBA, palette, CMYK, 16-bit) with EXIF orientation honoured.

Every image has a *source*: where its photos came from, so that a model can be tested on a source it never
saw (``cv --protocol leave-source-out``). It is the manifest's ``source`` column, else the owner part of its
``source_repo`` column (``owner/name``), else the data folder's name. Several data folders make one data set
(:func:`scan_sources`); a folder with one class only is then a source like any other.
"""

from __future__ import annotations

import csv
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import numpy as np

from facepalsy.data.images import IMAGE_EXTENSIONS, load_image
from facepalsy.data.model_input import WHOLE_IMAGE, FacePolicy, model_input
from facepalsy.errors import BadImageError, DataError, NoFaceError, display_path
from facepalsy.files import atomic_write_csv, atomic_write_text
from facepalsy.log import progress_bar

T, R = TypeVar("T"), TypeVar("R")
CLASSES = ("normal", "palsy")  # index 1 is the positive class
PALSY = CLASSES.index("palsy")
MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("path", "label", "subject")


@dataclass(frozen=True)
class Sample:
    path: str  # relative to the data root, with forward slashes
    label: int  # index into CLASSES
    subject: str
    source: str = ""  # where the photo came from (module docstring); "" in run folders from before sources


def data_folders(data: str | Path | Sequence[str | Path]) -> list[str]:
    """A run's data folders as a list: configs from before several folders name one as a plain string."""
    return [str(data)] if isinstance(data, (str, Path)) else [str(d) for d in data]


def scan_root(folders: str | Path | Sequence[str | Path]) -> Path:
    """The folder the image paths of :func:`scan_sources` are relative to (one folder: itself)."""
    folders = data_folders(folders)
    if len(folders) == 1:
        return Path(folders[0])
    return Path(os.path.commonpath([Path(f).resolve() for f in folders]))


def scan_sources(folders: Sequence[str | Path]) -> tuple[Path, list[Sample]]:
    """One data set from one or several data folders: their common root and every image, paths relative to it.

    With one folder the root is that folder and nothing changes. With several, each may hold one class only (a folder
    of healthy faces is a source of its own), paths gain the folder's place under the common root, and subjects its
    name, so that two folders' ``subject_1`` stay two people. Both classes must be present over all folders.
    """
    paths = [Path(f) for f in folders]
    if not paths:
        raise DataError("no data folder given")
    if len(paths) == 1:
        return paths[0], scan_dataset(paths[0])
    for path in paths:
        if not path.is_dir():
            raise DataError(f"{path}: data folder not found")
    resolved = [p.resolve() for p in paths]
    if len(set(resolved)) < len(resolved):
        raise DataError(f"a data folder is given twice: {' '.join(map(str, folders))}")
    root = scan_root(resolved)
    samples = []
    for path in resolved:
        prefix = path.relative_to(root).as_posix()
        samples += [
            Sample(f"{prefix}/{s.path}", s.label, f"{prefix}/{s.subject}", s.source)
            for s in scan_dataset(path, require_both=False)
        ]
    missing = [name for i, name in enumerate(CLASSES) if not any(s.label == i for s in samples)]
    if missing:
        raise DataError(f"no images of class {' or '.join(missing)} in any of {', '.join(map(str, folders))}")
    return root, samples


def scan_dataset(root: str | Path, require_both: bool = True) -> list[Sample]:
    """List the images of a data folder, from its manifest if it has one (both classes needed unless told)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    samples = read_manifest(root / MANIFEST) if (root / MANIFEST).is_file() else scan_folders(root, require_both)
    if any(not s.source for s in samples):
        samples = [s if s.source else replace(s, source=root.resolve().name) for s in samples]
    counts = {name: sum(s.label == i for s in samples) for i, name in enumerate(CLASSES)}
    empty = [name for name, n in counts.items() if n == 0]
    if len(empty) == len(CLASSES) or (empty and require_both):
        raise DataError(
            f"{root}: no images of class {' or '.join(empty)} "
            f"(expected {root}/palsy/ and {root}/normal/ with {', '.join(sorted(IMAGE_EXTENSIONS))} files, "
            f"or a {MANIFEST})"
        )
    return samples


def scan_folders(root: Path, require_both: bool = True) -> list[Sample]:
    """Images under ``root/palsy`` and ``root/normal``; subject = first sub-folder, else the file."""
    samples = []
    for label, name in enumerate(CLASSES):
        class_dir = root / name
        if not class_dir.is_dir():
            if not require_both:
                continue
            raise DataError(f"{class_dir}: class folder missing (a data folder needs palsy/ and normal/)")
        # symlinks are kept even when broken or looping, so that decoding reports them instead of dropping them silently
        for path in sorted(
            p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and (p.is_file() or p.is_symlink())
        ):
            relative = path.relative_to(class_dir)
            subject = relative.parts[0] if len(relative.parts) > 1 else path.relative_to(root).as_posix()
            samples.append(Sample(path.relative_to(root).as_posix(), label, subject))
    return samples


def read_manifest(path: Path) -> list[Sample]:
    root = path.parent.resolve()
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: missing column(s) {', '.join(missing)}; need {','.join(MANIFEST_COLUMNS)}")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read manifest ({exc})") from exc
    samples, seen = [], set()
    for line, row in enumerate(rows, start=2):
        rel, label, subject = (row[c].strip() if row[c] else "" for c in MANIFEST_COLUMNS)
        where = f"{path}, line {line}"
        if label not in CLASSES:
            raise DataError(f"{where}: unknown label {label!r}; labels are {', '.join(CLASSES)}")
        if not rel or not subject:
            raise DataError(f"{where}: empty path or subject")
        full = (root / rel).resolve()
        if not full.is_relative_to(root):
            raise DataError(f"{where}: path {rel!r} points outside the data folder")
        if rel in seen:
            raise DataError(f"{where}: duplicate row for {rel!r}")
        seen.add(rel)
        samples.append(Sample(Path(rel).as_posix(), CLASSES.index(label), subject, source_of(row)))
    return samples


def source_of(row: dict[str, str]) -> str:
    """An image's source from its manifest row ("" when no column names one): ``source``, else the owner of
    ``source_repo``."""
    source = (row.get("source") or "").strip()
    return source or (row.get("source_repo") or "").strip().split("/")[0]


def manifest_rows(root: Path) -> dict[str, dict[str, str]]:
    """Every column of a data folder's manifest, by image path ({} without a manifest): for subgroups and copies."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        return {row["path"]: row for row in csv.DictReader(f)}


def unlisted_images(root: Path, samples: list[Sample]) -> list[str]:
    """Image files under ``root`` that its manifest does not list (a manifest silently leaves them out)."""
    if not (root / MANIFEST).is_file():
        return []
    listed = {s.path for s in samples}
    found = (
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )
    return sorted(p for p in found if p not in listed)


def write_manifest(root: Path, rows: list[dict[str, object]]) -> None:
    """Write ``manifest.csv``: the required columns first, then any extra ones (e.g. synth's side)."""
    extra = [k for k in rows[0] if k not in MANIFEST_COLUMNS] if rows else []
    atomic_write_csv(root / MANIFEST, [*MANIFEST_COLUMNS, *extra], rows)


def map_with_progress(
    function: Callable[[T], R], items: Sequence[T], description: str, progress: bool = True
) -> list[R]:
    """``function`` over ``items`` in 4 threads (decoding releases the GIL), in order, with a progress bar."""

    results = []
    with ThreadPoolExecutor(max_workers=4) as pool, progress_bar(disable=not progress) as bar:
        task = bar.add_task(description, total=len(items))
        for result in pool.map(function, items):
            results.append(result)
            bar.advance(task)
    return results


def load_images(
    root: str | Path,
    samples: list[Sample],
    size: int,
    skip_bad: bool = False,
    progress: bool = True,
    face: FacePolicy = WHOLE_IMAGE,
) -> tuple[np.ndarray, list[Sample], list[BadImageError]]:
    """Decode every image once into an N×3×size×size uint8 model input (threads overlap decoding).

    Returns the images, the samples kept, and those left out. When the ``face`` policy needs a face,
    an image without a usable face is left out and returned (NoFaceError): it has no model input, which is an outcome,
    not an error. Unreadable images are all collected first so the error lists every one, not just
    the first; with ``skip_bad`` they are left out and returned too.
    """
    root = Path(root)

    def decode(sample: Sample) -> np.ndarray | BadImageError:
        path = root / sample.path
        try:
            return model_input(np.asarray(load_image(path)), size, face, path, find_faces=False).pixels
        except BadImageError as exc:
            return exc

    results = map_with_progress(decode, samples, f"decoding {len(samples)} images", progress)
    bad = [r for r in results if isinstance(r, BadImageError) and not isinstance(r, NoFaceError)]
    if len(bad) == 1 and not skip_bad:
        raise DataError(f"{bad[0]} (pass --skip-bad to skip it; the output folder then lists it in its bad-image list)")
    if bad and not skip_bad:
        listing = "\n".join(f"  {b}" for b in bad[:20]) + (f"\n  … and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise DataError(
            f"{len(bad)} unreadable images (pass --skip-bad to skip "
            f"them; the output folder then lists them):\n{listing}"
        )
    kept = [s for s, r in zip(samples, results) if not isinstance(r, BadImageError)]
    arrays = [r for r in results if not isinstance(r, BadImageError)]
    images = np.stack(arrays).transpose(0, 3, 1, 2).copy() if arrays else np.zeros((0, 3, size, size), np.uint8)
    return images, kept, [r for r in results if isinstance(r, BadImageError)]


def write_left_out(folder, left_out: list[BadImageError], root: Path) -> tuple[int, int]:
    """List the images left out of a run or evaluation in ``folder.bad_images`` (unreadable, with
    --skip-bad) and ``folder.no_face`` (no usable face for a model that needs one), with paths relative to the
    data folder ``root`` as in every other run file; returns both counts."""
    no_face = [b for b in left_out if isinstance(b, NoFaceError)]
    unreadable = [b for b in left_out if not isinstance(b, NoFaceError)]
    for path, items in ((folder.bad_images, unreadable), (folder.no_face, no_face)):
        if items:
            write_bad_images(path, items, root)
    return len(unreadable), len(no_face)


def write_bad_images(path: Path, bad: list[BadImageError], root: Path | None = None) -> None:
    """One ``path<TAB>reason`` line per skipped image; paths relative to ``root`` when they lie inside it."""

    base = Path(os.path.abspath(root)) if root is not None else None  # abspath: a symlink loop is listed as is

    def shown(image: str | Path) -> str:
        absolute = Path(os.path.abspath(image))
        return display_path(absolute.relative_to(base) if base and absolute.is_relative_to(base) else image)

    atomic_write_text(path, "".join(f"{shown(b.path)}\t{b.reason}\n" for b in bad))


def split_samples(
    samples: list[Sample], protocol: str, test_fraction: float, val_fraction: float, seed: int
) -> list[str]:
    """Assign each sample to "train", "val" or "test".

    ``frame``: stratified random split of images (the paper's; frames of one patient land on
    both sides). ``subject``: stratified group split, so no subject is on two sides.
    Validation is carved from the training side with the same protocol.
    """
    labels = np.array([s.label for s in samples])
    subjects = np.array([s.subject for s in samples])
    indices = np.arange(len(samples))
    train, test = holdout(indices, labels, subjects, protocol, test_fraction, seed, "test")
    assignment = np.full(len(samples), "train", dtype=object)
    assignment[test] = "test"
    carve_validation(assignment, train, labels, subjects, protocol, val_fraction / (1 - test_fraction), seed)
    return list(assignment)


def carve_validation(
    assignment: np.ndarray,
    train: np.ndarray,
    labels: np.ndarray,
    subjects: np.ndarray,
    protocol: str,
    fraction: float,
    seed: int,
) -> None:
    """Mark ``fraction`` of the training side (the indices ``train``) "val" in ``assignment``, with the split's
    protocol: the one carve-off of a split and of every cross-validation fold. Nothing with ``fraction`` 0."""
    if fraction > 0:
        _, val = holdout(train, labels[train], subjects[train], protocol, fraction, seed, "validation", shrink=True)
        assignment[val] = "val"


def holdout(
    indices: np.ndarray,
    labels: np.ndarray,
    subjects: np.ndarray,
    protocol: str,
    fraction: float,
    seed: int,
    part: str,
    shrink: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` into kept and held-out parts, stratified by class (and grouped by subject).

    Under the subject protocol the held-out share is one fold of a stratified group k-fold with
    k = round(1 / fraction). With ``shrink`` (validation), k falls to the number of subjects of
    the smaller class when there are too few, so the share grows instead of failing.
    """
    from sklearn.model_selection import StratifiedGroupKFold, train_test_split  # here: predict never needs it

    if protocol == "frame":
        if min(np.bincount(labels, minlength=2)) < 2:
            raise DataError(f"too few images per class for a {part} split")
        return train_test_split(indices, test_size=fraction, stratify=labels, random_state=seed)
    n_splits = max(2, round(1 / fraction))
    per_class = [len(set(subjects[labels == c])) for c in range(len(CLASSES))]
    if shrink:
        n_splits = max(2, min(n_splits, min(per_class)))
    if min(per_class) < n_splits:
        raise DataError(
            f"a subject {part} split of {fraction:.0%} needs at least {n_splits} subjects per class; "
            f"found {per_class[0]} normal and {per_class[1]} palsy subjects"
        )
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    kept, held = next(folds.split(indices, labels, groups=subjects))
    return indices[kept], indices[held]
