"""facepalsy bench: speed and memory on this machine, each figure against the machine's own limit or the path it
replaces.

Measures the matrix-product peak (fp32 and bf16), then for each backbone at 224 px: batch
inference (plain fp32 PyTorch vs the fast path vs onnxruntime int8), single-image latency of
``predict`` from a JPEG (decode and face look-up included) against the network's own time for one
image, training throughput with the paper's augmentation (frozen backbone and fine-tuned) and peak
memory. Then, once: a leave-one-subject-out cross-validation with a shared feature bank against one
of its folds alone, the landmark path against the face mesh it is built on, and a 60 s 720p video
analysed at 6 fps (face, CNN, landmarks) against real time. Weights are random: speed does not
depend on them; int8 label agreement needs trained weights (``--run``).
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facepalsy.bench.extras import bench_shared_features
from facepalsy.bench.figures import BackboneFigures, BenchResult, Int8Figures
from facepalsy.bench.gpu import bench_device
from facepalsy.bench.landmark_path import bench_landmark_path
from facepalsy.bench.timing import face_photo, model_gflops, timed
from facepalsy.bench.video_timing import bench_video, cpu_features
from facepalsy.config import Config
from facepalsy.data.model_input import FacePolicy
from facepalsy.errors import FacepalsyError
from facepalsy.inference.export import Int8Check
from facepalsy.inference.network import predict_probabilities, use_bf16
from facepalsy.inference.predictor import Predictor
from facepalsy.models.network_parts import Normalize
from facepalsy.models.registry import create_model
from facepalsy.models.spec import ModelSpec, Preprocess


def matmul_peak(dtype: torch.dtype, largest: int = 2048, repeats: int = 5, enough_seconds: float = 0.25) -> float:
    """GFLOP/s of an n×n×n matrix product, n doubled from 256 until one product takes ``enough_seconds`` (at most
    ``largest``): large enough to reach the peak, and minutes shorter where a type is emulated (bf16 without AVX-512
    BF16 runs about 50× slower than fp32, and a 2048 product took 30 s)."""
    n = 256
    while True:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        start = time.perf_counter()
        a @ b
        if n >= largest or time.perf_counter() - start >= enough_seconds:
            return 2 * n**3 / timed(lambda a=a, b=b: a @ b, repeats) / 1e9
        n *= 2


def bench_backbone(
    name: str, size: int = 224, batch: int = 16, repeats: int = 3, precision: str = "auto"
) -> BackboneFigures:
    """One backbone's inference, predict latency, int8 and training figures on the CPU."""
    model = create_model(name).eval()
    spec = ModelSpec(name, Preprocess.for_backbone(name, size), FacePolicy())
    preprocess = spec.preprocess
    gflops = model_gflops(model, size)
    images = np.random.default_rng(0).integers(0, 256, (batch, 3, size, size), dtype=np.uint8)
    normalize = Normalize(preprocess)

    def plain():
        with torch.no_grad():
            model.to(memory_format=torch.contiguous_format)(normalize(torch.tensor(images)))

    baseline = timed(plain, repeats) / batch
    fast = (
        timed(lambda: predict_probabilities(model, preprocess, images, batch_size=batch, precision=precision), repeats)
        / batch
    )
    one = timed(
        lambda: predict_probabilities(model, preprocess, images[:1], batch_size=1, precision=precision),
        max(repeats, 10),
    )

    with tempfile.TemporaryDirectory() as tmp:
        jpeg = Path(tmp) / "face.jpg"
        face_photo().save(jpeg, quality=90)
        face_spec = ModelSpec(
            name, spec.preprocess, FacePolicy(required=True)
        )  # the default for new runs: no face, no verdict
        predictor = Predictor(
            face_spec, model, precision=precision
        )  # the whole path: decode, face look-up, resize, network, label
        assert predictor.predict(jpeg).ok, "the bench photo's face was not found"
        latency = timed(lambda: predictor.predict(jpeg), max(repeats, 20))
        try:
            int8, int8_note = bench_int8(model, spec, images, batch, repeats, Path(tmp)), None
        except (ImportError, FacepalsyError) as exc:
            int8, int8_note = None, f"int8 not measured: {exc}"
    return BackboneFigures(
        backbone=name,
        size=size,
        gflop_per_image=gflops,
        bf16=use_bf16(precision, torch.device("cpu")),
        inference_fp32_plain_ms=1000 * baseline,
        inference_fast_ms=1000 * fast,
        inference_fast_images_per_s=1 / fast,
        inference_fast_gflops=gflops / fast,
        speedup_vs_plain=baseline / fast,
        int8=int8,
        network_one_image_ms=1000 * one,
        predict_latency_ms=1000 * latency,
        latency_over_network_time=latency / one,
        **_bench_training(name, size, batch, repeats, precision),
        peak_memory_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        int8_note=int8_note,
    )


