"""Where a run came from: a content hash of its data (paths, labels, subjects and file bytes) and the environment
(Python, torch, every installed distribution, facepalsy's version and git commit)."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path

from facepalsy.data.dataset import Sample
from facepalsy.files import file_sha256


def content_hash(root: Path, samples: list[Sample]) -> str:
    """SHA-256 over each sample's path, label, subject and file bytes, in path order: any change to the data changes
    it."""
    digest = hashlib.sha256()
    for sample in sorted(samples, key=lambda s: s.path):
        digest.update(f"{sample.path}\0{sample.label}\0{sample.subject}\0".encode("utf-8", "surrogateescape"))
        digest.update(bytes.fromhex(file_sha256(root / sample.path)))
    return digest.hexdigest()


@functools.cache
def environment() -> dict:
    """Versions of Python, torch and every installed distribution, and facepalsy's git commit when it runs from a
    checkout (read once per process)."""
    import torch  # imported when a run is written, not when a run folder is read

    from facepalsy.version import __version__

    packages = sorted((d.metadata["Name"] or "?", d.version) for d in importlib.metadata.distributions())
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "facepalsy": __version__,
        "facepalsy_git_commit": git_commit(),
        "cpu": cpu_kind(),
        "threads": torch.get_num_threads(),
        "packages": dict(packages),
    }


@functools.cache
def cpu_kind() -> str:
    """The CPU's model and vector kind, e.g. "AMD EPYC (AVX-512 with bf16)": results of float kernels (a short
    training) can differ between kinds, so every figure names it."""
    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    flags = set(next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), []))
    if "avx512f" in flags:
        vector = "AVX-512" + (" with bf16" if "avx512_bf16" in flags else "")
    else:
        vector = "AVX2" if "avx2" in flags else platform.machine()
    return f"{model or platform.processor() or 'unknown CPU'} ({vector})"


def git_commit() -> str | None:
    """The commit of the facepalsy checkout this code runs from (``-dirty`` with uncommitted changes); None when
    installed from a wheel."""
    package = Path(__file__).resolve().parents[1]  # src/facepalsy: this file lives in its runfolder/

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(package), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() / "src" / "facepalsy" != package:
            return None  # installed inside some other repository
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None
