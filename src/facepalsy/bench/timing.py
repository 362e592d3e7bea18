"""What every ``bench`` figure shares: the timer (median after a warm-up call), a drawn face photo and a network's
FLOPs."""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from torch import nn


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


def model_gflops(model: nn.Module, size: int) -> float:
    """Forward GFLOPs per image (2 × multiply-adds of convolutions and linear layers)."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += (
                2 * output.numel() * module.in_channels * module.kernel_size[0] * module.kernel_size[1] // module.groups
            )
        elif isinstance(module, nn.Linear):
            total += 2 * module.in_features * module.out_features * output.shape[0]

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for hook in hooks:
        hook.remove()
    return total / 1e9
