"""facepalsy bench: speed and memory on this machine, each figure against the machine's own limit or the path it
replaces.

Measures the matrix-product peak (fp32 and bf16), then for each backbone at 224 px: batch
inference (plain fp32 PyTorch vs the fast path vs onnxruntime int8), single-image latency of
``predict`` from a JPEG (decode and face look-up included) against the network's own time for one
image, training throughput with the paper's augmentation (frozen backbone and fine-tuned) and peak
memory. Then, once: a leave-one-subject-out cross-validation with a shared feature bank against one
of its folds alone, the landmark measurement against the previous one, and a 60 s 720p video
analysed at 6 fps (face, CNN, landmarks) against real time. Weights are random: speed does not
depend on them; int8 label agreement needs trained weights (``--run``).
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facepalsy.data.model_input import FacePolicy
from facepalsy.inference.predictor import Predictor, predict_probabilities, use_bf16
from facepalsy.models.spec import ModelSpec, Normalize, Preprocess
from facepalsy.models.vgg import create_model
from facepalsy.training.config import Config


def _timed(fn, repeats: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
            return 2 * n**3 / _timed(lambda a=a, b=b: a @ b, repeats) / 1e9
        n *= 2


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


def bench_backbone(name: str, size: int = 224, batch: int = 16, repeats: int = 3, precision: str = "auto") -> dict:
    model = create_model(name).eval()
    spec = ModelSpec(name, Preprocess.for_backbone(name, size), FacePolicy())
    preprocess = spec.preprocess
    gflops = model_gflops(model, size)
    images = np.random.default_rng(0).integers(0, 256, (batch, 3, size, size), dtype=np.uint8)
    normalize = Normalize(preprocess)

    def plain():
        with torch.no_grad():
            model.to(memory_format=torch.contiguous_format)(normalize(torch.tensor(images)))

    baseline = _timed(plain, repeats) / batch
    fast = (
        _timed(lambda: predict_probabilities(model, preprocess, images, batch_size=batch, precision=precision), repeats)
        / batch
    )
    one = _timed(
        lambda: predict_probabilities(model, preprocess, images[:1], batch_size=1, precision=precision),
        max(repeats, 10),
    )

    with tempfile.TemporaryDirectory() as tmp:
        jpeg = Path(tmp) / "face.jpg"
        _face_photo().save(jpeg, quality=90)
        face_spec = ModelSpec(
            name, spec.preprocess, FacePolicy(required=True)
        )  # the default for new runs: no face, no verdict
        predictor = Predictor(
            face_spec, model, precision=precision
        )  # the whole path: decode, face look-up, resize, network, label
        assert predictor.predict(jpeg).ok, "the bench photo's face was not found"
        latency = _timed(lambda: predictor.predict(jpeg), max(repeats, 20))
        int8 = bench_int8(model, spec, images, batch, repeats, Path(tmp))

    result = {
        "backbone": name,
        "size": size,
        "gflop_per_image": gflops,
        "bf16": use_bf16(precision, torch.device("cpu")),
        "inference_fp32_plain_ms": 1000 * baseline,
        "inference_fast_ms": 1000 * fast,
        "inference_fast_images_per_s": 1 / fast,
        "inference_fast_gflops": gflops / fast,
        "speedup_vs_plain": baseline / fast,
        **int8,
        "network_one_image_ms": 1000 * one,
        "predict_latency_ms": 1000 * latency,
        "latency_over_network_time": latency / one,
    }
    result.update(bench_training(name, size, batch, repeats, precision))
    result["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _face_photo(size: tuple[int, int] = (640, 480), seed: int = 5):
    """A drawn face on a plain 640×480 photo, as a phone portrait would frame it."""
    from PIL import Image

    from facepalsy.data.synth import draw_face, make_identity

    rng = np.random.default_rng(seed)
    face = draw_face(make_identity(rng, palsy=True), rng, 360).convert("RGB")
    photo = Image.new("RGB", size, (128, 132, 140))
    photo.paste(face, ((size[0] - 360) // 2, (size[1] - 360) // 2))
    return photo


def bench_int8(model: nn.Module, spec: ModelSpec, images: np.ndarray, batch: int, repeats: int, tmp: Path) -> dict:
    """onnxruntime int8 (static quantisation, calibrated on ``images``) against the fast path, in images/s."""
    from facepalsy.errors import FacepalsyError
    from facepalsy.inference.export import write_onnx_int8
    from facepalsy.inference.onnx_engine import OnnxEngine

    try:
        path = write_onnx_int8(
            Predictor(spec, model), images, tmp / "int8.onnx"
        )  # random weights: speed only (agreement: --run)
    except (ImportError, FacepalsyError) as exc:
        return {"int8": f"not measured: {exc}"}
    engine = OnnxEngine(path)
    fast = _timed(lambda: predict_probabilities(model, spec.preprocess, images, batch_size=batch), repeats) / batch
    quantised = _timed(lambda: engine.predict_proba(images, batch), repeats) / batch
    return {
        "inference_int8_ms": 1000 * quantised,
        "inference_int8_images_per_s": 1 / quantised,
        "int8_speedup_vs_fast_path": fast / quantised,
    }


def bench_int8_agreement(run: Path) -> dict:
    """The int8 file's agreement with PyTorch fp32 on a trained run's validation images (written beside the run by
    export)."""
    from facepalsy.errors import FacepalsyError
    from facepalsy.inference.export import export_run_int8
    from facepalsy.inference.predictor import load
    from facepalsy.runfolder import RunFolder, read_json

    try:
        export_run_int8(load(run), progress=False)
    except FacepalsyError:  # refused by the agreement check: its figures are still on record
        pass
    return {"run": str(run), **read_json(RunFolder(run).onnx_int8_check)}


def bench_shared_features(
    backbone: str = "vgg16",
    size: int = 112,
    subjects: int = 24,
    images_per_subject: int = 6,
    views: int = 4,
    epochs: int = 10,
) -> dict:
    """Leave-one-subject-out over ``subjects`` subjects with a frozen backbone and ``--feature-cache views``: the whole
    cross-validation (features shared by the folds) against one of its folds trained alone. Wall time and backbone
    passes."""
    from facepalsy.data.dataset import load_images, scan_dataset
    from facepalsy.data.synth import make_synthetic_dataset
    from facepalsy.runfolder import RunFolder
    from facepalsy.training import features
    from facepalsy.training.cv import fold_assignments, run_cv
    from facepalsy.training.train import build_model, fit_split

    with tempfile.TemporaryDirectory() as tmp:
        data = make_synthetic_dataset(
            Path(tmp) / "data",
            subjects=subjects,
            images_per_subject=images_per_subject,
            seed=7,
            size=size,
            progress=False,
        )
        config = Config(
            data=str(data),
            backbone=backbone,
            weights="none",
            image_size=size,
            epochs=epochs,
            feature_cache=views,
            face_required=False,
        )
        features._banks.clear()
        start = time.perf_counter()
        run_cv(config, Path(tmp) / "cv", "lopo", progress=False)
        whole = time.perf_counter() - start
        passes_whole = sum(bank.computed for bank in features._banks.values())
        features._banks.clear()
        images, samples, _ = load_images(data, scan_dataset(data), size, progress=False)
        assignment = fold_assignments(samples, "lopo", subjects, config.val_fraction, config.seed)[0]
        start = time.perf_counter()
        fit_split(
            config.replace(split="subject"),
            RunFolder(Path(tmp) / "alone").prepare(),
            build_model(config),
            images,
            samples,
            assignment,
            progress=False,
        )
        alone = time.perf_counter() - start
        passes_alone = sum(bank.computed for bank in features._banks.values())
        features._banks.clear()
    return {
        "backbone": backbone,
        "size": size,
        "subjects": subjects,
        "images": subjects * images_per_subject,
        "views": views,
        "epochs": epochs,
        "lopo_seconds": whole,
        "one_fold_alone_seconds": alone,
        "lopo_over_one_run": whole / alone,
        "backbone_passes_lopo": passes_whole,
        "backbone_passes_one_run": passes_alone,
        "backbone_passes_ratio": passes_whole / passes_alone,
    }


def _previous_asymmetry(rgb: np.ndarray) -> None:
    """The landmark measurement before this version, kept here as the yardstick: a pass on the photo, one on the aligned
    crop, then fifteen views (±6° × 0.92–1.08), each measured (its mirrored-landmark distances by broadcasting), and
    the median of the measures."""
    import cv2

    from facepalsy.face.asymmetry import CANONICAL_SIZE, eye_frame, measure
    from facepalsy.face.detect import align_face, detect_faces, largest_face

    crop = align_face(rgb, largest_face(rgb, backend="mediapipe"), CANONICAL_SIZE)
    largest_face(crop, backend="mediapipe")
    scores = []
    for degrees in (-6, -3, 0, 3, 6):
        for scale in (0.92, 1.0, 1.08):
            view = cv2.warpAffine(
                crop,
                cv2.getRotationMatrix2D((CANONICAL_SIZE / 2,) * 2, degrees, scale),
                (CANONICAL_SIZE,) * 2,
                borderMode=cv2.BORDER_REPLICATE,
            )
            for face in detect_faces(view, backend="mediapipe")[:1]:
                mesh = eye_frame(face.landmarks)[:468]
                nearest = np.sqrt(((mesh * [-1.0, 1.0])[:, None, :] - mesh[None, :, :]) ** 2).sum(axis=2).min(axis=1)
                scores.append((measure(face.landmarks).score, nearest.mean()))
    np.median(scores, axis=0)


def bench_landmarks(photos: Path | None = None, count: int = 12) -> dict:
    """ms per photo of ``image_asymmetry`` against the previous measurement: on ``count`` photos of the folder
    ``photos``
    (the first with a face), else on ``count`` drawn faces."""
    from facepalsy.data.images import IMAGE_EXTENSIONS, as_rgb_array
    from facepalsy.errors import BadImageError
    from facepalsy.face.asymmetry import image_asymmetry
    from facepalsy.face.detect import mediapipe_available

    if not mediapipe_available():
        return {"landmarks": "not measured: the face extra is not installed"}
    if photos is None:
        faces, source = [np.asarray(_face_photo(seed=seed)) for seed in range(count)], "drawn faces on 640×480"
    else:
        faces, source = [], str(photos)
        for path in sorted(p for p in Path(photos).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS):
            try:
                rgb = as_rgb_array(path)
                image_asymmetry(rgb)
            except BadImageError:
                continue
            faces.append(rgb)
            if len(faces) == count:
                break
    now = _timed(lambda: [image_asymmetry(face) for face in faces], 2) / len(faces)
    before = _timed(lambda: [_previous_asymmetry(face) for face in faces], 2) / len(faces)
    return {
        "photos": len(faces),
        "source": source,
        "ms_per_photo": 1000 * now,
        "previous_ms_per_photo": 1000 * before,
        "speedup_vs_previous": before / now,
    }


def bench_video(backbone: str = "vgg16", seconds: int = 60, fps: float = 6.0, size: int = 224) -> dict:
    """A ``seconds`` s, 30 fps, 1280×720 clip of a drawn face, analysed at ``fps`` as the exam with --run does
    (decode, face, landmarks, CNN), with the torch fast path and with int8: its length over the analysis time."""
    import cv2

    from facepalsy.face.detect import mediapipe_available
    from facepalsy.face.norms import load_norms
    from facepalsy.workflows.exam import exam_video

    if not mediapipe_available():
        return {"video": "not measured: the face extra is not installed"}
    model = create_model(backbone).eval()
    spec = ModelSpec(backbone, Preprocess.for_backbone(backbone, size), FacePolicy(required=True))
    result = {"seconds": seconds, "source_fps": 30, "size": "1280x720", "analysed_fps": fps}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30, (1280, 720))
        face = cv2.cvtColor(np.asarray(_face_photo((360, 360))), cv2.COLOR_RGB2BGR)
        background = np.full((720, 1280, 3), 120, np.uint8)
        for i in range(30 * seconds):
            frame = background.copy()
            x = 460 + int(80 * np.sin(i / 40))
            frame[180:540, x : x + 360] = face
            writer.write(frame)
        writer.release()
        engines = {"torch": Predictor(spec, model)}
        try:
            from facepalsy.inference.export import write_onnx_int8
            from facepalsy.inference.onnx_engine import OnnxEngine

            calibration = np.stack(
                [np.asarray(_face_photo((size, size), seed)).transpose(2, 0, 1) for seed in range(16)]
            )
            path = write_onnx_int8(engines["torch"], calibration, Path(tmp) / "int8.onnx")
            engines["onnx-int8"] = Predictor(spec, model, onnx=OnnxEngine(path))
        except ImportError:
            pass
        norms = load_norms()
        for name, predictor in engines.items():
            start = time.perf_counter()
            measured, video = exam_video(clip, norms, fps, frames_for=predictor)
            predictor.video_verdict(clip, video["cnn_frames"], Path(tmp) / name)
            elapsed = time.perf_counter() - start
            result[name] = {
                "frames_analysed": video["frames"],
                "frames_measured": video["frames_measured"],
                "analysis_seconds": elapsed,
                "real_time_factor": seconds / elapsed,
            }
    return result


def bench_training(
    name: str, size: int = 224, batch: int = 16, repeats: int = 3, precision: str = "auto", batches: int = 2
) -> dict:
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
    timed = max(1, repeats - 1)
    with tempfile.TemporaryDirectory() as tmp:
        files = [Path(tmp) / f"{i}.jpg" for i in range(batch * batches)]
        for file in files:
            Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(file, quality=90)
        decoded = torch.from_numpy(
            np.stack([resize_square(load_image(f), size).transpose(2, 0, 1) for f in files])
        )  # once per run

        frozen = _module(name, size, finetune=False)
        fast = _timed(lambda: _epoch(frozen, list(decoded.split(batch)), labels, bf16), timed)
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

        plain = _timed(plain_epoch, timed)
        features = (
            frozen[0].pooled_features(decoded, True, batch, bf16).clone()
        )  # a normal tensor, as the DataLoader gives
        head_only = _module(name, size, finetune=False, feature_cache=4, model=frozen[0].model)
        cached = _timed(lambda: _epoch(head_only, list(features.split(batch)), labels, False), repeats)
        finetuned = _module(name, size, finetune=True)
        finetune = _timed(lambda: _epoch(finetuned, list(decoded.split(batch)), labels, bf16), timed)
    return {
        "train_frozen_images_per_s": len(files) / fast,
        "train_frozen_plain_images_per_s": len(files) / plain,
        "train_frozen_speedup_vs_plain": plain / fast,
        "feature_cache_epoch_fraction": cached / fast,
        "train_finetune_images_per_s": len(files) / finetune,
    }


def _module(name: str, size: int, finetune: bool, feature_cache: int = 0, model=None) -> tuple:
    """The training module (on ``model``, else a new one), as at the start of an epoch, and its optimizer."""
    from facepalsy.training.train import PalsyModule

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
    backbones: tuple[str, ...] = ("vgg16", "vgg19"),
    size: int = 224,
    batch: int = 16,
    repeats: int = 3,
    precision: str = "auto",
    run: Path | None = None,
    extras: bool = True,
    photos: Path | None = None,
) -> dict:
    """Every figure, measured in this one process; ``run``: a trained run whose int8 agreement is measured; ``photos``:
    a folder
    of real photos for the landmark figure; ``extras=False`` skips the cross-validation, landmark and video figures."""
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    results = [bench_backbone(name, size, batch, repeats, precision) for name in backbones]
    for r in results:
        peak = peaks["bf16" if r["bf16"] else "fp32"]
        r["inference_fraction_of_peak"] = r["inference_fast_gflops"] / peak
        r["predict_latency_fraction_of_peak"] = r["gflop_per_image"] / (r["predict_latency_ms"] / 1000) / peak
        # training FLOPs: a frozen backbone runs forward only (the head is negligible); fine-tuning ≈ 3× forward
        r["train_frozen_fraction_of_peak"] = r["train_frozen_images_per_s"] * r["gflop_per_image"] / peak
        r["train_finetune_fraction_of_peak"] = r["train_finetune_images_per_s"] * 3 * r["gflop_per_image"] / peak
        r["train_frozen_plain_fraction_of_fp32_peak"] = (
            r["train_frozen_plain_images_per_s"] * r["gflop_per_image"] / peaks["fp32"]
        )
    bench = {"threads": torch.get_num_threads(), "matmul_peak_gflops": peaks, "backbones": results}
    if run is not None:
        bench["int8_agreement"] = bench_int8_agreement(run)
    if extras:
        bench["shared_features"] = bench_shared_features(backbones[0])
        bench["landmarks"] = bench_landmarks(photos, count=40 if photos else 12)
        bench["video"] = bench_video(backbones[0])
    return bench
