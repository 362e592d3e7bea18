"""Training with Lightning: decode once, augment on the device, keep the best model and the curves.

``train(config, out)`` is the library entry point; the CLI's ``train`` is a thin wrapper.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Sequence

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch.utils.data import DataLoader, TensorDataset

from facepalsy.data.dataset import Sample, load_images, scan_dataset, split_samples, write_left_out
from facepalsy.errors import FacepalsyError, Interrupted, display_path
from facepalsy.evaluation.check import guard_split, perceptual_hashes
from facepalsy.evaluation.evaluate import evaluate_arrays, left_out_notes
from facepalsy.evaluation.metrics import binary_metrics, choose_operating_point, fit_temperature
from facepalsy.files import atomic_write, atomic_write_json
from facepalsy.inference.predictor import load, use_bf16
from facepalsy.log import console, quiet, verbose
from facepalsy.models.operating_point import OperatingPoint, apply_temperature
from facepalsy.models.spec import ModelSpec, Normalize, Preprocess
from facepalsy.models.vgg import VGGClassifier, create_model
from facepalsy.runfolder import CHECKPOINT_FORMAT, HISTORY_COLUMNS, RunFolder, is_rank_zero
from facepalsy.training.augment import TrainTransform
from facepalsy.training.config import Config, load_config, save_config
from facepalsy.training.features import backbone_digest, feature_bank


class PalsyModule(L.LightningModule):
    """The classifier plus its batch transforms; the config travels in the checkpoint's hparams."""

    def __init__(self, config: dict, preprocess: dict, model: VGGClassifier):
        super().__init__()
        self.save_hyperparameters(ignore=["model"])
        self.config = Config.from_dict(config)
        preprocess_ = Preprocess.from_dict(preprocess)
        self.model = model.to(
            memory_format=torch.channels_last
        )  # the fast layout for CPU (oneDNN) and GPU convolutions
        self.model.set_backbone_trainable(self.config.finetune)
        self.train_transform = TrainTransform(self.config, preprocess_)
        self.eval_transform = Normalize(preprocess_)

    def on_train_epoch_start(self) -> None:
        if not self.config.finetune:
            self.model.features.eval()  # a frozen backbone keeps its batch-norm statistics

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        if (
            batch_idx == 0
            # augmentation and dropout draw from a stream set by the seed and epoch alone, so --resume repeats them
            # exactly
        ):
            torch.manual_seed(self.config.seed + 1_000_003 * (self.current_epoch + 1))

    def logits(self, inputs: torch.Tensor, train: bool) -> torch.Tensor:
        """Class scores of a batch: uint8 images (transformed here, channels-last) or cached pooled features."""
        if self.config.feature_cache:  # inputs are cached pooled backbone features: only the head runs
            return self.model.head.forward_pooled(inputs)
        transform = self.train_transform if train else self.eval_transform
        return self.model(transform(inputs).contiguous(memory_format=torch.channels_last))

    def _step(self, batch, stage: str) -> torch.Tensor:
        inputs, labels = batch
        logits = self.logits(inputs, train=stage == "train")
        loss = F.cross_entropy(logits, labels)
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        for name, value in (("loss", loss), ("acc", accuracy)):  # sync_dist: averaged over DDP processes
            self.log(
                f"{stage}_{name}",
                value,
                on_step=False,
                on_epoch=True,
                prog_bar=True,
                batch_size=len(labels),
                sync_dist=True,
            )
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    @torch.inference_mode()
    def pooled_features(
        self, images: torch.Tensor, augment: bool, batch_size: int, bf16: bool, params: list | None = None
    ) -> torch.Tensor:
        """Global-average-pooled backbone features (N×512, fp32) of uint8 images, augmented or not
        (with ``params``, kornia's parameters for all N images: then N must fit one batch)."""
        self.model.features.eval()
        device = next(self.model.parameters()).device
        chunks = []
        for i in range(0, len(images), batch_size):
            chunk = images[i : i + batch_size].to(device)
            batch = (self.train_transform(chunk, params) if augment else self.eval_transform(chunk)).contiguous(
                memory_format=torch.channels_last
            )
            with torch.autocast(batch.device.type, dtype=torch.bfloat16, enabled=bf16):
                chunks.append(self.model.head.pool(self.model.forward_features(batch)).flatten(1).float())
        return torch.cat(chunks)

    def configure_optimizers(self):
        return torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=self.config.lr)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """A frozen backbone never changes, so the epoch checkpoints leave it out (58 MB per epoch for VGG16) and
        keep its digest; ``--resume`` rebuilds it from the run's weights and checks the digest."""
        if not self.config.finetune:
            state = checkpoint["state_dict"]
            for key in [k for k in state if k.startswith(BACKBONE_PREFIX)]:
                del state[key]
            checkpoint["facepalsy_backbone_digest"] = self._backbone_digest()

    def _backbone_digest(self) -> str:
        """The frozen backbone's digest, computed once (hashing VGG16's 58 MB takes about 0.1 s)."""
        if getattr(self, "_digest", None) is None:
            self._digest = backbone_digest(self.model)
        return self._digest

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        expected = checkpoint.get("facepalsy_backbone_digest")
        if expected is None:  # a checkpoint that carries its backbone
            return
        if expected != self._backbone_digest():
            raise FacepalsyError(
                f"the backbone weights ({self.config.weights}) differ from those the run started with; "
                "resume needs the same weights file, or start again with --overwrite"
            )
        checkpoint["state_dict"].update(
            {f"model.{k}": v for k, v in self.model.state_dict().items() if f"model.{k}".startswith(BACKBONE_PREFIX)}
        )


