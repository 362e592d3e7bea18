"""Training with Lightning: decode once, augment on the device, keep the best model and the curves.

``train(config, out)`` is the library entry point; the CLI's ``train`` is a thin wrapper.
"""

from __future__ import annotations

import copy
import dataclasses
from contextlib import nullcontext
from pathlib import Path
from typing import Sequence

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from facepalsy.config import Config, load_config, save_config
from facepalsy.data.dataset import CLASSES, Sample, load_images, split_samples, write_left_out
from facepalsy.errors import FacepalsyError, Interrupted, NoFaceError, display_path
from facepalsy.evaluation.audit_result import Audit
from facepalsy.evaluation.check import guard_split, perceptual_hashes
from facepalsy.evaluation.evaluate import evaluate_arrays
from facepalsy.evaluation.metrics import binary_metrics, choose_operating_point
from facepalsy.evaluation.results import Evaluation, LeftOut
from facepalsy.evaluation.validation import choose_temperature, threshold_interval
from facepalsy.files import atomic_write_json
from facepalsy.inference.network import use_bf16
from facepalsy.inference.predictor import load
from facepalsy.inference.settings import InferenceSettings
from facepalsy.log import console, quiet
from facepalsy.models.baseline import NAME as LANDMARK_MODEL
from facepalsy.models.network_parts import PalsyNetwork
from facepalsy.models.operating_point import OperatingPoint, apply_temperature
from facepalsy.models.registry import create_model, weights_provenance
from facepalsy.models.spec import ModelSpec
from facepalsy.runfolder import CHECKPOINT_FORMAT, Exclusions, RunFolder
from facepalsy.runfolder.locks import is_rank_zero
from facepalsy.training.loop import (
    AtomicCheckpointIO,
    EpochShuffle,
    PalsyModule,
    RunRecorder,
    experiment_loggers,
    feature_cache_loaders,
    progress_callbacks,
    quiet_lightning,
)


