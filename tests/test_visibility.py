"""Whether the eyes can be seen (face/visibility.py): bare eyes read visible; dark lenses, drawn or real, hidden."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from drawn_faces import with_lenses

from facepalsy.face.visibility import orbit_brightness
from facepalsy.models.side_differences import HIDDEN_EYES

WILD = Path(os.environ.get("FACEPALSY_WILD", Path(__file__).resolve().parents[2] / "shared" / "realfaces" / "wild"))
SUNGLASSES = ("Carla_Sullivan", "Florencia_Macri", "Annie-Jeanne_Reynaud")  # LFW news photos in dark glasses


def _mesh(rgb: np.ndarray):
    from facepalsy.face.detect import largest_face, mediapipe_available

    if not mediapipe_available():
        pytest.skip("finds the face mesh: the face extra")
    return largest_face(rgb, backend="mediapipe").landmarks


def test_dark_lenses_hide_the_eyes_and_bare_eyes_do_not():
    from facepalsy.bench.timing import face_photo

    rgb = np.asarray(face_photo())
    landmarks = _mesh(rgb)
    bare = orbit_brightness(rgb, landmarks)
    hidden = orbit_brightness(with_lenses(rgb, landmarks), landmarks)
    assert bare > 2 * HIDDEN_EYES and hidden < HIDDEN_EYES, (bare, hidden)
    one = with_lenses(rgb, landmarks)  # one lens only (a patch or a wink in shadow): the other eye is still seen
    one[:, rgb.shape[1] // 2 :] = rgb[:, rgb.shape[1] // 2 :]
    assert orbit_brightness(one, landmarks) > 2 * HIDDEN_EYES
    assert np.isnan(orbit_brightness(rgb, landmarks - 5000))  # regions off the image: no reading, not a guess


@pytest.mark.skipif(
    not WILD.is_dir(), reason=f"needs the LFW news photos at {WILD} (set FACEPALSY_WILD); not in the repo"
)
def test_real_news_photos_in_sunglasses_read_hidden_and_others_visible():
    from facepalsy.data.images import load_image
    from facepalsy.errors import BadImageError

    photos = sorted((WILD / "normal").glob("*.jpg"))
    for name in SUNGLASSES:
        rgb = np.asarray(load_image(WILD / "normal" / f"lfw_{name}_0001.jpg"))
        assert orbit_brightness(rgb, _mesh(rgb)) < HIDDEN_EYES, name
    others = [p for p in photos[:40] if not any(name in p.name for name in SUNGLASSES)]
    readings = []
    for path in others:
        rgb = np.asarray(load_image(path))
        try:
            readings.append(orbit_brightness(rgb, _mesh(rgb)))
        except BadImageError:  # no usable face in this photo: not what is tested here
            continue
    assert len(readings) >= 30 and min(readings) > HIDDEN_EYES, sorted(readings)[:5]
