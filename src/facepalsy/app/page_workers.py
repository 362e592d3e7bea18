"""The page's two background workers: the micro-batcher (photos of concurrent requests through the network
together) and the upload janitor (uploads and derived files deleted once their request is answered and a grace
period has passed)."""

from __future__ import annotations

import queue
import shutil
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from facepalsy.inference.predictor import Predictor


class MicroBatcher:
    """The network for concurrent photo requests: inputs arriving within ``wait`` seconds of each other (at most
    ``size``)
    go through the Predictor together, probability and Grad-CAM, and each request gets its own answer back.

    Requests decode, find faces and measure landmarks in their own threads; only this one thread
    runs the network, so two cores are not split between competing forward passes.
    """

    def __init__(self, predictor: Predictor, size: int = 16, wait: float = 0.01):
        self.predictor, self.size, self.wait = predictor, size, wait
        self.inbox: queue.Queue = queue.Queue()
        threading.Thread(target=self._serve_forever, name="facepalsy-batcher", daemon=True).start()

    def submit(self, prepared, name: str):
        """(Prediction, Grad-CAM heatmap or None) for one prepared input; blocks until its batch has run."""
        future: Future = Future()
        self.inbox.put((prepared, name, future))
        return future.result()

    def _serve_forever(self) -> None:
        while True:
            batch = [self.inbox.get()]
            deadline = time.monotonic() + self.wait
            while len(batch) < self.size and (left := deadline - time.monotonic()) > 0:
                try:
                    batch.append(self.inbox.get(timeout=left))
                except queue.Empty:
                    break
            try:
                prepared = [item for item, _, _ in batch]
                predictions = self.predictor.classify(prepared, [name for _, name, _ in batch])
                heatmaps = (
                    self.predictor.gradcam(np.stack([p.pixels.transpose(2, 0, 1) for p in prepared]))
                    if self.predictor.is_cnn
                    else [None] * len(batch)
                )
                for (_, _, future), prediction, heatmap in zip(batch, predictions, heatmaps):
                    future.set_result((prediction, heatmap))
            except BaseException as exc:  # every waiting request hears of it; the thread keeps serving
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)


class UploadJanitor:
    """Deletes everything the page keeps of an upload once nothing has used it for ``grace`` seconds.

    That is the upload itself, what was derived from it (report, heatmap, landmark drawing,
    timeline, exam pictures) and Gradio's cached copies of those. Two ways: ``release(path)`` after
    a response restarts that path's clock (Gradio stores identical uploads under one
    content-addressed path, so a file deleted at once could vanish under a queued request carrying
    the same photo); and, with ``root``, a sweep every ``period`` seconds deletes each entry of
    ``root`` whose newest file is older than ``grace`` and that no running request holds.
    """

    def __init__(self, grace: float = 30.0, root: Path | None = None, period: float = 1.0):
        self.grace, self.root, self.period = grace, root, period
        self.timers: dict[Path, threading.Timer] = {}
        self.held: dict[Path, int] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        if root is not None:
            threading.Thread(target=self._sweep_forever, name="facepalsy-janitor", daemon=True).start()

    def hold(self, path: Path) -> None:
        """A request is using ``path``: no sweep deletes it until released."""
        with self.lock:
            self.held[path] = self.held.get(path, 0) + 1

    def release(self, path: Path | None) -> None:
        if path is None:
            return
        with self.lock:
            if self.held.get(path, 0) > 1:
                self.held[path] -= 1
            else:
                self.held.pop(path, None)
            if path in self.timers:
                self.timers[path].cancel()
            timer = threading.Timer(self.grace, self._delete, args=(path,))
            timer.daemon = True
            self.timers[path] = timer
            timer.start()

    def _delete(self, path: Path) -> None:
        with self.lock:
            self.timers.pop(path, None)
            if path in self.held:  # used again meanwhile: its release starts a new clock
                return
        _remove(path)

    def sweep(self) -> None:
        """Delete each entry of ``root`` untouched for ``grace`` seconds that nothing holds or waits to delete."""
        if self.root is None or not self.root.is_dir():
            return
        now = time.time()
        with self.lock:
            busy = set(self.held) | set(self.timers)
        for entry in _entries(self.root):
            if any(entry == b or entry in b.parents or b in entry.parents for b in busy):
                continue
            if now - _last_change(entry) > self.grace:
                _remove(entry)

    def _sweep_forever(self) -> None:
        while not self.stopped.wait(self.period):
            self.sweep()

    def flush(self) -> None:
        """Delete everything now (at shutdown)."""
        self.stopped.set()
        with self.lock:
            pending = list(self.timers)
            for timer in self.timers.values():
                timer.cancel()
            self.timers.clear()
        for path in pending:
            _remove(path)


def _entries(root: Path) -> list[Path]:
    """The units the sweep deletes: each file or folder in ``root``, and inside Gradio's cache each of its folders."""
    entries = []
    for entry in root.iterdir():
        if entry.is_dir() and entry.name == "uploads":
            entries += list(entry.iterdir())
        else:
            entries.append(entry)
    return entries


def _last_change(entry: Path) -> float:
    """When ``entry`` or anything in it last arrived or changed: ctime too, since a copied upload keeps its old
    mtime."""

    def changed(path: Path) -> float:
        stat = path.stat()
        return max(stat.st_mtime, stat.st_ctime)

    try:
        return max([changed(entry), *(changed(p) for p in entry.rglob("*"))]) if entry.is_dir() else changed(entry)
    except OSError:  # deleted meanwhile
        return time.time()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
