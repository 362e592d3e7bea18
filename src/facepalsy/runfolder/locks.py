"""One writer per output folder: the lock (with its owner, for the message a second writer gets), the
writability and free-space check before any work, and the folder preparation rules (--overwrite, --resume)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from facepalsy.config import Config, load_config
from facepalsy.errors import FacepalsyError

CONFIG_FILE = "config.yaml"
LOCK_FILE = ".lock"
OWNER_FILE = ".lock.owner"  # who holds the lock, for the message a second writer gets
AUDIT_FILE = "audit.json"  # the shortcut audit of the training images
OLD_AUDIT_FILE = "check.json"  # its name in runs written before it was told apart from ``facepalsy check``


class _Locked:
    """What every folder that trains has: its config, its lock and the shortcut audit of its training images."""

    config = property(lambda self: self.path / CONFIG_FILE)
    lock_file = property(lambda self: self.path / LOCK_FILE)
    audit = property(lambda self: self.path / AUDIT_FILE)

    def audit_found(self) -> Path | None:
        """The shortcut audit's file as this folder holds it (an older run's check.json), or None."""
        return next((p for p in (self.audit, self.path / OLD_AUDIT_FILE) if p.is_file()), None)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock (creating the folder) so that a second process cannot write into it."""
        with _lock(self.path):
            yield

    def read_config(self) -> Config:
        """The training settings as written, typed and validated (``config.load_config``)."""
        return load_config(self.config)


def _make_ready(out: Path, overwrite: bool, resume: bool, needed_bytes: int, resumable: Path) -> Path:
    """Create ``out``; refuse an existing non-empty folder unless asked to overwrite or resume.

    Fails before any work when the folder cannot be written or its disk lacks ``needed_bytes``.
    Call it under the folder's lock.
    """
    if resume:
        if not resumable.is_file():
            hint = (
                " (it stopped before its first epoch ended; start it again with --overwrite)"
                if (out / CONFIG_FILE).is_file()
                else ""
            )
            raise FacepalsyError(f"{out}: nothing to resume ({resumable.relative_to(out)} not found){hint}")
        for stale in out.rglob(".*.tmp"):  # a write cut short by SIGKILL; the file it was replacing is intact
            stale.unlink()
        check_writable(out, needed_bytes)
        return out
    existing = out.is_dir() and any(p.name not in (LOCK_FILE, OWNER_FILE) for p in out.iterdir())
    if existing and not overwrite:
        raise FacepalsyError(
            f"{out}: run folder already exists; pass --overwrite to replace it or --resume to continue it"
        )
    if existing and not (out / CONFIG_FILE).is_file():
        raise FacepalsyError(
            f"{out}: --overwrite refused: not a facepalsy run folder (no {CONFIG_FILE}), nothing deleted"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FacepalsyError(f"{out}: cannot create the run folder ({exc.strerror or exc})") from exc
    if existing:  # config.yaml goes last, so a deletion cut short leaves a folder --overwrite still recognises
        for item in sorted(out.iterdir(), key=lambda item: item.name == CONFIG_FILE):
            if item.name in (LOCK_FILE, OWNER_FILE):
                continue
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            else:
                item.unlink()
    check_writable(out, needed_bytes)
    return out


def check_writable(out: Path, needed_bytes: int = 0) -> None:
    """Write and delete a probe file, and compare free space with what the run will write."""
    try:
        with tempfile.TemporaryFile(dir=out) as probe:
            probe.write(b"facepalsy")
            probe.flush()
            os.fsync(probe.fileno())
        free = shutil.disk_usage(out).free
    except OSError as exc:
        raise FacepalsyError(
            f"{out}: cannot write to the run folder ({exc.strerror or exc}); choose another --out"
        ) from exc
    if free < needed_bytes:
        raise FacepalsyError(
            f"{out}: only {free / 1e6:.0f} MB free, the run needs about "
            f"{needed_bytes / 1e6:.0f} MB; free space or choose another --out"
        )


@contextmanager
def _lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out/.lock`` (creating ``out``) so that a second run cannot write into it.

    ``filelock`` takes the operating system's own lock (flock on Unix, LockFileEx on Windows), which
    is released when the process ends, however it ends (SIGKILL included), so a stale lock file
    never blocks a later run. Who holds it is written beside it, for the refusal message; both files are
    removed when the lock is released.
    """
    from filelock import FileLock, Timeout

    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = FileLock(out / LOCK_FILE, timeout=0)
        lock.acquire()
    except Timeout:
        try:
            holder = (out / OWNER_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            holder = ""
        raise FacepalsyError(
            f"{out}: in use by another facepalsy run ({holder or 'another process'}); "
            "wait for it to end or choose another --out"
        ) from None
    except OSError as exc:
        raise FacepalsyError(
            f"{out}: cannot create the run folder ({exc.strerror or exc}); choose another --out"
        ) from exc
    try:
        (out / OWNER_FILE).write_text(f"pid {os.getpid()} on {socket.gethostname()}\n", encoding="utf-8")
        yield
    finally:
        # Removed while still held, so a finished folder holds only its results. Nobody waits on this lock
        # (timeout 0: a second writer is refused at once), so no process is left holding a deleted file.
        for name in (OWNER_FILE, LOCK_FILE):
            (out / name).unlink(missing_ok=True)
        lock.release()


def is_rank_zero() -> bool:
    """True in the one process that writes the run folder.

    Under DDP every process runs the same command (Lightning's launcher re-runs it; torchrun and
    SLURM start it per process); only global rank 0 creates, writes and evaluates.
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return rank_zero_only.rank == 0 and int(os.environ.get("NODE_RANK", 0)) == 0
