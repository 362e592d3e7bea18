"""A run's training curve, typed: one ``Epoch`` per epoch done, as ``epochs.csv`` holds them (``history.csv`` in runs
written before; "history" is the patient's visits, ``records/history.py``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

EPOCH_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")


@dataclass(frozen=True)
class Epoch:
    """One epoch's loss and accuracy on the training and validation images (NaN: no validation images)."""

    epoch: int  # 1-based
    train_loss: float
    train_acc: float
    val_loss: float = math.nan
    val_acc: float = math.nan

    @classmethod
    def from_row(cls, row: dict[str, str | float]) -> Epoch:
        """From a CSV row or a Lightning checkpoint's dict; a missing column reads NaN."""
        values = {f.name: float(row.get(f.name, math.nan)) for f in fields(cls)}
        return cls(**{**values, "epoch": int(values["epoch"])})


@dataclass(frozen=True)
class EpochLog:
    """Every epoch of a run, in order."""

    epochs: tuple[Epoch, ...] = ()

    def __len__(self) -> int:
        return len(self.epochs)

    def series(self, column: str) -> list[float]:
        """One column over the epochs (``train_loss``, ``val_acc`` …), for the curves."""
        return [getattr(e, column) for e in self.epochs]

    @property
    def kept_epoch(self) -> int | None:
        """The epoch of the lowest validation loss (training loss without validation): the model kept and tested."""
        if not self.epochs:
            return None
        return min(self.epochs, key=lambda e: e.train_loss if math.isnan(e.val_loss) else e.val_loss).epoch
