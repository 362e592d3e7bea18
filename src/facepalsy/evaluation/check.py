"""Data checks and leakage: exact and near-duplicate images, subjects per class, unreadable files.

Exact duplicates are found by content hash (SHA-256 of the file bytes); near-duplicates by
perceptual hash (imagehash's pHash, 256 bits) within a Hamming distance, which catches re-encoded,
resized or consecutive video frames.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from facepalsy.data.dataset import CLASSES, Sample, map_with_progress, scan_dataset, unlisted_images
from facepalsy.data.images import load_image
from facepalsy.errors import BadImageError, DataError
from facepalsy.evaluation.check_result import NEAR_DUPLICATE_BITS, DataCheck, Duplicates, Leakage, Overlap
from facepalsy.files import file_sha256

HASH_SIZE = 16  # pHash of 16×16 DCT coefficients: 256 bits
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def perceptual_hash(image: Image.Image | np.ndarray) -> np.ndarray:
    """256-bit pHash as 32 bytes, of a PIL image or an HWC / CHW uint8 array."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image.transpose(1, 2, 0) if image.shape[0] == 3 else image)
    return np.packbits(imagehash.phash(image, hash_size=HASH_SIZE).hash.flatten())


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between two arrays of packed hashes (rows of bytes)."""
    return _POPCOUNT[np.bitwise_xor(a[:, None, :], b[None, :, :])].sum(axis=-1, dtype=np.int32)


def near_duplicate_pairs(
    hashes: np.ndarray, max_bits: int = NEAR_DUPLICATE_BITS, block: int = 256
) -> list[tuple[int, int, int]]:
    """Index pairs (i < j) whose hashes differ in at most ``max_bits`` bits, with the distance."""
    pairs = []
    for start in range(0, len(hashes), block):
        distances = hamming_matrix(hashes[start : start + block], hashes)
        for i, j in zip(*np.nonzero(distances <= max_bits)):
            if start + i < j:
                pairs.append((int(start + i), int(j), int(distances[i, j])))
    return pairs


def nearest_distance(queries: np.ndarray, pool: np.ndarray, block: int = 256) -> np.ndarray:
    """For each query hash, the Hamming distance to its nearest hash in ``pool``."""
    return np.concatenate(
        [hamming_matrix(queries[i : i + block], pool).min(axis=1) for i in range(0, len(queries), block)]
    )


def leakage(
    samples: list[Sample], assignment: list[str], hashes: np.ndarray | None = None, protocol: str | None = None
) -> Leakage:
    """How much of the test side the training side has seen: shared subjects and near-duplicates.

    Training here means everything not in test (train and validation both shape the model kept).
    """
    parts = np.asarray(assignment)
    test = np.flatnonzero(parts == "test")
    seen = np.flatnonzero(parts != "test")
    seen_subjects = {samples[i].subject for i in seen}
    shared = sorted({samples[i].subject for i in test} & seen_subjects)
    near = None
    if hashes is not None and len(test) and len(seen):
        near = int((nearest_distance(hashes[test], hashes[seen]) <= NEAR_DUPLICATE_BITS).sum())
    with_subject = int(sum(samples[i].subject in seen_subjects for i in test))
    return Leakage(int(len(test)), shared, with_subject, near, protocol)


def perceptual_hashes(images: np.ndarray) -> np.ndarray | None:
    """pHash of each N×3×S×S model input (None for none): what near-duplicate checks compare."""
    return np.stack([perceptual_hash(image) for image in images]) if len(images) else None


def guard_split(
    protocol: str, samples: list[Sample], assignment: list[str], hashes: np.ndarray | None = None
) -> Leakage:
    """The leakage guard of every split: refuse shared subjects under a subject protocol, count them under frame."""
    report = leakage(samples, assignment, hashes, protocol)
    shared = report.test_subjects_in_training
    if protocol != "frame" and shared:
        raise DataError(
            f"leakage: {len(shared)} test subject(s) also in training under the {protocol} protocol "
            f"({', '.join(shared[:5])}{', …' if len(shared) > 5 else ''}); refusing to train"
        )
    return report


def overlap_with_training(fingerprints: dict, files: list[Path], hashes: np.ndarray | None) -> Overlap:
    """How many of these images the run was trained (or validated) on: byte-identical files (SHA-256), and
    near-duplicates of its model inputs (pHash within NEAR_DUPLICATE_BITS) among the rest."""
    seen = set(fingerprints["sha256"])
    identical = [i for i, path in enumerate(files) if file_sha256(path) in seen]
    near = []
    if hashes is not None and fingerprints["phash"]:
        pool = np.array([np.frombuffer(bytes.fromhex(h), dtype=np.uint8) for h in fingerprints["phash"]])
        distances = nearest_distance(hashes, pool)
        near = [i for i in np.flatnonzero(distances <= NEAR_DUPLICATE_BITS).tolist() if i not in set(identical)]
    return Overlap(
        len(files),
        len(seen),
        len(identical),
        len(near),
        [str(files[i]) for i in identical[:50]],
        [str(files[i]) for i in near[:50]],
    )


def check_dataset(root: str | Path, progress: bool = True, faces: bool | None = None) -> DataCheck:
    """Counts, unreadable files, exact and near-duplicates, subjects with both labels, files the manifest
    leaves out, and the shortcut audit (with face measures when the face extra is installed, or ``faces``)."""
    from facepalsy.evaluation.audit import audit
    from facepalsy.face.detect import mediapipe_available

    root = Path(root)
    samples = scan_dataset(root, require_both=False)

    def inspect(sample: Sample) -> tuple[str, np.ndarray | None, str | None]:
        path = root / sample.path
        digest = file_sha256(path) if path.is_file() else ""
        try:
            return digest, perceptual_hash(load_image(path)), None
        except BadImageError as exc:
            return digest, None, exc.reason

    results = map_with_progress(inspect, samples, f"checking {len(samples)} images", progress)

    unreadable = [{"path": s.path, "reason": reason} for s, (_, _, reason) in zip(samples, results) if reason]
    by_digest = defaultdict(list)
    for i, (digest, _, _) in enumerate(results):
        if digest:
            by_digest[digest].append(i)
    exact = [[samples[i] for i in group] for group in by_digest.values() if len(group) > 1]
    exact_pairs = {(g[a], g[b]) for g in by_digest.values() for a in range(len(g)) for b in range(a + 1, len(g))}
    readable = [i for i, (_, h, _) in enumerate(results) if h is not None]
    hashes = np.array([results[i][1] for i in readable]).reshape(len(readable), HASH_SIZE * HASH_SIZE // 8)
    near = [
        (samples[readable[i]], samples[readable[j]], d)
        for i, j, d in near_duplicate_pairs(hashes)
        if (readable[i], readable[j]) not in exact_pairs
    ]
    labels_of = defaultdict(set)
    for s in samples:
        labels_of[s.subject].add(s.label)
    per_subject = np.bincount(np.searchsorted(sorted(labels_of), [s.subject for s in samples]))
    return DataCheck(
        data=str(root),
        images={name: sum(s.label == i for s in samples) for i, name in enumerate(CLASSES)},
        subjects={name: sum(i in labels for labels in labels_of.values()) for i, name in enumerate(CLASSES)},
        images_per_subject={
            "min": int(per_subject.min()),
            "median": float(np.median(per_subject)),
            "max": int(per_subject.max()),
        },
        unreadable=unreadable,
        exact_duplicates=[Duplicates([s.path for s in group], len({s.label for s in group}) > 1) for group in exact],
        near_duplicates=[
            Duplicates([a.path, b.path], a.label != b.label, d, a.subject == b.subject) for a, b, d in near
        ],
        subjects_with_both_labels=sorted(s for s, labels in labels_of.items() if len(labels) > 1),
        not_in_manifest=unlisted_images(root, samples),
        audit=audit(root, samples, faces=mediapipe_available() if faces is None else faces, progress=progress),
    )
