"""The accelerator figures of ``facepalsy bench``: on a CUDA GPU, images/s and the share of the device's own bf16
matrix-product peak, for inference and for training (frozen backbone and fine-tuned), the way the package runs them
(channels-last, bf16 autocast, augmentation on the device). The same code runs on the CPU for its test."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from facepalsy.bench.figures import DeviceFigures
from facepalsy.bench.timing import model_gflops
from facepalsy.config import Config
from facepalsy.inference.network import use_bf16
from facepalsy.models.network_parts import Normalize
from facepalsy.models.registry import create_model
from facepalsy.models.spec import Preprocess


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seconds(fn, device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn`` on ``device`` over ``repeats`` calls after a warm-up, waiting for the device."""
    fn()
    _synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def device_peak(device: torch.device, dtype: torch.dtype = torch.bfloat16, n: int = 8192, repeats: int = 5) -> float:
    """GFLOP/s of an n×n×n matrix product on ``device`` (8192: large enough to fill a data-centre GPU)."""
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    return 2 * n**3 / _seconds(lambda: a @ b, device, repeats) / 1e9


def bench_device(
    name: str, device: torch.device, size: int = 224, batch: int = 64, repeats: int = 5, peak_n: int = 8192
) -> DeviceFigures:
    """Inference and training throughput of backbone ``name`` on ``device``, against the device's bf16 peak."""
    gflops = model_gflops(create_model(name), size)
    peak = device_peak(device, n=peak_n)
    bf16 = use_bf16("auto", device)
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 2, (batch,), device=device)
    model = create_model(name).to(device).eval().to(memory_format=torch.channels_last)
    normalize = Normalize(Preprocess.for_backbone(name, size)).to(device)

    @torch.inference_mode()
    def infer() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            model(normalize(images).contiguous(memory_format=torch.channels_last))

    inference = batch / _seconds(infer, device, repeats)
    frozen, finetune = (
        batch / _train_step_seconds(name, size, finetune, images, labels, bf16, repeats) for finetune in (False, True)
    )
    # FLOPs per image: inference and a frozen backbone's training run forward only; fine-tuning ≈ 3× forward
    return DeviceFigures(
        device=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        backbone=name,
        size=size,
        batch=batch,
        bf16=bf16,
        bf16_peak_tflops=peak / 1000,
        inference_images_per_s=inference,
        train_frozen_images_per_s=frozen,
        train_finetune_images_per_s=finetune,
        inference_fraction_of_bf16_peak=inference * gflops / peak,
        train_frozen_fraction_of_bf16_peak=frozen * gflops / peak,
        train_finetune_fraction_of_bf16_peak=finetune * 3 * gflops / peak,
    )


def _train_step_seconds(
    name: str, size: int, finetune: bool, images: torch.Tensor, labels: torch.Tensor, bf16: bool, repeats: int
) -> float:
    """One training step as ``train`` makes it (augmentation on the device, bf16 autocast, Adam), on a batch."""
    from facepalsy.training.loop import PalsyModule

    config = Config(backbone=name, image_size=size, finetune=finetune, batch_size=len(images))
    module = PalsyModule(config.to_dict(), config.model_spec().preprocess.to_dict(), create_model(name))
    module = module.to(images.device).train()
    module.on_train_epoch_start()
    optimizer = module.configure_optimizers()

    def step() -> None:
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = module.logits(images, train=True)
        optimizer.zero_grad()
        F.cross_entropy(logits.float(), labels).backward()
        optimizer.step()

    return _seconds(step, images.device, repeats)
