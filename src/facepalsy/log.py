"""Where facepalsy talks: progress bars and messages on stderr, at the verbosity the CLI set; results alone go to
stdout.

Every module prints through :data:`console` and draws progress with :func:`progress_bar`, so
``-q`` silences all of it at once and ``facepalsy train ... --json > out.json`` leaves a clean file.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress

console = Console(stderr=True)
_verbosity = 0  # -1 quiet, 0 normal, 1 verbose


def set_verbosity(level: int) -> None:
    """-1: errors only (no progress, no notes); 0: progress and notes; 1: also the training library's own log lines."""
    global _verbosity
    _verbosity = level
    console.quiet = level < 0


def verbose() -> bool:
    return _verbosity > 0


def quiet() -> bool:
    return _verbosity < 0


def progress_bar(*columns, disable: bool = False, transient: bool = True) -> Progress:
    """A rich progress bar on stderr (off under ``-q``)."""
    return Progress(*columns, console=console, disable=disable or quiet(), transient=transient)