def training_device(config: Config) -> torch.device:
    """The device type Lightning will train on, to decide on bf16 before the Trainer exists."""
    if config.accelerator in ("gpu", "cuda") or (config.accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("mps" if config.accelerator == "mps" else "cpu")


def with_precision(config: Config) -> Config:
    """The config with the precision a CNN will actually train in (``auto`` resolved to bf16 or fp32 on this
    machine), so that the run folder records what was used; the landmark model has no precision to choose."""
    if config.backbone == LANDMARK_MODEL:
        return config
    return config.replace(precision="bf16" if use_bf16(config.precision, training_device(config)) else "fp32")


_built: dict[tuple, PalsyNetwork] = {}  # the last model built, kept for the next fold or run of this process


def model_to_train(config: Config) -> PalsyNetwork | None:
    """The CNN to train (weights fetched now, so a missing file fails before any work), or None for the baseline.

    The model built last is kept: the next call with the same backbone, weights and seed (the next fold of a
    cross-validation) gets a copy instead of reading the weights and initialising again. A frozen backbone is not
    copied but shared: it never changes, so every fold of a process uses the same one (and its feature bank digest
    is computed once); the head, which trains, is always a fresh copy."""
    if config.backbone == LANDMARK_MODEL:
        return None
    weights = Path(str(config.weights))
    changed = weights.stat() if weights.is_file() else None  # a weights file replaced under the same name counts
    key = (config.backbone, str(config.weights), config.seed, changed and (changed.st_mtime_ns, changed.st_size))
    if key not in _built:
        with torch.random.fork_rng(devices=[]):  # initial weights depend on the seed alone, not on what ran before
            torch.manual_seed(config.seed)
            model = create_model(config.backbone, weights=config.weights)
        _built.clear()
        _built[key] = model
    template = _built[key]
    shared = {} if config.finetune else {id(template.features): template.features}
    return copy.deepcopy(template, memo=shared)


def forget_model_to_train() -> None:
    """Drop the kept model (the benchmark times a fold alone as a new process would run it)."""
    _built.clear()


def train(
    config: Config,
    out: str | Path,
    overwrite: bool = False,
    progress: bool = True,
    notes: tuple[str, ...] = (),
    callbacks: Sequence[Callback] = (),
) -> Evaluation | None:
    """Train a new run: split, fit, keep the best model by validation loss, evaluate it on the test split.

    Writes the run folder (config, split, leakage, history, model, metrics, figures, report) and
    returns the test metrics. ``notes`` are extra lines for the report (the demo explains its choices);
    ``callbacks`` are extra Lightning callbacks. Under DDP, processes other than rank 0 train, write
    nothing and return None.
    """
    _, samples = config.scan()  # a wrong folder fails before any weights are fetched
    config = with_precision(config.resolved())  # the run records its operating point and the precision it trains in
    model = model_to_train(config)
    run, writer = RunFolder(out), is_rank_zero()
    with run.lock() if writer else nullcontext():
        if writer:
            run.make_ready(overwrite=overwrite, needed_bytes=run_bytes(model))
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
    model: PalsyNetwork | None,
    samples: list[Sample],
    writer: bool,
    progress: bool,
    notes: tuple[str, ...],
    callbacks: Sequence[Callback],
) -> Evaluation | None:
    """train() after its run folder is locked and prepared: decode, split, audit, fit."""
    root = config.root
    spec = config.model_spec()
    images, kept, left_out = load_images(
        root, samples, config.image_size, config.skip_bad, progress and writer, spec.face
    )
    # images without a usable face are split too (never trained on): those in the test split are the test's own
    # "no verdict" count, in every report of the run
    faceless = {str(e.path) for e in left_out if isinstance(e, NoFaceError)}
    unused = [s for s in samples if str(root / s.path) in faceless]
    every = split_samples(kept + unused, config.split, config.test_fraction, config.val_fraction, config.seed)
    assignment = every[: len(kept)]
    if writer:
        unreadable, no_face = write_left_out(run, left_out, root)
        test = sum(part == "test" for part in every[len(kept) :])
        run.write_exclusions(Exclusions(unreadable, no_face, test))
    if writer:
        audit_training_data(root, kept, run.audit, spec, config.seed, progress)
    return fit_split(config, run, model, images, kept, assignment, progress=progress, notes=notes, callbacks=callbacks)


def audit_training_data(
    root: Path, samples: list[Sample], path: Path, spec: ModelSpec, seed: int, progress: bool
) -> Audit:
    """The shortcut audit of the images a run or cross-validation trains on (harmonised, when the run
    harmonises): written beside it, its warning shown."""
    from facepalsy.evaluation.audit import audit

    harmonise = (spec.image_size, spec.face.harmonise) if spec.face.harmonise else None
    crop = spec.face.crop or spec.face.harmonise is not None or spec.backbone == LANDMARK_MODEL
    result = audit(root, samples, progress=progress, seed=seed, harmonise=harmonise, crop=crop)
    atomic_write_json(path, result.to_dict())
    if result.warning:
        console.print(f"[bold red]WARNING:[/] {result.warning}", highlight=False)
    return result


def run_bytes(model: PalsyNetwork | None) -> int:
    """Disk a run needs at most: model.pt (the weights) and last.ckpt (weights and at most two Adam moments),
    each briefly twice while a new copy replaces it, plus 10 MB for figures and tables."""
    if model is None:
        return 10_000_000
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return 2 * (weights + 3 * weights) + 10_000_000