BACKBONE_PREFIX = "model.features."


class CachedViews(torch.utils.data.Dataset):
    """Cached features of K augmented views; epoch e reads view e mod K."""

    def __init__(self, views: torch.Tensor, labels: torch.Tensor, epoch: Callable[[], int]):
        self.views, self.labels, self.epoch = views, labels, epoch

    def __len__(self) -> int:
        return self.views.shape[1]

    def __getitem__(self, index: int):
        return self.views[self.epoch() % len(self.views), index], self.labels[index]


class EpochShuffle(torch.utils.data.Sampler):
    """A shuffled order that depends on the seed and the epoch alone.

    Lightning calls ``set_epoch`` before each epoch, so a run resumed at epoch e sees the same
    order as one that never stopped (a generator carried across epochs would not be restored).
    """

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(
            torch.randperm(
                self.size, generator=torch.Generator().manual_seed(self.seed + 1_000_003 * self.epoch)
            ).tolist()
        )

    def __len__(self) -> int:
        return self.size


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints through the project's atomic writer (a failed or killed write keeps the last good one),
    stamped with the format version that ``--resume`` checks."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        checkpoint["facepalsy_format_version"] = CHECKPOINT_FORMAT
        atomic_write(Path(path), lambda tmp: torch.save(checkpoint, tmp))


