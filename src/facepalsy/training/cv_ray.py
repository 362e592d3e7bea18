"""Cross-validation folds as Ray tasks: on this machine (a local Ray) or on a cluster started with ``ray start``.

The decoded images go into Ray's object store once; every fold task on a node reads the same copy (zero-copy for
NumPy arrays). Each fold is an independent training, as in ``--devices N``: no communication between folds, each
task asks Ray for ``--fold-cpus`` cores (its torch threads) and ``--fold-gpus`` GPUs. Fold folders are written where the
driver asked, so on a cluster the output folder must be on storage every node sees (NFS, a cluster file system);
``cv --resume`` skips the folds whose folder is complete, whichever node made it.

A frozen backbone with ``--feature-cache K`` is passed over each image K + 1 times for the whole cross-validation, not
once per fold: one Ray task computes the feature bank (every image's plain and K augmented views, with the same
resources as a fold), it goes into the object store, and every fold task takes its features from there.
"""

from __future__ import annotations

import numpy as np

from facepalsy.cluster import RayPlan, as_finished, ray_session
from facepalsy.config import Config
from facepalsy.evaluation.results import Evaluation
from facepalsy.inference.network import use_bf16
from facepalsy.log import console, progress_bar
from facepalsy.models.baseline import NAME as LANDMARK_MODEL
from facepalsy.runfolder import RunFolder
from facepalsy.training.features import adopt_bank, backbone_passes, bank_key, feature_bank
from facepalsy.training.loop import PalsyModule
from facepalsy.training.train import fit_fold, model_to_train, training_device


def _bank_task(config: Config, images: np.ndarray, threads: int) -> tuple[tuple, dict[int, np.ndarray]]:
    """The feature bank of a frozen backbone: its key and every view of every image."""
    import torch

    torch.set_num_threads(threads)
    module = PalsyModule(config.to_dict(), config.model_spec().preprocess.to_dict(), model_to_train(config))
    bf16 = use_bf16(config.precision, training_device(config))
    module.to(training_device(config))
    bank = feature_bank(module, config, images, bf16)
    return bank_key(module, config, images, bf16), bank.contents()


def _fold_task(
    config: Config, fold_dir: RunFolder, images: np.ndarray, samples, assignment, threads: int, details: bool, bank
) -> tuple[Evaluation, int]:
    """One fold; returns its evaluation and the backbone passes it made (0 when the shared bank had every feature)."""
    import torch

    torch.set_num_threads(threads)  # the cores Ray gave this task, not all of the node's
    if bank is not None:
        adopt_bank(*bank)
    before = backbone_passes()
    result = fit_fold(config, fold_dir, images, samples, assignment, details)
    return result, backbone_passes() - before


def run_folds_on_ray(
    plan: RayPlan,
    config: Config,
    fold_dirs: list[RunFolder],
    images: np.ndarray,
    samples: list,
    assignments: list[list[str]],
    progress: bool,
    details: bool = False,
) -> list[Evaluation]:
    """Train the folds as Ray tasks and return their evaluations in fold order (``details``: see ``fit_split``)."""
    with ray_session(plan) as ray:
        task = ray.remote(**plan.resources)(_fold_task)
        images_ref = ray.put(images)
        fold_config = config.replace(devices=1, num_nodes=1, strategy="auto")
        bank = None
        if config.feature_cache and config.backbone != LANDMARK_MODEL:
            bank = ray.remote(**plan.resources)(_bank_task).remote(fold_config, images_ref, plan.task_cpus)
        pending = {
            task.remote(fold_config, fold_dir, images_ref, samples, assignment, plan.task_cpus, details, bank): k
            for k, (fold_dir, assignment) in enumerate(zip(fold_dirs, assignments))
        }
        results: list[Evaluation | None] = [None] * len(fold_dirs)
        passes = 0
        with progress_bar(disable=not progress, transient=False) as bar:
            bar_task = bar.add_task(f"{len(pending)} folds on Ray ({plan.task_cpus} CPU each)", total=len(pending))
            for k, (result, computed) in as_finished(ray, pending):
                results[k] = result
                passes += computed
                bar.advance(bar_task)
        if bank is not None and progress:
            console.print(
                f"feature bank: computed once on the cluster for {len(fold_dirs)} folds; "
                f"backbone passes made by the folds themselves: {passes}"
            )
        return results
