"""Ray, for the work that spreads over machines (cross-validation folds, scoring an archive): where it runs, starting
or joining Ray, and results as their tasks finish. Ray is the ``ray`` extra; nothing else imports it."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from facepalsy.errors import FacepalsyError

RAY_INSTALL = "pip install 'facepalsy[ray]'  (or: bash scripts/setup)"


@dataclass(frozen=True)
class RayPlan:
    """Where the tasks run: ``address`` None starts a local Ray; "auto" or HOST:PORT joins a running cluster. Each
    task asks for ``task_cpus`` cores (its torch threads) and ``task_gpus`` GPUs."""

    address: str | None = None
    task_cpus: int = 1
    task_gpus: float = 0.0

    def __post_init__(self) -> None:
        if self.task_cpus < 1 or self.task_gpus < 0:
            raise FacepalsyError(
                f"--ray: a task needs at least 1 core and 0 or more GPUs, got {self.task_cpus} and {self.task_gpus}"
            )

    @property
    def resources(self) -> dict[str, Any]:
        """``ray.remote`` options of one task: its cores and GPUs, and no retry (a failed task is reported, not
        repeated)."""
        return {"num_cpus": self.task_cpus, "num_gpus": self.task_gpus, "max_retries": 0}


@contextmanager
def ray_session(plan: RayPlan) -> Iterator[Any]:
    """The ``ray`` module, initialised as ``plan`` says unless it already is; a Ray started here stops on leaving."""
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
        yield ray
    finally:
        if started_here:
            ray.shutdown()


def as_finished(ray: Any, pending: dict) -> Iterator[tuple[Any, Any]]:
    """(key, result) of each task in ``pending`` (object ref → key), in the order the tasks finish."""
    pending = dict(pending)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            yield pending.pop(ref), ray.get(ref)
