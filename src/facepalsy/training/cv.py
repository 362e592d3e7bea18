"""Cross-validation under three protocols, with pooled and per-subject results and honest intervals.

- ``frame``: stratified k-fold over images (the paper's kind of split; subjects leak across folds).
- ``subject-kfold``: stratified group k-fold over subjects.
- ``lopo``: leave one subject out (the protocol of the YFP authors).
- ``leave-source-out``: hold out each source of photos whole (``data.dataset``): a model tested on photos from
  nowhere it has seen, as it will be in use. Each held-out source gets its own figures (``evaluation.sources``).

Every fold is a complete run folder (``DIR/fold_XX``), trained with the same machinery as
``facepalsy train``; pooled results are computed from the folds' out-of-fold predictions.
"""

from __future__ import annotations

import csv
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

from facepalsy.cluster import RayPlan
from facepalsy.config import PROTOCOLS, Config, load_config, save_config
from facepalsy.data.dataset import CLASSES, Sample, carve_validation, load_images, write_left_out
from facepalsy.errors import DataError, FacepalsyError, Interrupted
from facepalsy.evaluation.calibration import EACH_FOLD, POOLED, Calibration
from facepalsy.evaluation.check import perceptual_hashes
from facepalsy.evaluation.check_result import read_leakage
from facepalsy.evaluation.cv_report import read_predictions, write_cv_markdown
from facepalsy.evaluation.metrics import (
    binary_metrics,
    bootstrap_ci,
    calibration_summary,
    chance_check,
    subject_scores,
)
from facepalsy.evaluation.report import PROTOCOL_TEXT
from facepalsy.evaluation.results import CvSummary, Evaluation, FoldResult, Scores, SubjectScore
from facepalsy.evaluation.sources import SourceFigures, source_figures
from facepalsy.files import atomic_write_csv, atomic_write_json
from facepalsy.log import console, progress_bar
from facepalsy.plots import plot_reliability, plot_roc
from facepalsy.runfolder import CvFolder, RunFolder, read_json
from facepalsy.training.cv_ray import run_folds_on_ray
from facepalsy.training.train import (
    audit_training_data,
    fit_fold,
    fit_split,
    model_to_train,
    training_device,
    with_precision,
)


def fold_assignments(
    samples: list[Sample], protocol: str, folds: int, val_fraction: float, seed: int
) -> list[list[str]]:
    """One train/val/test assignment per fold; validation is carved from each fold's training side."""
    if protocol not in PROTOCOLS:
        raise FacepalsyError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    labels = np.array([s.label for s in samples])
    subjects = np.array([s.subject for s in samples])
    if len(set(labels)) < 2:
        raise DataError("cross-validation needs both classes")
    per_class = [len(set(subjects[labels == c])) for c in range(len(CLASSES))]
    if protocol == "frame":
        splitter, groups = StratifiedKFold(folds, shuffle=True, random_state=seed), None
        if min(np.bincount(labels)) < folds:
            raise DataError(f"--folds {folds} is more than the {min(np.bincount(labels))} images of the smaller class")
    elif protocol == "subject-kfold":
        if min(per_class) < folds:
            raise DataError(
                f"--folds {folds} is more than the subjects of the smaller class "
                f"({per_class[0]} normal, {per_class[1]} palsy subjects); use at most {min(per_class)}"
            )
        splitter, groups = StratifiedGroupKFold(folds, shuffle=True, random_state=seed), subjects
    elif protocol == "lopo":
        splitter, groups = LeaveOneGroupOut(), subjects
    else:
        groups = np.array([s.source for s in samples])
        if len(set(groups)) < 2:
            raise DataError(
                f"leave-source-out needs at least two sources; found {len(set(groups))} "
                "(give several data folders, or a manifest with a source column)"
            )
        for source in sorted(set(groups)):
            if len(set(labels[groups != source])) < 2:
                raise DataError(
                    f"leave-source-out: without source {source!r} the training side has only one class; "
                    "every class needs a second source"
                )
        splitter = LeaveOneGroupOut()
    split_protocol = "frame" if protocol == "frame" else "subject"
    assignments = []
    for train_idx, test_idx in splitter.split(np.zeros(len(samples)), labels, groups):
        assignment = np.full(len(samples), "train", dtype=object)
        assignment[test_idx] = "test"
        carve_validation(assignment, train_idx, labels, subjects, split_protocol, val_fraction, seed)
        assignments.append(list(assignment))
    return assignments


