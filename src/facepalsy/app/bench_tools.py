"""What every ``bench`` figure shares: the timer (median after a warm-up call) and a drawn face photo."""

from __future__ import annotations

import statistics
import time

import numpy as np


def timed(fn, repeats: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def face_photo(size: tuple[int, int] = (640, 480), seed: int = 5):
    """A drawn face on a plain 640×480 photo, as a phone portrait would frame it."""
    from PIL import Image

    from facepalsy.data.synth import draw_face, make_identity

    rng = np.random.default_rng(seed)
    face = draw_face(make_identity(rng, palsy=True), rng, 360).convert("RGB")
    photo = Image.new("RGB", size, (128, 132, 140))
    photo.paste(face, ((size[0] - 360) // 2, (size[1] - 360) // 2))
    return photo
