"""The typed figures of ``facepalsy bench``: what each measurement found, with its fields documented.

Each says what it is once: ``to_dict()`` for ``--json``, ``line()`` or ``ROWS`` for the terminal, which only draws
them. Times are medians after a warm-up call; "fraction of peak" divides achieved GFLOP/s by the matrix-product peak
measured in the same process.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from facepalsy.inference.export import Int8Check


@dataclass(frozen=True)
class BenchFigure:
    """One row of the per-backbone table: its label, the field of BackboneFigures it shows and its format."""

    label: str
    name: str  # a field of BackboneFigures; "int8.…" for one of its Int8Figures
    format: str

    def cell(self, figures: BackboneFigures) -> str:
        value = figures
        for part in self.name.split("."):
            value = getattr(value, part) if value is not None else None
        return "—" if value is None else self.format.format(value)


@dataclass(frozen=True)
class CpuInfo:
    """The CPU the figures were measured on: its name, torch's vector capability and the flags that decide bf16 and
    int8 speed."""

    name: str
    torch_capability: str
    flags: dict[str, bool]
    logical_cpus: int | None


@dataclass(frozen=True)
class Int8Figures:
    """onnxruntime int8 (static quantisation) against the fast path, in images/s (random weights: speed only)."""

    inference_int8_ms: float
    inference_int8_images_per_s: float
    int8_speedup_vs_fast_path: float


@dataclass
class BackboneFigures:
    """One backbone's speed and memory on the CPU: inference, predict latency and training, each against the plain
    path it replaces and the machine's matrix-product peak."""

    backbone: str
    size: int
    gflop_per_image: float  # forward FLOPs of one image
    bf16: bool  # whether the fast path used bf16 here
    inference_fp32_plain_ms: float
    inference_fast_ms: float
    inference_fast_images_per_s: float
    inference_fast_gflops: float
    speedup_vs_plain: float
    int8: Int8Figures | None  # None: onnxruntime missing or the export refused (int8_note says which)
    network_one_image_ms: float
    predict_latency_ms: float  # from a JPEG: decode, face look-up, resize, network, label
    latency_over_network_time: float
    train_frozen_images_per_s: float
    train_frozen_plain_images_per_s: float  # per-image decode and augmentation, fp32
    train_frozen_speedup_vs_plain: float
    feature_cache_epoch_fraction: float  # an epoch of the head on cached features / a normal epoch
    train_finetune_images_per_s: float
    peak_memory_mb: float  # of the process so far
    int8_note: str | None = None
    # against the matrix-product peak of the precision used (filled in by run_bench, which measures the peaks)
    inference_fraction_of_peak: float | None = None
    predict_latency_fraction_of_peak: float | None = None
    train_frozen_fraction_of_peak: float | None = None  # forward FLOPs (the head is negligible)
    train_finetune_fraction_of_peak: float | None = None  # 3× forward FLOPs
    train_frozen_plain_fraction_of_fp32_peak: float | None = None

    def to_dict(self) -> dict:
        values = asdict(self)
        int8 = values.pop("int8")
        return {**values, **(int8 or {})}

    ROWS = (
        BenchFigure("GFLOP per image", "gflop_per_image", "{:.1f}"),
        BenchFigure("fast path uses bf16", "bf16", "{}"),
        BenchFigure("inference, plain fp32 (ms/image)", "inference_fp32_plain_ms", "{:.0f}"),
        BenchFigure("inference, fast path (ms/image)", "inference_fast_ms", "{:.0f}"),
        BenchFigure("fast path images/s", "inference_fast_images_per_s", "{:.1f}"),
        BenchFigure("fast path GFLOP/s", "inference_fast_gflops", "{:.0f}"),
        BenchFigure("fast path, fraction of matmul peak", "inference_fraction_of_peak", "{:.0%}"),
        BenchFigure("speed-up vs plain fp32", "speedup_vs_plain", "{:.2f}×"),
        BenchFigure("onnxruntime int8 images/s", "int8.inference_int8_images_per_s", "{:.1f}"),
        BenchFigure("int8 speed-up vs fast path", "int8.int8_speedup_vs_fast_path", "{:.2f}×"),
        BenchFigure("network alone, one image (ms)", "network_one_image_ms", "{:.0f}"),
        BenchFigure("predict latency from JPEG (ms, median)", "predict_latency_ms", "{:.0f}"),
        BenchFigure("latency / network's one-image time", "latency_over_network_time", "{:.2f}"),
        BenchFigure("predict latency, fraction of matmul peak", "predict_latency_fraction_of_peak", "{:.0%}"),
        BenchFigure("training images/s, frozen backbone", "train_frozen_images_per_s", "{:.1f}"),
        BenchFigure("  fraction of matmul peak (forward FLOPs)", "train_frozen_fraction_of_peak", "{:.0%}"),
        BenchFigure("training images/s, frozen, plain per-image fp32", "train_frozen_plain_images_per_s", "{:.1f}"),
        BenchFigure("  fraction of fp32 matmul peak", "train_frozen_plain_fraction_of_fp32_peak", "{:.0%}"),
        BenchFigure("training speed-up vs plain", "train_frozen_speedup_vs_plain", "{:.2f}×"),
        BenchFigure("--feature-cache epoch / normal epoch", "feature_cache_epoch_fraction", "{:.1%}"),
        BenchFigure("training images/s, fine-tuned", "train_finetune_images_per_s", "{:.1f}"),
        BenchFigure("  fraction of matmul peak (3× forward FLOPs)", "train_finetune_fraction_of_peak", "{:.0%}"),
        BenchFigure("peak memory (MB, process)", "peak_memory_mb", "{:.0f}"),
    )


