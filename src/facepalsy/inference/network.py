"""Running a CNN on prepared pixels: bf16 autocast where the hardware has native bf16, channels-last, inference
mode, in batches; the one place the fast path's precision rule is written."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import torch

from facepalsy.data.dataset import PALSY
from facepalsy.errors import FacepalsyError
from facepalsy.models.network_parts import Normalize, PalsyNetwork
from facepalsy.models.spec import PRECISIONS, Preprocess


def use_bf16(precision: str, device: torch.device) -> bool:
    """bf16 autocast where it is fast: CUDA GPUs, and CPUs with native bf16 (AVX-512 BF16, AMX)."""
    if precision not in PRECISIONS:
        raise FacepalsyError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return False
    supported = device.type == "cuda" or (device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if precision == "bf16" and not supported:
        raise FacepalsyError(f"bf16 is not supported on this {device.type}; use --precision fp32 or auto")
    return supported


@torch.inference_mode()
def predict_probabilities(
    model: PalsyNetwork, preprocess: Preprocess, images: np.ndarray, batch_size: int = 32, precision: str = "auto"
) -> np.ndarray:
    """Palsy probability per image of an N×3×H×W uint8 array (already at the model's size).

    The fast path: inference mode, channels-last memory layout, and bf16 autocast where the
    hardware has it (``precision="fp32"`` turns it off; labels agree with fp32 on ≥ 99% of images).
    """
    model.eval()
    device = next(model.parameters()).device
    bf16 = use_bf16(precision, device)
    model = model.to(memory_format=torch.channels_last)
    normalize = Normalize(preprocess).to(device)
    out = []
    for start in range(0, len(images), batch_size):
        batch = normalize(torch.tensor(images[start : start + batch_size], device=device)).contiguous(
            memory_format=torch.channels_last
        )
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(batch)
        out.append(torch.softmax(logits.float(), dim=1)[:, PALSY].cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def run_now(function, *args) -> Future:
    """``function(*args)`` run in this thread, as a finished Future (its result, or its exception)."""
    future: Future = Future()
    try:
        future.set_result(function(*args))
    except BaseException as exc:  # the caller's future.result() raises it, as a pool's would
        future.set_exception(exc)
    return future