def run_cv(
    config: Config,
    out: str | Path,
    protocol: str,
    folds: int = 5,
    overwrite: bool = False,
    progress: bool = True,
    ray: RayPlan | None = None,
    fold_details: bool = False,
) -> CvSummary:
    """Train and test every fold, then pool. Writes cv.json, cv.md, roc.png and folds.csv into ``out``. With ``ray``,
    the folds run as Ray tasks (``training/cv_ray.py``). ``fold_details``: each fold draws its own figures, Grad-CAM
    examples, bootstrap intervals and report, as ``train`` does (see ``fit_split``); the pooled ones are always made.
    """
    config = with_precision(config.resolved())  # the folds record their operating point and precision
    _, samples = config.scan()  # fail fast on the data folder, then on backbone or weights
    model_to_train(config)
    config = config.replace(split="frame" if protocol == "frame" else "subject")
    cv = CvFolder(out)
    with cv.lock():
        cv.make_ready(overwrite=overwrite)
        listed = listed_per_source(samples)
        images, samples = _load(config, cv, samples, progress)
        assignments = fold_assignments(samples, protocol, folds, config.val_fraction, config.seed)
        audit_training_data(config.root, samples, cv.audit, config.model_spec(), config.seed, progress)
        save_config(config, cv.config)
        write_folds(cv.folds_table, samples, assignments)
        atomic_write_json(cv.plan, {"protocol": protocol, "folds": folds, "fold_details": fold_details})
        return _run_folds(config, cv, protocol, images, samples, assignments, listed, progress, ray, fold_details)


def resume_cv(out: str | Path, progress: bool = True, ray: RayPlan | None = None) -> CvSummary:
    """Continue a cross-validation: completed folds are kept, an interrupted fold starts again, the rest run."""
    cv = CvFolder(out)
    with cv.lock():
        if not cv.plan.is_file():
            raise FacepalsyError(
                f"{cv.path}: nothing to resume ({cv.plan.name} not found; not a "
                "cross-validation folder, or it stopped before its first fold)"
            )
        plan = read_json(cv.plan)
        config = load_config(cv.config)
        scanned = config.scan()[1]
        listed = listed_per_source(scanned)
        images, samples = _load(config, cv, scanned, progress)
        assignments = fold_assignments(samples, plan["protocol"], plan["folds"], config.val_fraction, config.seed)
        with cv.folds_table.open(newline="", encoding="utf-8") as f:
            recorded = list(csv.DictReader(f))
        if recorded != [{k: str(v) for k, v in row.items()} for row in _fold_rows(samples, assignments)]:
            raise DataError(
                f"{', '.join(config.data)}: the data changed since this cross-validation started "
                f"(its folds differ from {cv.folds_table}); start again with --overwrite"
            )
        details = plan.get("fold_details", True)  # folders from before the choice drew every fold's details
        return _run_folds(config, cv, plan["protocol"], images, samples, assignments, listed, progress, ray, details)


def _load(config: Config, cv: CvFolder, samples: list[Sample], progress: bool) -> tuple[np.ndarray, list[Sample]]:
    """Decode the images once for all folds; unreadable ones are refused, or skipped and listed with ``skip_bad``."""
    root = config.root
    spec = config.model_spec()
    images, samples, left_out = load_images(root, samples, config.image_size, config.skip_bad, progress, spec.face)
    unreadable, no_face = write_left_out(cv, left_out, root)
    if no_face and progress:
        console.print(f"images without a usable face, left out of every fold: {no_face}, listed in {cv.no_face}")
    return images, samples


def _fold_done(fold: RunFolder) -> bool:
    return fold.finished


