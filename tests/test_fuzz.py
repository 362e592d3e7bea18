"""Fuzzing the readers with random bytes: only the documented errors (FacepalsyError and subclasses) come out.

Bounded for CI: a few hundred examples per reader, well under a minute in all.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from facepalsy.config import Config, load_config
from facepalsy.data.dataset import read_manifest
from facepalsy.data.images import load_image
from facepalsy.errors import BadImageError, DataError, FacepalsyError

FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def _valid(kind: str) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((48, 48), 40).convert("RGB").save(buffer, kind)
    return buffer.getvalue()


VALID = {"JPEG": _valid("JPEG"), "PNG": _valid("PNG")}


@st.composite
def image_bytes(draw) -> bytes:
    """Pure noise, a real header followed by noise, or a real image with bytes flipped or cut."""
    choice = draw(st.sampled_from(["noise", "header", "mutated", "cut"]))
    if choice == "noise":
        return draw(st.binary(max_size=2048))
    valid = VALID[draw(st.sampled_from(list(VALID)))]
    if choice == "header":
        return valid[: draw(st.integers(2, 64))] + draw(st.binary(max_size=2048))
    if choice == "cut":
        return valid[: draw(st.integers(0, len(valid)))]
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 20))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


@FUZZ
@given(content=image_bytes(), suffix=st.sampled_from([".jpg", ".png", ".bmp", ".webp"]))
def test_image_reader_raises_only_bad_image_error(scratch, content, suffix):
    path = scratch / f"fuzz{suffix}"
    path.write_bytes(content)
    try:
        image = load_image(path)
    except BadImageError as exc:
        assert str(path) in str(exc)
        return
    assert image.mode == "RGB" and min(image.size) >= 16


@FUZZ
@given(
    content=st.one_of(
        st.binary(max_size=1024),
        st.text(max_size=1024).map(str.encode),
        st.lists(
            st.lists(
                st.sampled_from(
                    ["path", "label", "subject", "palsy", "normal", "a.jpg", "../x.jpg", "", "s1", '"', ","]
                ),
                max_size=5,
            ),
            max_size=8,
        ).map(lambda rows: "\n".join(",".join(r) for r in rows).encode()),
    )
)
def test_manifest_reader_raises_only_data_error(scratch, content):
    manifest = scratch / "manifest.csv"
    manifest.write_bytes(content)
    try:
        samples = read_manifest(manifest)
    except DataError as exc:
        assert str(manifest) in str(exc)
        return
    assert all(s.label in (0, 1) and s.path and s.subject for s in samples)


@FUZZ
@given(
    content=st.one_of(
        st.binary(max_size=512),
        st.text(max_size=512).map(str.encode),
        st.dictionaries(
            st.sampled_from(["epochs", "lr", "backbone", "split", "seed", "unknown"]),
            st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=5), st.booleans(), st.none()),
            max_size=4,
        ).map(lambda d: "\n".join(f"{k}: {v!r}" for k, v in d.items()).encode()),
    )
)
def test_config_reader_raises_only_facepalsy_error(scratch, content):
    path = scratch / "config.yaml"
    path.write_bytes(content)
    try:
        config = load_config(path)
    except FacepalsyError as exc:
        assert str(path) in str(exc)
        return
    assert isinstance(config, Config)