@dataclass(frozen=True)
class DeviceFigures:
    """One backbone on an accelerator (a CUDA GPU; the CPU in the test): images/s and the share of the device's own
    bf16 matrix-product peak."""

    device: str
    backbone: str
    size: int
    batch: int
    bf16: bool
    bf16_peak_tflops: float
    inference_images_per_s: float
    train_frozen_images_per_s: float
    train_finetune_images_per_s: float
    inference_fraction_of_bf16_peak: float
    train_frozen_fraction_of_bf16_peak: float  # forward FLOPs
    train_finetune_fraction_of_bf16_peak: float  # 3× forward FLOPs


@dataclass(frozen=True)
class SharedFeatureFigures:
    """Leave-one-subject-out with a feature bank shared by the folds, against one of its folds trained alone."""

    backbone: str
    size: int
    subjects: int
    images: int
    views: int  # --feature-cache views
    epochs: int
    lopo_seconds: float
    one_fold_alone_seconds: float
    lopo_over_one_run: float
    backbone_passes_lopo: int
    backbone_passes_one_run: int
    backbone_passes_ratio: float

    def line(self) -> str:
        return (
            f"leave-one-subject-out, {self.subjects} folds ({self.backbone}, {self.size} px, {self.images} images, "
            f"{self.views} views, {self.epochs} epochs): {self.lopo_seconds:.0f} s vs "
            f"{self.one_fold_alone_seconds:.0f} s for one fold alone = {self.lopo_over_one_run:.2f}×; backbone "
            f"passes {self.backbone_passes_lopo} vs {self.backbone_passes_one_run} = {self.backbone_passes_ratio:.2f}×"
        )


@dataclass(frozen=True)
class LandmarkPathFigures:
    """The landmark path against the face mesh it is built on (``bench/landmark_path.py``), in one process."""

    photos: int
    source: str  # the photo folders, or "drawn faces on 640×480"
    mesh_ms_per_photo: float  # MediaPipe's static face mesh alone, on the decoded photo
    ms_per_photo: float  # decode, find, measure on JITTER's views and read: the one reading of a photo
    photo_ratio: float  # ms_per_photo / mesh_ms_per_photo
    frames: int  # analysed frames of a clip made of the photos (6 fps of 30)
    tracking_ms_per_frame: float  # MediaPipe's face mesh in tracking mode alone
    ms_per_frame: float  # follow, measure, read
    frame_ratio: float
    start_up_one_photo_s: float  # ``facepalsy asymmetry PHOTO`` as a process, launch to exit (best of 3)
    folder_photos_per_s: float  # ``facepalsy asymmetry --json FOLDER`` over the photos, start-up included

    def lines(self) -> list[str]:
        return [
            f"landmark path per photo ({self.photos} photos, {self.source}): {self.ms_per_photo:.1f} ms vs "
            f"{self.mesh_ms_per_photo:.1f} ms for MediaPipe's static pass alone = {self.photo_ratio:.2f}× "
            "(read on JITTER's views)",
            f"landmark path per video frame ({self.frames} frames): {self.ms_per_frame:.1f} ms vs "
            f"{self.tracking_ms_per_frame:.1f} ms for MediaPipe's tracking pass alone = {self.frame_ratio:.2f}×",
            f"start-up plus one photo (facepalsy asymmetry): {self.start_up_one_photo_s:.2f} s; a folder of "
            f"{self.photos}: {self.folder_photos_per_s:.1f} photos per second, start-up included",
        ]