def bench_int8(
    model: nn.Module, spec: ModelSpec, images: np.ndarray, batch: int, repeats: int, tmp: Path
) -> Int8Figures:
    """onnxruntime int8 (static quantisation, calibrated on ``images``) against the fast path, in images/s; random
    weights: speed only (agreement: ``--run``)."""
    from facepalsy.inference.export import write_onnx_int8
    from facepalsy.inference.onnx_engine import OnnxEngine

    engine = OnnxEngine(write_onnx_int8(Predictor(spec, model), images, tmp / "int8.onnx"))
    fast = timed(lambda: predict_probabilities(model, spec.preprocess, images, batch_size=batch), repeats) / batch
    quantised = timed(lambda: engine.predict_proba(images, batch), repeats) / batch
    return Int8Figures(1000 * quantised, 1 / quantised, fast / quantised)


def bench_int8_agreement(run: Path) -> Int8Check:
    """The int8 file's agreement with PyTorch fp32 on a trained run's validation images (written beside the run by
    export)."""
    from facepalsy.inference.export import export_run_int8
    from facepalsy.inference.predictor import load
    from facepalsy.runfolder import RunFolder, read_json

    try:
        export_run_int8(load(run), progress=False)
    except FacepalsyError:  # refused by the agreement check: its figures are still on record
        pass
    return Int8Check.from_dict(read_json(RunFolder(run).onnx_int8_check))


def _bench_training(
    name: str, size: int = 224, batch: int = 16, repeats: int = 3, precision: str = "auto", batches: int = 2
) -> dict[str, float]:
    """Training epochs on ``batches`` × ``batch`` JPEGs with the paper's augmentation: the plain pipeline vs
    facepalsy's.

    Plain: decode and resize each image from disk every epoch, augment image by image, fp32.
    facepalsy: images decoded once into a uint8 array, augmented on the device in batches,
    channels-last, bf16 autocast where native (``PalsyModule.logits``, the training code itself).
    Also an epoch of the head alone on cached features (``--feature-cache``), against a normal one.
    """
    from PIL import Image

    from facepalsy.data.images import load_image, resize_square

    rng = np.random.default_rng(2)
    bf16 = use_bf16(precision, torch.device("cpu"))
    labels = torch.randint(0, 2, (batch,))
    epochs_timed = max(1, repeats - 1)
    with tempfile.TemporaryDirectory() as tmp:
        files = [Path(tmp) / f"{i}.jpg" for i in range(batch * batches)]
        for file in files:
            Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(file, quality=90)
        decoded = torch.from_numpy(
            np.stack([resize_square(load_image(f), size).transpose(2, 0, 1) for f in files])
        )  # once per run

        frozen = _module(name, size, finetune=False)
        fast = timed(lambda: _epoch(frozen, list(decoded.split(batch)), labels, bf16), epochs_timed)
        plain_trainee = _module(name, size, finetune=False)
        plain_module = plain_trainee[0]
        plain_module.model.to(memory_format=torch.contiguous_format)

        def plain_epoch():
            for i in range(0, len(files), batch):
                per_image = [
                    plain_module.train_transform(
                        torch.from_numpy(resize_square(load_image(f), size).transpose(2, 0, 1).copy())[None]
                    )
                    for f in files[i : i + batch]
                ]
                _train_step(plain_trainee, plain_module.model(torch.cat(per_image)), labels)

        plain = timed(plain_epoch, epochs_timed)
        features = (
            frozen[0].pooled_features(decoded, True, batch, bf16).clone()
        )  # a normal tensor, as the DataLoader gives
        head_only = _module(name, size, finetune=False, feature_cache=4, model=frozen[0].model)
        cached = timed(lambda: _epoch(head_only, list(features.split(batch)), labels, False), repeats)
        finetuned = _module(name, size, finetune=True)
        finetune = timed(lambda: _epoch(finetuned, list(decoded.split(batch)), labels, bf16), epochs_timed)
    return {
        "train_frozen_images_per_s": len(files) / fast,
        "train_frozen_plain_images_per_s": len(files) / plain,
        "train_frozen_speedup_vs_plain": plain / fast,
        "feature_cache_epoch_fraction": cached / fast,
        "train_finetune_images_per_s": len(files) / finetune,
    }


