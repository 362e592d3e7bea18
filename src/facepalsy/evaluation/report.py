"""Figures and Markdown: curves, confusion matrix, the run report and the comparison table.

Plotting functions only draw what they are given; the numbers come from evaluate and train.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from facepalsy.data.dataset import CLASSES  # noqa: E402
from facepalsy.errors import FacepalsyError  # noqa: E402
from facepalsy.io import atomic_write, atomic_write_csv, atomic_write_text  # noqa: E402
from facepalsy.runfolder import HISTORY_FILE, LEAKAGE_FILE, SPLIT_FILE, read_history, read_split  # noqa: E402

# Table 1 of the paper (frame split, YFP + normals), in %.
PUBLISHED = [
    {"model": "VGG16 (published)", "protocol": "frame split", "accuracy": 88.47, "recall": 83.55, "precision": 92.15, "f1": 87.64},
    {"model": "VGG19 (published)", "protocol": "frame split", "accuracy": 81.95, "recall": 72.44, "precision": 88.58, "f1": 79.70},
]

PROTOCOL_TEXT = {
    "frame": (
        "**Frame split — the paper's protocol.** Images were split at random, stratified by class. "
        "Frames of one person land on both sides, so the model can recognise the person instead of "
        "the palsy, and these figures overstate accuracy on new patients. "
        "Train with `--split subject` for a subject-independent estimate."
    ),
    "subject": (
        "**Subject split — subject-independent.** No subject has images on both sides, so these "
        "figures estimate accuracy on patients the model has never seen."
    ),
}


def save_figure(fig: plt.Figure, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png"))
    plt.close(fig)


def plot_curves(history: list[dict[str, float]], path: Path, title: str = "", best_epoch: int | None = None) -> None:
    """Loss and accuracy per epoch, train and validation (the paper's Figures 5a/b and 6a/b).

    ``best_epoch``, if given, is marked: it is the epoch whose model was kept and tested.
    """
    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, label in ((axes[0], "loss", "Loss"), (axes[1], "acc", "Accuracy")):
        for stage, style in (("train", "-o"), ("val", "-s")):
            values = [row.get(f"{stage}_{metric}", np.nan) for row in history]
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


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def split_summary(run_dir: Path) -> list[dict]:
    """Images and subjects per split and class, read from split.csv."""
    samples, parts = read_split(run_dir / SPLIT_FILE)
    summary = []
    for part in ("train", "val", "test"):
        entry = {"split": part}
        for label, name in enumerate(CLASSES):
            of_class = [s for s, p in zip(samples, parts) if p == part and s.label == label]
            entry[name] = f"{len(of_class)} ({len({s.subject for s in of_class})} subjects)"
        summary.append(entry)
    return summary


def leakage_sentence(guard: dict) -> str:
    """What the test side shares with training, said plainly."""
    n = guard["test_images"]
    near = guard.get("test_images_with_near_duplicate_in_training")
    text = f"Test images with an image of the same subject in training or validation: **{guard['test_images_with_subject_in_training']} of {n}**"
    if near is not None:
        text += f"; with a near-duplicate image (perceptual hash) in training or validation: **{near} of {n}**"
    text += "."
    if guard["protocol"] == "frame" and guard["test_images_with_subject_in_training"]:
        text += " This is the paper's setting: the model was tested on people it was trained on."
    elif near:
        text += " Under a subject split this can mean one person under two subject ids: check with `facepalsy check`."
    return text


def metrics_table(metrics: dict) -> list[str]:
    """The Table 1 metrics with their subject-bootstrap 95% intervals, as Markdown lines."""
    keys = ("accuracy", "recall", "precision", "f1", "specificity", "roc_auc")
    ci = metrics.get("ci95", {})
    interval = lambda k: "n/a" if not ci.get(k) else f"{percent(ci[k][0])}–{percent(ci[k][1])}"  # noqa: E731
    return [
        "| | accuracy | recall | precision | F1 | specificity | ROC AUC | n |",
        "|---|---|---|---|---|---|---|---|",
        "| % | " + " | ".join(percent(metrics[k]) for k in keys) + f" | {metrics['n']} |",
        "| 95% CI | " + " | ".join(interval(k) for k in keys) + " | |",
    ]


def write_report(run_dir: Path, out: Path, notes: tuple[str, ...] = ()) -> None:
    """Write ``report.md`` (and ``curves.png`` when there is a history) from the files in the run."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    history = read_history(run_dir / HISTORY_FILE)
    lines = [f"# facepalsy report: {config['backbone']}", ""]
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    lines += ["## Protocol", "", PROTOCOL_TEXT[config["split"]], ""]
    if out == run_dir:
        parts = split_summary(run_dir)
        lines += ["| split | normal | palsy |", "|---|---|---|", *[f"| {p['split']} | {p['normal']} | {p['palsy']} |" for p in parts], ""]
        if (run_dir / LEAKAGE_FILE).is_file():
            lines += [leakage_sentence(json.loads((run_dir / LEAKAGE_FILE).read_text(encoding="utf-8"))), ""]
    else:
        lines += [f"Evaluated on every image of `{metrics['data']}`.", ""]
    (tn, fp), (fn, tp) = metrics["confusion_matrix"]
    lines += [
        "## Test metrics (positive class: palsy)",
        "",
        *metrics_table(metrics),
        "",
        "Intervals: percentile bootstrap over subjects (all images of a resampled subject move together).",
        "",
        f"Confusion matrix: TN {tn}, FP {fp}, FN {fn}, TP {tp} (threshold {metrics['threshold']}).",
        "",
    ]
    if "youden_threshold_from_validation" in metrics:
        lines += [
            f"Sensitivity / specificity at 0.5: {percent(metrics['sensitivity_at_0.5'])} / {percent(metrics['specificity_at_0.5'])}; "
            f"at the Youden threshold {metrics['youden_threshold_from_validation']:.3f} chosen on validation data: "
            f"{percent(metrics['sensitivity_at_youden'])} / {percent(metrics['specificity_at_youden'])}.",
            "",
        ]
    lines += ["![confusion matrix](confusion_matrix.png)", ""]
    if metrics.get("heatmaps") == "heatmaps.png":
        lines += [
            "## Where the network looked (Grad-CAM, palsy class)", "",
            "Most confident true positives, false positives and false negatives of the test set.", "",
            "![Grad-CAM examples](heatmaps.png)", "",
        ]
    elif metrics.get("heatmaps"):
        lines += [f"Grad-CAM examples: {metrics['heatmaps']}.", ""]
    if history and out == run_dir:
        best = int(min(history, key=lambda r: r["val_loss"] if not np.isnan(r["val_loss"]) else r["train_loss"])["epoch"])
        plot_curves(history, run_dir / "curves.png", title=f"{config['backbone']} ({config['split']} split)", best_epoch=best)
        lines += ["## Training curves", "", f"{len(history)} epochs; the model kept and tested is from epoch {best} (lowest validation loss).", "", "![curves](curves.png)", ""]
    lines += ["## Configuration", "", "```yaml", yaml.safe_dump(config, sort_keys=False).rstrip(), "```", ""]
    lines += ["## Files", "", *[f"- `{name}`: {what}" for name, what in RUN_FILES.items() if (out / name).exists() or (run_dir / name).exists()], ""]
    atomic_write_text(out / "report.md", "\n".join(lines))


RUN_FILES = {
    "config.yaml": "the resolved configuration; enough to rebuild the run",
    "model.pt": "the best model (lowest validation loss) with its config and preprocessing",
    "checkpoints/last.ckpt": "Lightning checkpoint of the last epoch, for --resume",
    "history.csv": "loss and accuracy per epoch, train and validation",
    "split.csv": "which image went to train, val or test",
    "leakage.json": "test images sharing a subject or a near-duplicate with training (the leakage guard)",
    "validation.json": "the kept model on validation data, and the Youden threshold chosen there",
    "bad_images.txt": "images skipped with --skip-bad, with the reason",
    "provenance.json": "versions of Python, torch and every package, facepalsy's git commit, content hashes of the data and the test set",
    "metrics.json": "test metrics (fractions) with subject-bootstrap 95% intervals, confusion matrix [[tn, fp], [fn, tp]], ROC AUC",
    "predictions.csv": "palsy probability and predicted label of every test image",
    "curves.png": "loss and accuracy curves",
    "confusion_matrix.png": "confusion matrix on the test split",
    "heatmaps.png": "Grad-CAM overlays of example true positives, false positives and false negatives",
}


def comparison_rows(run_dirs: list[Path]) -> list[dict]:
    """One row of the paper's Table 1 per run (percentages): a training run's test metrics, or a
    cross-validation folder's pooled out-of-fold metrics."""
    rows = []
    for run_dir in map(Path, run_dirs):
        if (run_dir / "cv.json").is_file():
            result = json.loads((run_dir / "cv.json").read_text(encoding="utf-8"))
            backbone, protocol, metrics = result["backbone"], f"{result['protocol']} ({len(result['folds'])} folds)", result["pooled"]
        else:
            for name in ("config.yaml", "metrics.json"):
                if not (run_dir / name).is_file():
                    raise FacepalsyError(f"{run_dir}: not a finished run or cross-validation folder ({name} not found)")
            config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
            backbone, protocol = config["backbone"], f"{config['split']} split"
            metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        rows.append({
            "model": backbone.upper().replace("_BN", " + BN"),
            "protocol": protocol,
            **{k: round(100 * metrics[k], 2) for k in ("accuracy", "recall", "precision", "f1")},
            "run": str(run_dir),
        })
    return rows


def comparison_markdown(rows: list[dict]) -> str:
    header = "| model | protocol | accuracy | recall | precision | F1 |\n|---|---|---|---|---|---|\n"
    body = "".join(f"| {r['model']} | {r['protocol']} | {r['accuracy']:.2f} | {r['recall']:.2f} | {r['precision']:.2f} | {r['f1']:.2f} |\n" for r in rows)
    return header + body


def write_comparison(rows: list[dict], out: Path) -> tuple[Path, Path]:
    """Write ``comparison.md`` and ``comparison.csv`` into ``out``."""
    md, csv_path = out / "comparison.md", out / "comparison.csv"
    kinds = sorted({"frame" if r["protocol"].startswith("frame") else "subject" for r in rows})
    note = "\n".join(f"- {PROTOCOL_TEXT[kind]}" for kind in kinds)
    atomic_write_text(md, "# Model comparison (%, positive class palsy)\n\n" + comparison_markdown(rows) + "\n" + note + "\n")

    atomic_write_csv(csv_path, ["model", "protocol", "accuracy", "recall", "precision", "f1", "run"], rows)
    return md, csv_path


def write_explain_report(out: Path, trained, results: list) -> Path:
    """report.md of ``facepalsy explain``: each overlay, grouped by predicted class."""
    lines = [f"# Grad-CAM: {trained.config.backbone} ({trained.run_dir})", "",
             "Red marks the regions that raised the palsy score most (Grad-CAM on the last convolution).", ""]
    for label in ("palsy", "normal"):
        chosen = [r for r in results if r.label == label]
        if chosen:
            lines += [f"## Predicted {label} ({len(chosen)})", ""]
            lines += [f"- `{r.path}`: p(palsy) = {r.prob_palsy:.3f}\n\n  ![{Path(r.cam).name}]({Path(r.cam).name})" for r in chosen]
            lines.append("")
    failed = [r for r in results if r.error]
    if failed:
        lines += ["## Not explained", "", *[f"- `{r.path}`: {r.error}" for r in failed], ""]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path