class RunRecorder(Callback):
    """Each epoch: append a row to history.csv and keep the model when the monitored loss improves.

    A fine-tuned model is written to model.pt at each improvement. With a frozen backbone only the
    head changes: the best head is kept in memory and model.pt (backbone + best head) is written
    once, when training ends, instead of 58 MB (VGG16) at every improvement. The recorder's state
    (history, best loss, best head) is stored in the Lightning checkpoint, so ``--resume`` continues
    the same curves and keeps the same best model.
    """

    def __init__(self, run: RunFolder, spec: ModelSpec, monitor: str):
        self.run, self.spec, self.monitor = run, spec, monitor
        self.history: list[dict[str, float]] = []
        self.best = math.inf
        self.best_head: dict[str, torch.Tensor] | None = None
        self.best_epoch: dict[str, float] = {}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: PalsyModule) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        row = {"epoch": trainer.current_epoch + 1, **{k: metrics.get(k, math.nan) for k in HISTORY_COLUMNS[1:]}}
        self.history.append(row)
        current = metrics.get(self.monitor, math.nan)
        improved = current < self.best
        self.best = min(self.best, current)
        if improved:
            self.best_epoch = {"epoch": row["epoch"], "val_loss": current}
            if not pl_module.config.finetune:
                self.best_head = {k: v.detach().cpu().clone() for k, v in pl_module.model.head.state_dict().items()}
        if not trainer.is_global_zero:  # every DDP process keeps the same state; one writes
            return
        self.run.write_history(self.history)
        if improved and pl_module.config.finetune:
            self.run.save_model(self.spec, state_dict=pl_module.model.state_dict(), **self.best_epoch)

    def on_train_end(self, trainer: L.Trainer, pl_module: PalsyModule) -> None:
        if trainer.is_global_zero and not pl_module.config.finetune and self.best_head is not None:
            state = {**pl_module.model.state_dict(), **{f"head.{k}": v for k, v in self.best_head.items()}}
            self.run.save_model(self.spec, state_dict=state, **self.best_epoch)

    def state_dict(self) -> dict:
        return {"history": self.history, "best": self.best, "best_head": self.best_head, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history, self.best = list(state_dict["history"]), float(state_dict["best"])
        self.best_head, self.best_epoch = state_dict.get("best_head"), state_dict.get("best_epoch", {})


def _quiet_lightning() -> None:
    """Keep Lightning's start-up chatter and data-loader hints out of the user's terminal (``-v`` lets its log lines
    through)."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.INFO if verbose() else logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    warnings.filterwarnings("ignore", message=".*treespec.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")  # --resume
    warnings.filterwarnings(
        "ignore", message=".*module\\(s\\) in eval mode at the start of training.*"
    )  # the frozen backbone, by design


def training_device(config: Config) -> torch.device:
    """The device type Lightning will train on, to decide on bf16 before the Trainer exists."""
    if config.accelerator in ("gpu", "cuda") or (config.accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("mps" if config.accelerator == "mps" else "cpu")


def build_model(config: Config) -> VGGClassifier | None:
    """The CNN to train (weights fetched now, so a missing file fails before any work), or None for the baseline."""
    from facepalsy.models.baseline import NAME as BASELINE

    if config.backbone == BASELINE:
        return None
    with torch.random.fork_rng(devices=[]):  # initial weights depend on the seed alone, not on what ran before
        torch.manual_seed(config.seed)
        return create_model(config.backbone, weights=config.weights)


def train(
    config: Config,
    out: str | Path,
    overwrite: bool = False,
    progress: bool = True,
    notes: tuple[str, ...] = (),
    callbacks: Sequence[Callback] = (),
) -> dict:
    """Train a new run: split, fit, keep the best model by validation loss, evaluate it on the test split.

    Writes the run folder (config, split, leakage, history, model, metrics, figures, report) and
    returns the test metrics. ``notes`` are extra lines for the report (the demo explains its choices);
    ``callbacks`` are extra Lightning callbacks. Under DDP, processes other than rank 0 train, write
    nothing and return an empty dict.
    """
    if not config.data:
        raise FacepalsyError("no data folder given (config.data is empty)")
    samples = scan_dataset(config.data)  # a wrong folder fails before any weights are fetched
    model = build_model(config)
    run, writer = RunFolder(out), is_rank_zero()
    with run.lock() if writer else nullcontext():
        if writer:
            run.prepare(overwrite=overwrite, needed_bytes=run_bytes(model))
        try:
            return _train_prepared(config, run, model, samples, writer, progress, notes, callbacks)
        except BaseException as exc:
            if not writer or run.last_checkpoint.is_file():
                raise  # an epoch finished: the folder is kept for --resume, and the message says so
            run.discard()  # nothing to resume: a half-made folder would only block the next run
            if isinstance(exc, (KeyboardInterrupt, SystemExit, Interrupted)):
                raise Interrupted(
                    f"{run.path}: stopped before the first epoch ended; "
                    "nothing was kept, so the same command starts it again"
                ) from exc
            if isinstance(exc, FacepalsyError):
                raise FacepalsyError(
                    f"{exc} (nothing was kept in {run.path}; the same command starts it again)"
                ) from exc
            raise


def _train_prepared(
    config: Config,
    run: RunFolder,
    model: VGGClassifier | None,
    samples: list[Sample],
    writer: bool,
    progress: bool,
    notes: tuple[str, ...],
    callbacks: Sequence[Callback],
) -> dict:
    """train() after its run folder is locked and prepared: decode, split, audit, fit."""
    root = Path(config.data)
    spec = config.model_spec()
    images, kept, left_out = load_images(
        root, samples, config.image_size, config.skip_bad, progress and writer, spec.face
    )
    if writer:
        notes = (*notes, *left_out_notes(*write_left_out(run, left_out), run))
    assignment = split_samples(kept, config.split, config.test_fraction, config.val_fraction, config.seed)
    if writer:
        audit_training_data(root, kept, run.check, spec, config.seed, progress)
    return fit_split(config, run, model, images, kept, assignment, progress=progress, notes=notes, callbacks=callbacks)


def audit_training_data(
    root: Path, samples: list[Sample], path: Path, spec: ModelSpec, seed: int, progress: bool
) -> dict:
    """The shortcut audit of the images a run or cross-validation trains on (harmonised, when the run
    harmonises): written beside it, its warning shown."""
    from facepalsy.evaluation.audit import audit

    harmonise = (spec.image_size, spec.face.harmonise) if spec.face.harmonise else None
    result = audit(root, samples, progress=progress, seed=seed, harmonise=harmonise)
    atomic_write_json(path, result)
    if result.get("warning"):
        console.print(f"[bold red]WARNING:[/] {result['warning']}", highlight=False)
    return result


def run_bytes(model: VGGClassifier | None) -> int:
    """Disk a run needs at most: model.pt (the weights) and last.ckpt (weights and at most two Adam moments),
    each briefly twice while a new copy replaces it, plus 10 MB for figures and tables."""
    if model is None:
        return 10_000_000
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return 2 * (weights + 3 * weights) + 10_000_000


def fit_split(
    config: Config,
    run: RunFolder,
    model: VGGClassifier | None,
    images: np.ndarray,
    samples: list[Sample],
    assignment: list[str],
    progress: bool = True,
    notes: tuple[str, ...] = (),
    callbacks: Sequence[Callback] = (),
    hashes: np.ndarray | None = None,
) -> dict:
    """Train on a given train/val/test assignment (one split, or one fold of cross-validation).

    The leakage guard runs first: under a subject protocol a subject on both sides is refused;
    under the frame protocol the overlap is counted, printed and written to the report.
    ``hashes``: the images' perceptual hashes, when the caller has them (cv computes them once for all folds).
    """
    hashes = perceptual_hashes(images) if hashes is None else hashes
    guard = guard_split(config.split, samples, assignment, hashes)
    if is_rank_zero():
        run.write_fingerprints(Path(config.data), samples, assignment, hashes)
        if progress and config.split == "frame":
            console.print(
                f"frame split (the paper's protocol): {guard['test_images_with_subject_in_training']} "
                f"of {guard['test_images']} test images "
                "have an image of the same subject in training, "
                f"{guard.get('test_images_with_near_duplicate_in_training', 0)} a near-duplicate"
            )
        atomic_write_json(run.leakage, guard)
        save_config(config, run.config)
        run.write_split(samples, assignment)
        run.write_provenance(Path(config.data), samples, assignment)
    if model is None:
        return _fit_baseline(config, run, images, samples, assignment, progress, notes)
    return _fit(
        config,
        run,
        model,
        images,
        samples,
        assignment,
        resume=False,
        progress=progress,
        notes=notes,
        callbacks=callbacks,
    )


def _fit_baseline(
    config: Config,
    run: RunFolder,
    images: np.ndarray,
    samples: list[Sample],
    assignment: list[str],
    progress: bool,
    notes: tuple[str, ...],
) -> dict:
    """The landmark-asymmetry baseline: fit on the training images, threshold on validation, test."""
    from facepalsy.models.baseline import AsymmetryClassifier, features

    parts = np.array(assignment)
    labels = np.array([s.label for s in samples])
    x = features(images[parts == "train"], progress)
    classifier = AsymmetryClassifier.fit(x, labels[parts == "train"], seed=config.seed)
    run.save_model(config.model_spec(), baseline=classifier.to_dict())
    without_face = int(np.isnan(features(images, progress)).any(axis=1).sum())
    notes = (
        *notes,
        f"Landmark-asymmetry baseline (logistic regression); {without_face} of "
        f"{len(images)} images had no usable face and got the training means.",
    )
    return finish_run(config, run, images, samples, assignment, notes)


def finish_run(
    config: Config,
    run: RunFolder,
    images: np.ndarray,
    samples: list[Sample],
    assignment: list[str],
    notes: tuple[str, ...] = (),
    bank=None,
) -> dict:
    """After training: choose the operating threshold on validation data (never test), record it in
    model.pt, then test the kept model through the same Predictor every other path uses.

    With a feature bank (frozen backbone, ``--feature-cache``), the Predictor scores the bank's pooled
    features of the validation and test images, so no image passes the frozen backbone twice."""
    parts = np.array(assignment)
    labels = np.array([s.label for s in samples])
    predictor = load(run.path, precision=config.precision, calibrated=False, finished_only=False)
    val = parts == "val"

    def features(part: np.ndarray):
        return bank.plain(torch.from_numpy(np.flatnonzero(part))) if bank is not None else None

    temperature = None
    if val.any():
        raw = predictor.probabilities(images[val], features=features(val))
        temperature = fit_temperature(labels[val], raw)
        probs = apply_temperature(raw, temperature)
        point = choose_operating_point(labels[val], probs, config.operating_point)
        atomic_write_json(
            run.validation,
            {**point.to_dict(), "temperature": temperature, **binary_metrics(labels[val], probs, point.threshold)},
        )
    else:
        point = OperatingPoint(0.5, "fixed=0.5")  # no validation data to choose on
        notes = (*notes, "No validation images: the run labels at 0.5 and its probabilities are not calibrated.")
    predictor.spec = run.set_operating_point(point, temperature)
    predictor.calibrated = True
    test = np.flatnonzero(parts == "test")
    result = evaluate_arrays(
        predictor,
        run,
        images[test],
        [samples[i] for i in test],
        notes=notes,
        seed=config.seed,
        features=features(parts == "test"),
    )
    run.mark_complete()  # last: only now is the run finished
    return result


def resume(out: str | Path, epochs: int | None = None, progress: bool = True) -> dict:
    """Continue a run from its last completed epoch, with its own config and split.

    ``epochs`` may raise the total number of epochs, to train a finished run further.
    """
    run, writer = RunFolder(out), is_rank_zero()
    with run.lock() if writer else nullcontext():
        if writer:
            run.prepare(resume=True)
            run.complete.unlink(missing_ok=True)  # training again (--epochs): unfinished until it ends
        check_lightning_checkpoint(run.last_checkpoint)
        config = load_config(run.config)
        if epochs is not None and epochs != config.epochs:
            config = config.replace(epochs=epochs)
            if writer:
                save_config(config, run.config)
        samples, assignment = run.read_split()
        spec = config.model_spec()
        images, kept, _ = load_images(
            Path(config.data), samples, config.image_size, False, progress and writer, spec.face
        )
        # a fine-tuned backbone is in the checkpoint; a frozen one is rebuilt from the run's weights (and checked
        # against its digest)
        model = create_model(config.backbone, weights="none") if config.finetune else build_model(config)
        return _fit(config, run, model, images, kept, assignment, resume=True, progress=progress)


def check_lightning_checkpoint(path: Path) -> None:
    """Refuse a truncated, foreign or other-version ``last.ckpt`` with one line, before Lightning fails on it."""
    try:
        checkpoint = torch.load(
            path, map_location="cpu", weights_only=True, mmap=True
        )  # tensors stay on disk: Lightning reads them next
    except Exception as exc:  # any failure to unpickle means the file is unusable
        raise FacepalsyError(
            f"{path}: cannot read checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]}); start again with --overwrite"
        ) from exc
    found = checkpoint.get("facepalsy_format_version") if isinstance(checkpoint, dict) else None
    if found != CHECKPOINT_FORMAT:
        raise FacepalsyError(
            f"{path}: checkpoint format {found!r} not supported (this facepalsy "
            f"resumes format {CHECKPOINT_FORMAT}); start again with --overwrite"
        )


def _fit(
    config: Config,
    run: RunFolder,
    model: VGGClassifier,
    images: np.ndarray,
    samples: list[Sample],
    assignment: list[str],
    resume: bool,
    progress: bool,
    notes: tuple[str, ...] = (),
    callbacks: Sequence[Callback] = (),
) -> dict:
    spec = config.model_spec()
    bf16 = use_bf16(config.precision, training_device(config))
    L.seed_everything(config.seed, workers=True, verbose=False)
    _quiet_lightning()
    parts = np.array(assignment)
    labels = torch.tensor([s.label for s in samples])
    tensors = torch.from_numpy(images)

    def loader(part: str, shuffle: bool) -> DataLoader | None:
        index = torch.from_numpy(np.flatnonzero(parts == part))
        if len(index) == 0:
            return None
        dataset = TensorDataset(tensors[index], labels[index])
        return DataLoader(
            dataset, batch_size=config.batch_size, sampler=EpochShuffle(len(dataset), config.seed) if shuffle else None
        )

    module = PalsyModule(config.to_dict(), spec.preprocess.to_dict(), model)
    train_loader, val_loader = loader("train", True), loader("val", False)
    bank = None
    if config.feature_cache:
        train_loader, val_loader, bank = _feature_cache_loaders(module, config, images, labels, parts, progress, bf16)
    recorder = RunRecorder(run, spec, monitor="val_loss" if val_loader else "train_loss")
    last = ModelCheckpoint(
        dirpath=run.checkpoints,
        filename=run.last_checkpoint.stem,
        save_top_k=1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    trainer = L.Trainer(
        max_epochs=config.epochs,
        accelerator=config.accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy=config.strategy,
        precision="bf16-mixed" if bf16 else "32-true",  # autocast: bf16 matmuls and convolutions, fp32 weights and loss
        callbacks=[recorder, last, *callbacks, *progress_callbacks(progress)],
        plugins=[AtomicCheckpointIO()],
        logger=experiment_loggers(config, run, resume),
        enable_model_summary=False,
        enable_progress_bar=progress and not quiet(),
        num_sanity_val_steps=0,
        deterministic="warn",
        default_root_dir=run.path,
    )
    try:
        trainer.fit(module, train_loader, val_loader, ckpt_path=run.last_checkpoint if resume else None)
    except (
        KeyboardInterrupt,
        SystemExit,
    ) as exc:  # Lightning turns Ctrl+C into exit(1) and SIGTERM into SIGTERMException
        raise Interrupted(
            f"{run.path} keeps its last completed epoch; continue with: facepalsy train --resume --out {run.path}"
        ) from exc
    except OSError as exc:
        raise FacepalsyError(
            f"{display_path(exc.filename or run.path)}: cannot write "
            f"({exc.strerror or exc}); {run.path} keeps its last completed epoch: "
            f"free space, then continue with: facepalsy train --resume --out {run.path}"
        ) from exc
    if not trainer.is_global_zero:
        return {}
    return finish_run(config, run, images, samples, assignment, notes, bank)


def progress_callbacks(progress: bool) -> list[Callback]:
    """Lightning's epoch bar, drawn on stderr like every other progress bar (stdout carries results alone)."""
    if not progress or quiet():
        return []
    from lightning.pytorch.callbacks import RichProgressBar

    return [RichProgressBar(console_kwargs={"stderr": True})]


def experiment_loggers(config: Config, run: RunFolder, resume: bool = False) -> list:
    """Lightning's CSVLogger always (``RUN/logs/metrics.csv``; a resumed run logs into ``RUN/logs/resumed-K/``,
    since the logger would otherwise delete the earlier file), and TensorBoard or MLflow when asked for
    (``RUN/tensorboard``; MLflow at $MLFLOW_TRACKING_URI, else ``RUN/mlruns``)."""
    from lightning.pytorch.loggers import CSVLogger

    version = f"resumed-{len(list(run.logs.glob('resumed-*'))) + 1}" if resume and run.logs.is_dir() else ""
    loggers = [CSVLogger(save_dir=run.path, name=run.logs.name, version=version)]
    if config.logger == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(
            TensorBoardLogger(save_dir=run.path, name=run.tensorboard.name, version=version, default_hp_metric=False)
        )
    elif config.logger == "mlflow":
        from lightning.pytorch.loggers import MLFlowLogger

        uri = os.environ.get("MLFLOW_TRACKING_URI") or run.mlruns.resolve().as_uri()
        loggers.append(MLFlowLogger(experiment_name="facepalsy", run_name=run.path.name, tracking_uri=uri))
    for logger in loggers:
        logger.log_hyperparams(config.to_dict())
    return loggers


def _feature_cache_loaders(
    module: PalsyModule,
    config: Config,
    images: np.ndarray,
    labels: torch.Tensor,
    parts: np.ndarray,
    progress: bool,
    bf16: bool,
):
    """Features of K augmented views of the training images and of the plain validation images, from the process's
    feature bank
    (computed once per image, whichever fold, protocol or run asks first)."""
    train = torch.from_numpy(np.flatnonzero(parts == "train"))
    val = torch.from_numpy(np.flatnonzero(parts == "val"))
    bank = feature_bank(module, config, images, bf16)
    if progress and is_rank_zero():
        console.print(
            f"feature cache: {config.feature_cache} augmented views of {len(train)} training "
            f"images ({bank.computed} image views already computed in this process)"
        )
    views = CachedViews(bank.augmented(train), labels[train], lambda: module.current_epoch)
    train_loader = DataLoader(
        views, batch_size=config.batch_size, sampler=EpochShuffle(len(views), config.seed)
    )  # an order set by seed and epoch: --resume repeats it
    val_loader = None
    if len(val):
        val_loader = DataLoader(TensorDataset(bank.plain(val), labels[val]), batch_size=config.batch_size)
    return train_loader, val_loader, bank
