"""The pieces of the Lightning training loop: the LightningModule (the paper's loss and metrics, bf16, channels-last,
the frozen backbone kept out of checkpoints), the run recorder callback (history, best epoch, model.pt), atomic
checkpoints, the seeded epoch sampler, the feature-cache loaders, progress bars and experiment loggers."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
import warnings
from pathlib import Path
from typing import Callable

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch.utils.data import DataLoader, TensorDataset

from facepalsy.config import Config
from facepalsy.errors import FacepalsyError
from facepalsy.files import atomic_write
from facepalsy.log import console, quiet, verbose
from facepalsy.models.network_parts import Normalize, PalsyNetwork
from facepalsy.models.spec import ModelSpec, Preprocess
from facepalsy.runfolder import CHECKPOINT_FORMAT, RunFolder
from facepalsy.runfolder.epochs import Epoch, EpochLog
from facepalsy.runfolder.locks import is_rank_zero
from facepalsy.training.augment import TrainTransform
from facepalsy.training.features import backbone_digest, feature_bank

BACKBONE_PREFIX = "model.features."  # the frozen backbone's keys, left out of checkpoints


class PalsyModule(L.LightningModule):
    """The classifier plus its batch transforms; the config travels in the checkpoint's hparams."""

    def __init__(self, config: dict, preprocess: dict, model: PalsyNetwork):
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
        self._sums: dict[str, torch.Tensor] = {}  # per stage: the epoch's summed loss, correct answers, images

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

    def _step(self, batch, stage: str, batch_idx: int) -> torch.Tensor:
        inputs, labels = batch
        logits = self.logits(inputs, train=stage == "train")
        loss = F.cross_entropy(logits, labels)
        self._tally(stage, batch_idx, loss, (logits.argmax(dim=1) == labels).sum(), len(labels))
        return loss

    def _tally(self, stage: str, batch_idx: int, loss: torch.Tensor, correct: torch.Tensor, count: int) -> None:
        """Add a batch to the epoch's loss and accuracy, logged once, at the epoch's last batch: the mean over its
        images, as Lightning's per-batch logging gives it, without its per-batch cost (more than a cross-validation
        fold's training took). ``sync_dist``: averaged over DDP processes."""
        batch = torch.stack([loss.detach().float() * count, correct.float(), loss.new_tensor(float(count))])
        self._sums[stage] = batch if batch_idx == 0 else self._sums[stage] + batch
        batches = self.trainer.num_training_batches if stage == "train" else self.trainer.num_val_batches[0]
        if batch_idx + 1 == batches:
            total, correct_total, images = self._sums.pop(stage).tolist()
            for name, value in (("loss", total / images), ("acc", correct_total / images)):
                self.log(f"{stage}_{name}", value, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train", batch_idx)

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val", batch_idx)

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
        """Adam at ``lr`` (the paper's), or with ``schedule: onecycle`` a warm-up to ``lr`` over the first 30% of the
        steps and a cosine decay after it (torch's OneCycleLR)."""
        optimizer = torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=self.config.lr)
        if self.config.schedule == "constant":
            return optimizer
        steps = int(self.trainer.estimated_stepping_batches)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.config.lr, total_steps=max(steps, 1))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

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
    """Each epoch: append a row to epochs.csv and keep the model when the monitored loss improves.

    A fine-tuned model is written to model.pt at each improvement. With a frozen backbone only the
    head changes: the best head is kept in memory and model.pt (backbone + best head) is written
    once, when training ends, instead of 58 MB (VGG16) at every improvement. The recorder's state
    (epochs, best loss, best head) is stored in the Lightning checkpoint, so ``--resume`` continues
    the same curves and keeps the same best model.
    """

    def __init__(self, run: RunFolder, spec: ModelSpec, monitor: str, every_epoch: bool = True):
        self.run, self.spec, self.monitor, self.every_epoch = run, spec, monitor, every_epoch
        self.epochs: list[Epoch] = []
        self.best = math.inf
        self.best_head: dict[str, torch.Tensor] | None = None
        self.best_epoch: dict[str, float] = {}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: PalsyModule) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        row = Epoch.from_row({**metrics, "epoch": trainer.current_epoch + 1})
        self.epochs.append(row)
        current = metrics.get(self.monitor, math.nan)
        improved = current < self.best
        self.best = min(self.best, current)
        if improved:
            self.best_epoch = {"epoch": row.epoch, "val_loss": current}
            if not pl_module.config.finetune:
                self.best_head = {k: v.detach().cpu().clone() for k, v in pl_module.model.head.state_dict().items()}
        if not trainer.is_global_zero:  # every DDP process keeps the same state; one writes
            return
        if self.every_epoch:  # else once, at the end: a run without epoch checkpoints cannot resume from it anyway
            self.run.write_epochs(EpochLog(tuple(self.epochs)))
        if improved and pl_module.config.finetune:
            self.run.save_model(self.spec, state_dict=pl_module.model.state_dict(), **self.best_epoch)

    def on_train_end(self, trainer: L.Trainer, pl_module: PalsyModule) -> None:
        if trainer.is_global_zero and not self.every_epoch:
            self.run.write_epochs(EpochLog(tuple(self.epochs)))
        if trainer.is_global_zero and not pl_module.config.finetune and self.best_head is not None:
            state = {**pl_module.model.state_dict(), **{f"head.{k}": v for k, v in self.best_head.items()}}
            self.run.save_model(self.spec, state_dict=state, **self.best_epoch)

    def state_dict(self) -> dict:
        rows = [dataclasses.asdict(e) for e in self.epochs]  # under "history": checkpoints of older runs resume
        return {"history": rows, "best": self.best, "best_head": self.best_head, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        self.epochs = [Epoch.from_row(row) for row in state_dict["history"]]
        self.best = float(state_dict["best"])
        self.best_head, self.best_epoch = state_dict.get("best_head"), state_dict.get("best_epoch", {})


def quiet_lightning() -> None:
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


def progress_callbacks(progress: bool) -> list[Callback]:
    """Lightning's epoch bar, drawn on stderr like every other progress bar (stdout carries results alone), counting
    epochs from 1; when stderr is not a terminal (a log file), one line per epoch instead."""
    if not progress or quiet():
        return []
    if not console.is_terminal:
        return [EpochLines()]
    from lightning.pytorch.callbacks import RichProgressBar

    class EpochBar(RichProgressBar):
        def _get_train_description(self, current_epoch: int) -> str:  # Lightning's says "Epoch 14/14" for 15
            return f"Epoch {current_epoch + 1}/{self.trainer.max_epochs}"

    return [EpochBar(console_kwargs={"stderr": True})]


class EpochLines(Callback):
    """One plain line per finished epoch on stderr: its number of the total, losses, accuracies and time."""

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.start = time.monotonic()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        metrics = trainer.callback_metrics
        figures = ", ".join(
            f"{name.replace('_', ' ')} {float(metrics[name]):.4f}"
            for name in ("train_loss", "train_acc", "val_loss", "val_acc")
            if name in metrics
        )
        console.print(
            f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: {figures} "
            f"({time.monotonic() - self.start:.0f} s)",
            highlight=False,
        )


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


def feature_cache_loaders(
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
