"""Figures: training curves, confusion matrix, ROC, reliability, exam regions, timelines and a patient's trend.

Each function only draws what it is given and writes a PNG atomically; the numbers come from the
metrics, the training loop and the exam. Matplotlib runs headless (Agg), so no display is needed.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from facepalsy.data.dataset import CLASSES  # noqa: E402
from facepalsy.files import atomic_write  # noqa: E402


def save_figure(fig: plt.Figure, path: Path, private: bool = False) -> None:
    """``private``: a patient's figure (an exam's, a history's), written readable by its owner only."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png"), private)
    plt.close(fig)


class Epochs(Protocol):
    """A run's training curve as ``runfolder.epochs.EpochLog`` holds it (plots sit below the run folder)."""

    def series(self, column: str) -> list[float]: ...


def plot_curves(log: Epochs, path: Path, title: str = "", best_epoch: int | None = None) -> None:
    """Loss and accuracy per epoch, train and validation (the paper's Figures 5a/b and 6a/b).

    ``best_epoch``, if given, is marked: it is the epoch whose model was kept and tested.
    """
    epochs = log.series("epoch")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, label in ((axes[0], "loss", "Loss"), (axes[1], "acc", "Accuracy")):
        for stage, style in (("train", "-o"), ("val", "-s")):
            values = log.series(f"{stage}_{metric}")
            if not np.all(np.isnan(values)):
                ax.plot(epochs, values, style, markersize=3, label="train" if stage == "train" else "validation")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"kept (epoch {best_epoch})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def plot_confusion_matrix(cm: np.ndarray, path: Path, title: str = "") -> None:
    """Counts with row percentages; rows are true classes, columns predicted (Figures 5c/6c)."""
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.imshow(cm, cmap="Blues")
    totals = cm.sum(axis=1, keepdims=True).clip(min=1)
    for (i, j), count in np.ndenumerate(cm):
        colour = "white" if count > cm.max() / 2 else "black"
        ax.text(j, i, f"{count}\n{100 * count / totals[i, 0]:.1f}%", ha="center", va="center", color=colour)
    ax.set_xticks([0, 1], CLASSES)
    ax.set_yticks([0, 1], CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "Confusion matrix")
    save_figure(fig, path)


def plot_roc(curves: list[tuple[np.ndarray, np.ndarray, str]], path: Path, title: str = "") -> None:
    """ROC curves, each given as (true labels, palsy probabilities, name), with their AUC."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    for y_true, prob, name in curves:
        if len(np.unique(y_true)) < 2:
            continue
        fpr, tpr, _ = roc_curve(y_true, prob)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y_true, prob):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(title or "ROC")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    save_figure(fig, path)


class Curve(Protocol):
    """A reliability curve as ``evaluation.calibration.ReliabilityCurve`` holds it (plots sit below evaluation)."""

    observed: list[float]
    predicted: list[float]
    count: list[int]
    low: list[float]
    high: list[float]


class CurveFigures(Protocol):
    """One kind of probability's calibration (``evaluation.calibration.CalibrationFigures``)."""

    ece: float
    brier: float
    curve: Curve


class Calibrated(Protocol):
    """What the reliability diagram draws (``evaluation.calibration.Calibration``)."""

    kinds: Mapping[str, CurveFigures]


def plot_reliability(calibration: Calibrated, path: Path, title: str = "") -> None:
    """Reliability diagram: observed palsy rate against mean p(palsy) per bin, for each kind of probability given,
    with each bin's 95% interval as a band and the first kind's image count beside each point."""
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
    for index, ((name, kind), style) in enumerate(zip(calibration.kinds.items(), ("-o", "--s"))):
        curve = kind.curve
        if curve.predicted:
            (line,) = ax.plot(
                curve.predicted,
                curve.observed,
                style,
                markersize=4,
                label=f"{name} (ECE {kind.ece:.3f}, Brier {kind.brier:.3f})",
            )
            if curve.low:
                ax.fill_between(curve.predicted, curve.low, curve.high, color=line.get_color(), alpha=0.15)
            for x, y, n in zip(curve.predicted, curve.observed, curve.count) if index == 0 else ():
                ax.annotate(f"n={n}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=6)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted p(palsy) in bin\n(bands: 95% interval per bin; n: images in the bin)", fontsize=8)
    ax.set_ylabel("observed share of palsy in bin")
    ax.set_title(title or "Reliability diagram", fontsize=9)
    ax.legend(loc="upper left", fontsize=7)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_exam_regions(
    regions: list[str],
    right: list[float],
    left: list[float],
    expressions: list[str],
    outside: list[bool],
    path: Path,
    title: str = "",
) -> None:
    """Movement from rest per region, the patient's right and left side by side, under each region the expression
    measured, regions outside the healthy range marked."""
    x = np.arange(len(regions))
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.bar(x - 0.2, right, 0.4, label="patient's right")
    ax.bar(x + 0.2, left, 0.4, label="patient's left")
    labels = [
        f"{region}\n{expression}" + ("\n(outside healthy range)" if flagged else "")
        for region, expression, flagged in zip(regions, expressions, outside)
    ]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("movement from rest (inter-ocular distances)")
    ax.set_title(title or "movement per side", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    save_figure(fig, path, private=True)


def plot_grade(names: list[str], scores: list[float | None], kinds: list[str], path: Path, title: str = "") -> None:
    """eFACE-style items as bars (0–100) with the line at 100 (a healthy face); a missing item is labelled so, with no
    bar."""
    colours = {"static": "tab:blue", "dynamic": "tab:green", "synkinesis": "tab:purple"}
    y = np.arange(len(names))[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.32 * len(names) + 1.6))
    for row, score, kind in zip(y, scores, kinds):
        if score is None:
            ax.text(2, row, "missing", va="center", fontsize=8, color="grey")
        else:
            ax.barh(row, score, color=colours.get(kind, "grey"), label=kind)
            ax.text(min(score, 92) + 1, row, f"{score:.0f}", va="center", fontsize=8)
    ax.axvline(100, color="black", linewidth=1)
    ax.set_yticks(y, [n.replace("_", " ") for n in names], fontsize=8)
    ax.set_xlim(0, 105)
    ax.set_xlabel("item score (100: like the healthy side)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    if unique:
        ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3)
    ax.set_title(f"eFACE-style (automatic) grade{': ' + title if title else ''}", fontsize=9)
    save_figure(fig, path, private=True)


