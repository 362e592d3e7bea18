"""Split invariants: stratified by class, and no subject on two sides under the subject protocol."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from facepalsy.data.dataset import Sample, split_samples
from facepalsy.errors import DataError


def _samples(n_subjects_per_class=10, images_per_subject=8):
    return [
        Sample(f"{label}/{label}{s}/{i}.jpg", label, f"{label}-{s}")
        for label in (0, 1)
        for s in range(n_subjects_per_class)
        for i in range(images_per_subject)
    ]


def test_frame_split_is_stratified_and_covers_every_image():
    samples = _samples(10, 8)[: 160 - 40]  # 80 normal, 40 palsy: unbalanced on purpose
    parts = np.array(split_samples(samples, "frame", 0.19, 0.1, seed=3))
    labels = np.array([s.label for s in samples])
    assert set(parts) == {"train", "val", "test"} and len(parts) == len(samples)
    for part, fraction in (("test", 0.19), ("val", 0.1)):
        for label in (0, 1):
            expected = fraction * (labels == label).sum()
            assert abs(((parts == part) & (labels == label)).sum() - expected) <= 1.5


def test_frame_split_puts_subjects_on_both_sides():
    """The paper's protocol leaks identity: that is what the subject protocol exists to avoid."""
    samples = _samples()
    parts = split_samples(samples, "frame", 0.19, 0.1, seed=0)
    train_subjects = {s.subject for s, p in zip(samples, parts) if p == "train"}
    assert any(s.subject in train_subjects for s, p in zip(samples, parts) if p == "test")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_subject_split_never_shares_a_subject(seed):
    samples = _samples(12, 5)
    parts = split_samples(samples, "subject", 0.19, 0.1, seed=seed)
    sides: dict[str, set[str]] = {}
    for sample, part in zip(samples, parts):
        sides.setdefault(sample.subject, set()).add(part)
    assert all(len(s) == 1 for s in sides.values())
    per_part = Counter((part, sample.label) for sample, part in zip(samples, parts))
    assert all(per_part[(part, label)] > 0 for part in ("train", "val", "test") for label in (0, 1))
    test_share = sum(p == "test" for p in parts) / len(parts)
    assert 0.1 <= test_share <= 0.3


def test_split_is_reproducible_with_seed():
    samples = _samples()
    assert split_samples(samples, "subject", 0.2, 0.1, 7) == split_samples(samples, "subject", 0.2, 0.1, 7)
    assert split_samples(samples, "frame", 0.2, 0.1, 7) != split_samples(samples, "frame", 0.2, 0.1, 8)


def test_subject_split_with_too_few_subjects_says_so():
    with pytest.raises(DataError, match="needs at least 5 subjects per class; found 3 normal and 3 palsy"):
        split_samples(_samples(3, 4), "subject", 0.19, 0.0, 0)