def fit_split(
    config: Config,
    run: RunFolder,
    model: PalsyNetwork | None,
    images: np.ndarray,
    samples: list[Sample],
    assignment: list[str],
    progress: bool = True,
    notes: tuple[str, ...] = (),
    callbacks: Sequence[Callback] = (),
    hashes: np.ndarray | None = None,
    details: bool = True,
) -> Evaluation | None:
    """Train on a given train/val/test assignment (one split, or one fold of cross-validation).

    The leakage guard runs first: under a subject protocol a subject on both sides is refused;
    under the frame protocol the overlap is counted, printed and written to the report.
    ``hashes``: the images' perceptual hashes, when the caller has them (cv computes them once for all folds).
    ``details=False`` (a cross-validation's folds, unless ``--fold-details``): the run keeps its model, metrics,
    predictions, history and the threshold and temperature it chose, but draws no figures, Grad-CAM examples or
    report, computes no bootstrap intervals and writes no epoch checkpoints (an interrupted fold starts again
    anyway): that fixed work cost a fold more than its training. The pooled results keep all of them.
    """
    hashes = perceptual_hashes(images) if hashes is None else hashes
    guard = guard_split(config.split, samples, assignment, hashes)
    if is_rank_zero():
        run.write_fingerprints(config.root, samples, assignment, hashes)
        if progress and config.split == "frame":
            console.print(guard.frame_note())
        atomic_write_json(run.leakage, guard.to_dict())
        save_config(config, run.config)
        run.write_split(samples, assignment)
        started = None if model is None else weights_provenance(config.backbone, str(config.weights)).to_dict()
        run.write_provenance(config.root, samples, assignment, weights=started)
    if model is None:
        from facepalsy.training.landmarks import fit_landmarks  # MediaPipe: only for landmark runs

        classifier, chosen_on, said = fit_landmarks(config, images, samples, assignment, progress)
        run.save_model(config.model_spec(), baseline=classifier.to_dict())
        notes = (*notes, *said)
        return finish_run(config, run, images, samples, assignment, notes, details=details, chosen_on=chosen_on)
    return _fit(config, run, model, images, samples, assignment, False, progress, notes, callbacks, details)


def fit_fold(config: Config, fold: RunFolder, images: np.ndarray, samples, assignment, details: bool) -> Evaluation:
    """One cross-validation fold as a worker process or Ray task trains it: its own model, no progress output."""
    return fit_split(config, fold, model_to_train(config), images, samples, assignment, progress=False, details=details)


def finish_run(
    config: Config,
    run: RunFolder,
    images: np.ndarray,
    samples: list[Sample],
    assignment: list[str],
    notes: tuple[str, ...] = (),
    bank=None,
    details: bool = True,
    chosen_on: tuple[np.ndarray, np.ndarray, list[str]] | None = None,
) -> Evaluation:
    """After training: decide on a temperature and choose the operating threshold (with its interval) on
    validation data (never test), record them in model.pt, then test the kept model through the same Predictor
    every other path uses. ``validation.json`` keeps the evidence for both choices. ``chosen_on``: the labels,
    uncalibrated probabilities and subjects to choose on instead of the validation images (the landmark model's
    cross-fitted ones).

    With a feature bank (frozen backbone, ``--feature-cache``), the Predictor scores the bank's pooled
    features of the validation and test images, so no image passes the frozen backbone twice. ``details``: see
    :func:`fit_split`."""
    parts = np.array(assignment)
    labels = np.array([s.label for s in samples])
    predictor = load(run.path, InferenceSettings(precision=config.precision, calibrated=False), finished_only=False)
    val = parts == "val"

    def features(part: np.ndarray):
        return bank.plain(torch.from_numpy(np.flatnonzero(part))) if bank is not None else None

    temperature, raw = None, np.zeros(0)
    if chosen_on is not None:
        y, raw, subjects = chosen_on
        measured = ~np.isnan(raw)
        raw, y, subjects = raw[measured], y[measured], [s for s, m in zip(subjects, measured) if m]
    elif val.any():
        raw, y = predictor.probabilities(images[val], features=features(val)), labels[val]
        subjects = [samples[i].subject for i in np.flatnonzero(val)]
        measured = ~np.isnan(raw)  # the landmark model's unmeasured or unread faces have no probability
        raw, y, subjects = raw[measured], y[measured], [s for s, m in zip(subjects, measured) if m]
    if len(raw):
        choice = choose_temperature(y, raw, subjects, seed=config.seed)
        temperature = choice.temperature
        probs = apply_temperature(raw, temperature) if temperature else raw
        point = choose_operating_point(y, probs, config.operating_rule)
        if details:
            interval = threshold_interval(y, probs, subjects, config.operating_rule, seed=config.seed)
            point = dataclasses.replace(point, interval=interval)
        medians = {name: float(np.median(probs[y == c])) for c, name in enumerate(CLASSES) if (y == c).any()}
        atomic_write_json(
            run.validation,
            {
                **point.to_dict(),
                "temperature": temperature,
                "calibration": choice.to_dict(),
                "median_prob_palsy": medians,
                **binary_metrics(y, probs, point.threshold),
            },
        )
    else:
        point = OperatingPoint(0.5, "fixed=0.5")  # no validation data to choose on
        why = "No validation image got a verdict" if val.any() else "No validation images"
        notes = (*notes, f"{why}: the run labels at 0.5 and its probabilities are not calibrated.")
    predictor.spec = predictor.run.set_operating_point(point, temperature)  # its run has model.pt read already
    predictor.settings = dataclasses.replace(predictor.settings, calibrated=True)
    test = np.flatnonzero(parts == "test")
    result = evaluate_arrays(
        predictor,
        run,
        images[test],
        [samples[i] for i in test],
        notes=notes,
        seed=config.seed,
        left_out=LeftOut(0, (run.read_exclusions() or Exclusions()).no_face_test),
        features=features(parts == "test"),
        details=details,
    )
    run.mark_complete()  # last: only now is the run finished
    return result