@dataclass(frozen=True)
class EngineVideoFigures:
    """A clip analysed as the exam does it (decode, face, landmarks, CNN) on one engine."""

    frames_analysed: int
    frames_measured: int
    face_searches: int  # whole-frame face searches (the rest are followed)
    analysis_seconds: float
    real_time_factor: float  # clip seconds / analysis seconds
    ms_per_frame: float
    network_one_image_ms: float
    per_frame_over_yardstick: float  # a frame's time / (one image through the engine + one landmark measure)

    def line(self, engine: str, clip: VideoFigures) -> str:
        return (
            f"video ({engine}): {clip.seconds} s of {clip.size.replace('x', '×')} at {clip.source_fps} fps, "
            f"{self.frames_analysed} frames analysed (face, landmarks, CNN) in {self.analysis_seconds:.1f} s = "
            f"{self.real_time_factor:.2f}× real time"
        )


@dataclass(frozen=True)
class SearchedFigures:
    """The same clip with a face search in every frame, and how the tracked path's verdicts agree with it."""

    analysis_seconds: float
    ms_per_frame: float
    same_video_label: bool
    mean_p_palsy_difference: float
    same_rest_frame: bool
    same_peak_frames: bool
    frames_measured: list[int]  # tracked, searched
    region_score_difference_median: float | None
    region_score_difference_max: float | None


@dataclass(frozen=True)
class VideoFigures:
    """A drawn-face clip analysed at ``analysed_fps`` on each engine, against real time."""

    seconds: int
    source_fps: int
    size: str  # "1280x720"
    analysed_fps: float
    landmark_measure_ms: float
    engines: dict[str, EngineVideoFigures]  # "torch", and "onnx-int8" with onnxruntime
    searched_every_frame: SearchedFigures

    def to_dict(self) -> dict:
        values = asdict(self)
        return {**{k: v for k, v in values.items() if k != "engines"}, **values["engines"]}

    def lines(self) -> list[str]:
        return [figures.line(engine, self) for engine, figures in self.engines.items()]


@dataclass
class BenchResult:
    """Every figure of one ``facepalsy bench``, measured in one process; a figure not measured is None, with a note
    saying why."""

    cpu: CpuInfo
    threads: int
    matmul_peak_gflops: dict[str, float]  # "fp32", "bf16"
    backbones: list[BackboneFigures]
    gpu: list[DeviceFigures] | None = None  # with a CUDA GPU
    int8_run: str | None = None  # --run: a trained run whose int8 file was checked
    int8_agreement: Int8Check | None = None  # its check against fp32 on the run's validation images
    shared_features: SharedFeatureFigures | None = None
    landmarks: LandmarkPathFigures | None = None
    video: VideoFigures | None = None
    notes: list[str] = field(default_factory=list)  # figures not measured, and why

    def to_dict(self) -> dict:
        values = {
            "cpu": asdict(self.cpu),
            "threads": self.threads,
            "matmul_peak_gflops": self.matmul_peak_gflops,
            "backbones": [b.to_dict() for b in self.backbones],
            "notes": self.notes,
        }
        if self.gpu is not None:
            values["gpu"] = [asdict(g) for g in self.gpu]
        if self.int8_agreement is not None:
            values["int8_agreement"] = {"run": self.int8_run, **self.int8_agreement.to_dict()}
        for name in ("shared_features", "landmarks"):
            if getattr(self, name) is not None:
                values[name] = asdict(getattr(self, name))
        if self.video is not None:
            values["video"] = self.video.to_dict()
        return values

    def lines(self) -> list[str]:
        """The figures measured once (int8 agreement, shared features, landmarks, video), one line each."""
        lines = []
        if self.int8_agreement:
            kept = "kept" if self.int8_agreement.kept else "refused by the export check"
            lines.append(f"int8 of {self.int8_run}: {self.int8_agreement.sentence()} ({kept})")
        lines += [self.shared_features.line()] if self.shared_features else []
        lines += self.landmarks.lines() if self.landmarks else []
        lines += self.video.lines() if self.video else []
        return lines + [f"not measured: {note}" for note in self.notes]