def plot_region_timeline(
    timeline: dict, path: Path, cnn: tuple[list[float], list[float]] | None = None, title: str = ""
) -> None:
    """Region scores against the healthy range per video frame (1.0: edge of the healthy 95% range of one measure),
    frames
    without a usable face shaded, and the CNN's p(palsy) per frame below when given."""
    rows = 2 if cnn else 1
    fig, axes = plt.subplots(rows, 1, figsize=(8, 2.8 * rows), sharex=True, squeeze=False)
    ax = axes[0, 0]
    times = np.array(timeline["time"])
    for region, scores in timeline["regions"].items():
        ax.plot(times, [np.nan if s is None else s for s in scores], "-o", markersize=2, label=region.replace("_", " "))
    for t, face in zip(times, timeline["face"]):
        if not face:
            ax.axvspan(t - 0.08, t + 0.08, color="grey", alpha=0.3, linewidth=0)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_ylabel("region score")
    ax.set_title(title or "regions over time (grey: no usable face)", fontsize=9)
    ax.legend(fontsize=7, ncol=4)
    ax.grid(alpha=0.3)
    if cnn:
        axes[1, 0].plot(cnn[0], cnn[1], "-o", markersize=2, color="black")
        axes[1, 0].set_ylim(-0.02, 1.02)
        axes[1, 0].set_ylabel("CNN p(palsy)")
        axes[1, 0].grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (s)")
    save_figure(fig, path, private=True)


def plot_timeline(times: np.ndarray, probs: np.ndarray, path: Path, threshold: float = 0.5, title: str = "") -> None:
    """Palsy probability per sampled frame over time, with the decision threshold."""
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(times, probs, "-o", markersize=3)
    ax.axhline(threshold, color="grey", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("p(palsy)")
    ax.set_title(title or "palsy probability over time", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    save_figure(fig, path)


def plot_trend(
    dates: list,
    series: dict[str, list[float | None]],
    healthy_top: dict[str, float],
    mdc: dict[str, float | list[float | None]],
    path: Path,
    title: str = "",
    tops: dict[str, float] | None = None,
) -> None:
    """Per series, its value at each visit, each point with a bar of ± half its MDC95 (one for the series, or one
    per visit; two bars that do not overlap differ by more than measurement noise). A series with a healthy top
    (the regions' resting scores) has the healthy band shaded from 0; one in ``tops`` has that fixed top (the grade's
    0–100 points)."""
    names = list(series)
    tops = tops or {}
    fig, axes = plt.subplots(1, len(names), figsize=(3.0 * len(names), 3.4), sharex=True)
    for ax, name in zip(np.atleast_1d(axes), names):
        values = np.array([np.nan if v is None else v for v in series[name]], dtype=float)
        if name in healthy_top:
            ax.axhspan(0, healthy_top[name], color="tab:green", alpha=0.15, label="healthy range")
        bars = mdc.get(name, 0.0)
        bars = [0.0 if b is None else b / 2 for b in bars] if isinstance(bars, list) else bars / 2
        ax.errorbar(
            dates,
            values,
            yerr=bars,
            fmt="-o",
            color="tab:red" if name in ("overall", *tops) else "tab:blue",
            capsize=3,
            markersize=4,
        )
        top = tops.get(name) or np.nanmax([*values, healthy_top.get(name, 0.0)], initial=1.0) * 1.25
        ax.set_ylim(0, top)
        ax.set_title(name.replace("_", " "), fontsize=10)
        ax.tick_params(axis="x", rotation=45)
        if len(set(dates)) == 1:  # one visit: a week either side, not matplotlib's default span of years
            ax.set_xlim(dates[0] - datetime.timedelta(days=7), dates[0] + datetime.timedelta(days=7))
    np.atleast_1d(axes)[0].set_ylabel("resting score (units of healthy spread)")
    np.atleast_1d(axes)[0].legend(loc="upper left", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, private=True)