def resume(out: str | Path, epochs: int | None = None, progress: bool = True) -> Evaluation | None:
    """Continue a run from its last completed epoch, with its own config and split.

    ``epochs`` may raise the total number of epochs, to train a finished run further.
    """
    run, writer = RunFolder(out), is_rank_zero()
    with run.lock() if writer else nullcontext():
        if writer:
            run.make_ready(resume=True)
            run.complete.unlink(missing_ok=True)  # training again (--epochs): unfinished until it ends
        check_lightning_checkpoint(run.last_checkpoint)
        config = load_config(run.config)
        if epochs is not None and epochs != config.epochs:
            config = config.replace(epochs=epochs)
            if writer:
                save_config(config, run.config)
        samples, assignment = run.read_split()
        spec = config.model_spec()
        images, kept, _ = load_images(config.root, samples, config.image_size, False, progress and writer, spec.face)
        # a fine-tuned backbone is in the checkpoint; a frozen one is rebuilt from the run's weights (and checked
        # against its digest)
        model = create_model(config.backbone, weights="none") if config.finetune else model_to_train(config)
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
    model: PalsyNetwork,
    images: np.ndarray,
    samples: list[Sample],
    assignment: list[str],
    resume: bool,
    progress: bool,
    notes: tuple[str, ...] = (),
    callbacks: Sequence[Callback] = (),
    details: bool = True,
) -> Evaluation | None:
    spec = config.model_spec()
    bf16 = use_bf16(config.precision, training_device(config))
    L.seed_everything(config.seed, workers=True, verbose=False)
    quiet_lightning()
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
        train_loader, val_loader, bank = feature_cache_loaders(module, config, images, labels, parts, progress, bf16)
    recorder = RunRecorder(run, spec, monitor="val_loss" if val_loader else "train_loss", every_epoch=details)
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
        callbacks=[recorder, *([last] if details else []), *callbacks, *progress_callbacks(progress)],
        enable_checkpointing=details,
        plugins=[AtomicCheckpointIO()],
        logger=experiment_loggers(config, run, resume) if details or config.logger != "csv" else False,
        enable_model_summary=False,
        enable_progress_bar=progress and not quiet() and console.is_terminal,  # else EpochLines, on stderr
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
        return None
    return finish_run(config, run, images, samples, assignment, notes, bank, details)