def _run_folds(
    config: Config,
    cv: CvFolder,
    protocol: str,
    images: np.ndarray,
    samples: list[Sample],
    assignments: list[list[str]],
    listed: dict[str, dict[int, int]],
    progress: bool,
    ray: RayPlan | None = None,
    details: bool = False,
) -> CvSummary:
    """Train the folds not yet complete (sequentially, in parallel with ``devices`` > 1, or as Ray tasks), then pool
    all of them."""
    fold_dirs = [cv.fold(k) for k in range(len(assignments))]
    metrics = {k: Evaluation.read(fold) for k, fold in enumerate(fold_dirs) if _fold_done(fold)}
    todo = [k for k in range(len(fold_dirs)) if k not in metrics]
    if metrics and progress:
        console.print(f"{len(metrics)} of {len(fold_dirs)} folds already complete; running the other {len(todo)}")
    for k in todo:  # an interrupted fold starts again from scratch
        shutil.rmtree(fold_dirs[k].path, ignore_errors=True)
        fold_dirs[k].make_ready()
    hashes = perceptual_hashes(images) if todo else None  # once for all folds' leakage guards
    try:
        if ray is not None and todo:
            folds_todo, assigned = [fold_dirs[k] for k in todo], [assignments[k] for k in todo]
            metrics.update(
                zip(todo, run_folds_on_ray(ray, config, folds_todo, images, samples, assigned, progress, details))
            )
        elif config.devices > 1:
            metrics.update(
                zip(
                    todo,
                    _run_folds_in_parallel(
                        config,
                        [fold_dirs[k] for k in todo],
                        images,
                        samples,
                        [assignments[k] for k in todo],
                        progress,
                        details,
                    ),
                )
            )
        else:
            for k in todo:
                if progress:
                    console.rule(
                        f"fold {k + 1}/{len(assignments)}: testing "
                        f"{len(_test_subjects(samples, assignments[k]))} subject(s)"
                    )
                metrics[k] = fit_split(
                    config,
                    fold_dirs[k],
                    model_to_train(config),
                    images,
                    samples,
                    assignments[k],
                    progress=progress,
                    hashes=hashes,
                    details=details,
                )
    except (Interrupted, KeyboardInterrupt) as exc:
        raise Interrupted(
            f"{cv.path} keeps its completed folds; continue with: facepalsy cv --resume --out {cv.path}"
        ) from exc
    fold_results = [
        _fold_summary(k, fold_dirs[k], _test_subjects(samples, assignments[k]), metrics[k])
        for k in range(len(fold_dirs))
    ]
    result = pool_folds(cv, protocol, config, fold_results)
    if protocol == "leave-source-out":
        result.sources = held_out_sources(cv, samples, assignments, listed, fold_results)
    atomic_write_json(cv.results, result.to_dict())
    write_cv_markdown(cv, result, config)
    return result


def listed_per_source(samples: list[Sample]) -> dict[str, dict[int, int]]:
    """Images listed per source and class, before any was left out: the denominators of the no-verdict rates."""
    counts: dict[str, dict[int, int]] = {}
    for sample in samples:
        per_class = counts.setdefault(sample.source, {})
        per_class[sample.label] = per_class.get(sample.label, 0) + 1
    return counts


def held_out_sources(
    cv: CvFolder,
    samples: list[Sample],
    assignments: list[list[str]],
    listed: dict[str, dict[int, int]],
    folds: list[FoldResult],
) -> list[SourceFigures]:
    """Per fold of a leave-source-out cross-validation, the figures of the source it held out."""
    figures = []
    for assignment, fold in zip(assignments, folds):
        source = next(s.source for s, part in zip(samples, assignment) if part == "test")
        rows = read_predictions(RunFolder(cv.path / fold.run))
        labels = np.array([CLASSES.index(row["label"]) for row in rows], int)
        probs = np.array([float(row["prob_palsy"]) for row in rows])
        figures.append(source_figures(source, listed.get(source, {}), labels, probs, fold.threshold))
    return figures


def _test_subjects(samples: list[Sample], assignment: list[str]) -> list[str]:
    return sorted({s.subject for s, part in zip(samples, assignment) if part == "test"})


def _run_folds_in_parallel(
    config: Config,
    fold_dirs: list[RunFolder],
    images: np.ndarray,
    samples: list[Sample],
    assignments: list[list[str]],
    progress: bool,
    details: bool,
) -> list[Evaluation]:
    """One worker process per device, each training whole folds on its own device (a GPU, or a share of the CPU cores).

    Folds are independent trainings, so this scales without DDP's communication; the decoded
    images are shared with the workers, not copied.
    """
    device = training_device(config)
    if device.type == "cuda" and config.devices > torch.cuda.device_count():
        raise FacepalsyError(f"--devices {config.devices}: only {torch.cuda.device_count()} GPU(s) visible")
    context = torch.multiprocessing.get_context("spawn")  # fork is unsafe after OpenMP or CUDA start-up
    shared = torch.from_numpy(images).share_memory_()
    slots = context.Queue()
    for slot in range(config.devices):
        slots.put(slot)
    fold_config = config.replace(devices=1, num_nodes=1, strategy="auto")
    results: list[Evaluation | None] = [None] * len(fold_dirs)
    with ProcessPoolExecutor(
        config.devices,
        mp_context=context,
        initializer=_fold_worker_start,
        initargs=(shared, slots, device.type, config.devices),
    ) as pool:
        jobs = {
            pool.submit(_fold_worker_run, fold_config, fold_dir, samples, assignment, details): k
            for k, (fold_dir, assignment) in enumerate(zip(fold_dirs, assignments))
        }
        with progress_bar(*Progress.get_default_columns(), disable=not progress, transient=False) as bar:
            task = bar.add_task(f"{len(jobs)} folds on {config.devices} {device.type} devices", total=len(jobs))
            for job in as_completed(jobs):
                results[jobs[job]] = job.result()
                bar.advance(task)
    return results