def _module(name: str, size: int, finetune: bool, feature_cache: int = 0, model=None) -> tuple:
    """The training module (on ``model``, else a new one), as at the start of an epoch, and its optimizer."""
    from facepalsy.training.loop import PalsyModule

    config = Config(backbone=name, image_size=size, finetune=finetune, feature_cache=feature_cache)
    module = PalsyModule(
        config.to_dict(), config.model_spec().preprocess.to_dict(), model or create_model(name)
    ).train()
    module.on_train_epoch_start()
    return module, module.configure_optimizers()


def _epoch(trainee, batches: list[torch.Tensor], labels: torch.Tensor, bf16: bool) -> None:
    module, _ = trainee
    for inputs in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = module.logits(inputs, train=True)
        _train_step(trainee, logits, labels)


def _train_step(trainee, logits: torch.Tensor, labels: torch.Tensor) -> None:
    """Backward and an Adam step on what requires gradients (the head alone when the backbone is frozen)."""
    _, optimizer = trainee
    optimizer.zero_grad()
    F.cross_entropy(logits.float(), labels[: len(logits)]).backward()
    optimizer.step()


def run_bench(
    backbones: tuple[str, ...] = ("vgg16", "vgg19", "efficientnet_lite0"),
    size: int = 224,
    batch: int = 16,
    repeats: int = 3,
    precision: str = "auto",
    run: Path | None = None,
    extras: bool = True,
    photos: list[Path] | None = None,
    landmarks_only: bool = False,
) -> BenchResult:
    """Every figure, measured in this one process; ``run``: a trained run whose int8 agreement is measured; ``photos``:
    folders of real photos for the landmark figures; ``extras=False`` skips the cross-validation, landmark and video
    figures; ``landmarks_only`` measures the landmark path's figures alone."""
    from facepalsy.face.detect import FACE_INSTALL, mediapipe_available

    if landmarks_only:
        if not mediapipe_available():
            raise FacepalsyError(f"the landmark path's figures need the face extra: {FACE_INSTALL}")
        bench = BenchResult(cpu_features(), torch.get_num_threads(), {}, [])
        bench.landmarks = bench_landmark_path(photos, count=80 if photos else 12)
        return bench
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    results = [bench_backbone(name, size, batch, repeats, precision) for name in backbones]
    for r in results:
        peak = peaks["bf16" if r.bf16 else "fp32"]
        r.inference_fraction_of_peak = r.inference_fast_gflops / peak
        r.predict_latency_fraction_of_peak = r.gflop_per_image / (r.predict_latency_ms / 1000) / peak
        # training FLOPs: a frozen backbone runs forward only (the head is negligible); fine-tuning ≈ 3× forward
        r.train_frozen_fraction_of_peak = r.train_frozen_images_per_s * r.gflop_per_image / peak
        r.train_finetune_fraction_of_peak = r.train_finetune_images_per_s * 3 * r.gflop_per_image / peak
        r.train_frozen_plain_fraction_of_fp32_peak = (
            r.train_frozen_plain_images_per_s * r.gflop_per_image / peaks["fp32"]
        )
    bench = BenchResult(cpu_features(), torch.get_num_threads(), peaks, results)
    bench.notes += [r.int8_note for r in results if r.int8_note]
    if torch.cuda.is_available():
        bench.gpu = [bench_device(name, torch.device("cuda"), size) for name in backbones]
    if run is not None:
        bench.int8_run, bench.int8_agreement = str(run), bench_int8_agreement(run)
    if extras:
        bench.shared_features = bench_shared_features(backbones[0])
        if mediapipe_available():
            bench.landmarks = bench_landmark_path(photos, count=80 if photos else 12)
            bench.video = bench_video(backbones[0])
        else:
            bench.notes.append("landmark and video figures: the face extra is not installed")
    return bench
