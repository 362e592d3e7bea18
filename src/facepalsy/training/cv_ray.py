"""Cross-validation folds as Ray tasks: on this machine (a local Ray) or on a cluster started with ``ray start``.

The decoded images go into Ray's object store once; every fold task on a node reads the same copy (zero-copy for
NumPy arrays). Each fold is an independent training, as in ``--devices N``: no communication between folds, each
task asks Ray for ``fold_cpus`` cores (its torch threads) and ``fold_gpus`` GPUs. Fold folders are written where the
driver asked, so on a cluster the output folder must be on storage every node sees (NFS, a cluster file system);
``cv --resume`` skips the folds whose folder is complete, whichever node made it.

Not yet: a frozen backbone's feature bank is computed by each worker process for the folds it runs (a process running
several folds shares it between them), not once for the cluster.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from facepalsy.errors import FacepalsyError
from facepalsy.evaluation.results import Evaluation
from facepalsy.log import progress_bar
from facepalsy.runfolder import RunFolder
from facepalsy.training.config import Config
from facepalsy.training.train import build_model, fit_split

RAY_INSTALL = "pip install 'facepalsy[ray]'  (or: bash scripts/setup)"


@dataclass(frozen=True)
class RayPlan:
    """Where the folds run: ``address`` None starts a local Ray; "auto" or HOST:PORT joins a running cluster."""

    address: str | None = None
    fold_cpus: int = 1
    fold_gpus: float = 0.0

    def __post_init__(self) -> None:
        if self.fold_cpus < 1 or self.fold_gpus < 0:
            raise FacepalsyError(f"--fold-cpus must be ≥ 1 and --fold-gpus ≥ 0, got {self.fold_cpus}, {self.fold_gpus}")


def _fold_task(config: Config, fold_dir: RunFolder, images: np.ndarray, samples, assignment, threads: int):
    import torch

    torch.set_num_threads(threads)  # the cores Ray gave this task, not all of the node's
    return fit_split(config, fold_dir, build_model(config), images, samples, assignment, progress=False)


def run_folds_on_ray(
    plan: RayPlan,
    config: Config,
    fold_dirs: list[RunFolder],
    images: np.ndarray,
    samples: list,
    assignments: list[list[str]],
    progress: bool,
) -> list[Evaluation]:
    """Train the folds as Ray tasks and return their evaluations in fold order."""
    try:
        import ray
    except ImportError as exc:
        raise FacepalsyError(f"--ray needs Ray, which is not installed: {RAY_INSTALL}") from exc
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(
                address=plan.address,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise FacepalsyError(f"--ray {plan.address or '(local)'}: cannot start or join Ray ({exc})") from exc
    try:
        task = ray.remote(num_cpus=plan.fold_cpus, num_gpus=plan.fold_gpus, max_retries=0)(_fold_task)
        images_ref = ray.put(images)
        fold_config = config.replace(devices=1, num_nodes=1, strategy="auto")
        pending = {
            task.remote(fold_config, fold_dir, images_ref, samples, assignment, plan.fold_cpus): k
            for k, (fold_dir, assignment) in enumerate(zip(fold_dirs, assignments))
        }
        results: list[Evaluation | None] = [None] * len(fold_dirs)
        with progress_bar(disable=not progress, transient=False) as bar:
            bar_task = bar.add_task(f"{len(pending)} folds on Ray ({plan.fold_cpus} CPU each)", total=len(pending))
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    results[pending.pop(ref)] = ray.get(ref)
                    bar.advance(bar_task)
        return results
    finally:
        if started_here:
            ray.shutdown()
