"""Where facepalsy talks: progress bars and messages on stderr, at the verbosity the CLI set; results alone go to
stdout.

Every module prints through :data:`console` and draws progress with :func:`progress_bar`, so
``-q`` silences all of it at once and ``facepalsy train ... --json > out.json`` leaves a clean file.
When stderr is not a terminal (a log file, CI), a bar would draw nothing until it ends, so progress is written
as plain lines instead (:class:`LineProgress`); and consoles that are not terminals never cut a table to 80
columns (:func:`result_console`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import Progress

WIDE = 250  # columns for a console that is not a terminal: tables are as wide as their content needs
T = TypeVar("T")


def _console(stderr: bool) -> Console:
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=WIDE)


console = _console(stderr=True)
_verbosity = 0  # -1 quiet, 0 normal, 1 verbose


def result_console() -> Console:
    """A console on stdout for results (tables): never cut when stdout is a file or a pipe."""
    return _console(stderr=False)


def set_verbosity(level: int) -> None:
    """-1: errors only (no progress, no notes); 0: progress and notes; 1: also the training library's own log lines."""
    global _verbosity
    _verbosity = level
    console.quiet = level < 0


def verbose() -> bool:
    return _verbosity > 0


def quiet() -> bool:
    return _verbosity < 0


class LineProgress:
    """Progress as plain lines on stderr (start, about every ``every`` seconds, end), with rich Progress's calls."""

    def __init__(self, every: float = 10.0) -> None:
        self.every, self.tasks = every, {}

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc) -> None:
        for task in self.tasks:
            self._line(task, force=True)

    def add_task(self, description: str, total: float | None = None, **_) -> int:
        task = len(self.tasks)
        self.tasks[task] = {"description": description, "total": total, "done": 0, "last": time.monotonic()}
        console.print(f"{description}: started", highlight=False)
        return task

    def advance(self, task: int, advance: float = 1) -> None:
        self.tasks[task]["done"] += advance
        self._line(task)

    def track(self, items: Iterable[T], description: str = "working", total: float | None = None) -> Iterator[T]:
        items = list(items)
        task = self.add_task(description, total=total or len(items))
        for item in items:
            yield item
            self.advance(task)

    def _line(self, task: int, force: bool = False) -> None:
        state, now = self.tasks[task], time.monotonic()
        if force or now - state["last"] >= self.every:
            state["last"] = now
            total = f"/{state['total']:g}" if state["total"] else ""
            console.print(f"{state['description']}: {state['done']:g}{total}", highlight=False)


def progress_bar(*columns, disable: bool = False, transient: bool = True) -> Progress | LineProgress:
    """A rich progress bar on stderr (off under ``-q``), or progress lines when stderr is not a terminal."""
    if not console.is_terminal and not disable and not quiet():
        return LineProgress()
    return Progress(*columns, console=console, disable=disable or quiet(), transient=transient)