_worker_images: np.ndarray | None = None


def _fold_worker_start(images: torch.Tensor, slots, device_type: str, devices: int) -> None:
    """Bind this worker to one device before anything touches CUDA, and keep the shared images."""
    global _worker_images
    slot = slots.get()
    if device_type == "cuda":
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        os.environ["CUDA_VISIBLE_DEVICES"] = visible.split(",")[slot] if visible else str(slot)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // devices))
    _worker_images = images.numpy()


def _fold_worker_run(
    config: Config, fold_dir: RunFolder, samples: list[Sample], assignment: list[str], details: bool
) -> Evaluation:
    return fit_fold(config, fold_dir, _worker_images, samples, assignment, details)


def write_folds(path: Path, samples: list[Sample], assignments: list[list[str]]) -> None:
    """folds.csv: which subject was tested in which fold, with its label and image count."""
    atomic_write_csv(path, ["fold", "subject", "label", "test_images"], _fold_rows(samples, assignments))


def _fold_rows(samples: list[Sample], assignments: list[list[str]]) -> list[dict]:
    rows = []
    for k, assignment in enumerate(assignments):
        tested: dict[str, list[Sample]] = {}
        for sample, part in zip(samples, assignment):
            if part == "test":
                tested.setdefault(sample.subject, []).append(sample)
        rows += [
            {"fold": k, "subject": s, "label": CLASSES[items[0].label], "test_images": len(items)}
            for s, items in sorted(tested.items())
        ]
    return rows


def _fold_summary(k: int, fold: RunFolder, test_subjects: list[str], metrics: Evaluation) -> FoldResult:
    return FoldResult(k, fold.path.name, test_subjects, metrics.threshold, read_leakage(fold), metrics)


def pool_folds(cv: CvFolder, protocol: str, config: Config, folds: list[FoldResult]) -> CvSummary:
    """Metrics over all out-of-fold predictions, per image and per subject, with subject-bootstrap intervals.

    Each prediction keeps the label its fold gave it, at that fold's operating threshold (chosen on
    that fold's validation data); a subject is labelled at the mean threshold of its images.
    """
    rows = [row for fold in folds for row in read_predictions(RunFolder(cv.path / fold.run))]
    y = np.array([CLASSES.index(row["label"]) for row in rows])
    prob = np.array([float(row["prob_palsy"]) for row in rows])
    thresholds = np.array([float(row["threshold"]) for row in rows])
    subjects = [row["subject"] for row in rows]
    ci95 = bootstrap_ci(y, prob, subjects, thresholds, seed=config.seed)
    at_half = binary_metrics(y, prob, 0.5)
    pooled = Evaluation(
        **binary_metrics(y, prob, thresholds),
        ci95=ci95,
        sensitivity_at_half=at_half["recall"],
        specificity_at_half=at_half["specificity"],
        chance=chance_check(y, ci95),
        calibration=Calibration(None, EACH_FOLD, None, {POOLED: calibration_summary(y, prob, subjects, config.seed)}),
    )
    plot_reliability(
        pooled.calibration, cv.reliability, title=f"{config.backbone}, {protocol}: pooled out-of-fold reliability"
    )
    order, subject_label, subject_prob = subject_scores(subjects, y, prob)
    subject_threshold = subject_scores(subjects, y, thresholds)[2]
    per_subject = Scores(
        **binary_metrics(subject_label, subject_prob, subject_threshold),
        ci95=bootstrap_ci(subject_label, subject_prob, order, subject_threshold, seed=config.seed),
    )
    curves = [(y, prob, "per image"), (subject_label, subject_prob, "per subject")]
    plot_roc(curves, cv.roc, title=f"{config.backbone}, {protocol} ({len(folds)} folds)")
    leaks = [f.fold for f in folds if f.leakage.test_subjects_in_training]
    return CvSummary(
        protocol=protocol,
        protocol_text=PROTOCOL_TEXT.get(protocol, PROTOCOL_TEXT["subject"]),
        backbone=config.backbone,
        folds=folds,
        folds_with_test_subject_in_training=leaks,
        pooled=pooled,
        per_subject=per_subject,
        subject_scores=[SubjectScore(s, CLASSES[l], float(p)) for s, l, p in zip(order, subject_label, subject_prob)],
    )
