"""Interrupted runs, resume, locks, unwritable output, failed writes and reproducibility."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY_TRAIN_FLAGS

import facepalsy
import facepalsy.training.loop as loop_module
import facepalsy.training.train as train_module
from facepalsy.app.cli import main
from facepalsy.config import Config
from facepalsy.errors import Interrupted
from facepalsy.training.cv import resume_cv, run_cv

FLAGS = ["--split", "subject", *[f for f in TINY_TRAIN_FLAGS if f not in ("--epochs", "2")], "--epochs", "3"]

# The real CLI in a child process, made to stop mid-epoch (epoch 2, after its second batch) and
# wait there, so that the test can signal it at a known moment.
PAUSING_CLI = """
import os, signal, sys, time
from pathlib import Path
# A runner started in the background by a non-interactive shell (``cmd &``, as some CI scripts do) hands its children
# SIGINT ignored, and Python keeps it so; this test is about facepalsy's handling of the signal, so restore Python's.
signal.signal(signal.SIGINT, signal.default_int_handler)
import facepalsy.training.train as T
marker = Path(os.environ["FACEPALSY_TEST_MARKER"])
def pause(self, trainer, module, outputs, batch, batch_idx):
    in_folder = self.run.path.name == os.environ["FACEPALSY_TEST_PAUSE_IN"] or not os.environ["FACEPALSY_TEST_PAUSE_IN"]
    if in_folder and trainer.current_epoch == 1 and batch_idx == 1 and not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(120)
T.RunRecorder.on_train_batch_end = pause
from facepalsy.app.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _start_paused_train(
    tmp_path: Path,
    data: Path,
    out: Path,
    command: tuple[str, ...] = ("train",),
    flags: list[str] = FLAGS,
    pause_in: str = "",
) -> subprocess.Popen:
    """Start the CLI and return once it is paused in epoch 2 (of the run folder named ``pause_in``, if given)."""
    script, marker = tmp_path / "pausing_cli.py", tmp_path / "paused"
    script.write_text(PAUSING_CLI)
    env = {**os.environ, "FACEPALSY_TEST_MARKER": str(marker), "FACEPALSY_TEST_PAUSE_IN": pause_in}
    # stderr to a file, not a pipe: the progress bar writes there, and a pipe nobody reads until exit fills and blocks
    # the child
    proc = subprocess.Popen(
        [sys.executable, str(script), *command, str(data), "--out", str(out), *flags],
        env=env,
        stderr=(tmp_path / "stderr.txt").open("w+"),
        text=True,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
        assert time.monotonic() < deadline, "training never reached epoch 2"
        time.sleep(0.1)
    return proc


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facepalsy", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def uninterrupted(synth_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    done = _cli("train", str(synth_data), "--out", str(out), *FLAGS)
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["SIGKILL", "SIGTERM", "SIGINT"])
def test_train_killed_mid_epoch_then_resumed_equals_an_uninterrupted_run(sig, tmp_path, synth_data, uninterrupted):
    out = tmp_path / "run"
    proc = _start_paused_train(tmp_path, synth_data, out)
    proc.send_signal(sig)
    code, stderr = proc.wait(timeout=120), (tmp_path / "stderr.txt").read_text()
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert code == 130 and "Traceback" not in stderr, stderr
        assert "keeps its last completed epoch" in stderr and f"facepalsy train --resume --out {out}" in stderr

    # consistent: epoch 1 complete and nothing of epoch 2, no half-written file
    assert len((out / "epochs.csv").read_text().splitlines()) == 2
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0
    assert not (out / "metrics.json").exists()
    assert not [p for p in out.rglob("*.tmp") if sig != signal.SIGKILL]  # a clean stop leaves no temporary

    # every consumer refuses the unfinished run, naming what is missing and how to complete it, and writes nothing into
    # it
    image = str(next((synth_data / "palsy").rglob("*.jpg")))
    consumers = (("evaluate", str(out)), ("predict", str(out), image), ("compare", str(out)), ("export", str(out)))
    for args in consumers if sig == signal.SIGKILL else consumers[:1]:  # the other signals leave the same folder
        refused = _cli(*args)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, (args, refused.stderr)
        assert f"{out}: unfinished run (training stopped after epoch 1 of" in refused.stderr, refused.stderr
        assert "missing: model.pt, metrics.json" in refused.stderr or "missing: metrics.json" in refused.stderr, (
            refused.stderr
        )
        assert f"facepalsy train --resume --out {out}" in refused.stderr
    assert not (out / "metrics.json").exists() and not (out / "report.md").exists()

    resumed = _cli("train", "--resume", "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    for name in ("metrics.json", "epochs.csv", "predictions.csv", "validation.json", "complete.json"):
        assert (out / name).read_bytes() == (uninterrupted / name).read_bytes(), name
    assert _cli("evaluate", str(out)).returncode == 0


@pytest.mark.slow
def test_cv_killed_in_a_fold_then_resumed_equals_an_uninterrupted_cv(tmp_path, synth_data):
    flags = ["--protocol", "subject-kfold", "--folds", "3", *FLAGS[2:]]
    reference = _cli("cv", str(synth_data), "--out", str(tmp_path / "whole"), *flags)
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "cut"
    proc = _start_paused_train(tmp_path, synth_data, out, command=("cv",), flags=flags, pause_in="fold_01")
    proc.kill()
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert (out / "fold_00" / "complete.json").is_file() and not (out / "fold_01" / "metrics.json").exists()
    resumed = _cli("cv", "--resume", "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "1 of 3 folds already complete" in resumed.stderr
    assert (out / "cv.json").read_bytes() == (tmp_path / "whole" / "cv.json").read_bytes()


@pytest.mark.slow
def test_a_second_train_into_the_same_out_is_refused_by_the_lock(tmp_path, synth_data):
    out = tmp_path / "run"
    first = _start_paused_train(tmp_path, synth_data, out)
    try:
        for args in (
            ["train", str(synth_data), "--out", str(out), "--overwrite", *FLAGS],
            ["train", "--resume", "--out", str(out)],
        ):
            second = _cli(*args)
            assert second.returncode == 2, second.stderr
            assert (
                f"{out}: in use by another facepalsy run (pid {first.pid}" in second.stderr
                and "Traceback" not in second.stderr
            )
    finally:
        first.kill()
        first.wait()
    assert main(["train", "--resume", "--out", str(out)]) == 0  # the kernel released the lock with the process


def test_same_seed_gives_byte_identical_split_metrics_and_predictions(tmp_path, synth_data):
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        assert main(["train", str(synth_data), "--out", str(run), *FLAGS]) == 0
    for name in ("split.csv", "metrics.json", "predictions.csv", "epochs.csv"):
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name
    weights = [torch.load(run / "model.pt", weights_only=True)["state_dict"] for run in runs]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_provenance_records_versions_commit_and_data_hashes(tiny_run):
    provenance = json.loads((tiny_run / "provenance.json").read_text())
    environment = provenance["environment"]
    assert environment["torch"] == torch.__version__ and environment["python"] == ".".join(
        map(str, sys.version_info[:3])
    )
    assert environment["packages"]["lightning"] and environment["packages"]["numpy"]
    commit = environment["facepalsy_git_commit"]
    checkout = Path(facepalsy.__file__).resolve().parents[2]
    if (checkout / ".git").exists():  # run from a clone (as CI is): the run names the commit it was trained at
        head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True)
        assert commit is not None and commit.split("-")[0] == head.stdout.strip()
    else:
        assert commit is None
    assert len(provenance["data"]["content_sha256"]) == 64 and provenance["data"]["test_images"] > 0


def test_evaluate_warns_when_the_data_differs_from_the_recorded_test_set(tmp_path, synth_data, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(synth_data, data)
    run = tmp_path / "run"
    assert main(["train", str(data), "--out", str(run), *FLAGS]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    assert "warning" not in capsys.readouterr().err
    test_image = next(
        line.split(",")[0] for line in (run / "split.csv").read_text().splitlines() if line.endswith(",test")
    )
    with (data / test_image).open("ab") as f:
        f.write(b"\0")  # one byte more: the same picture, other content
    assert main(["evaluate", str(run)]) == 0
    assert "test images in" in capsys.readouterr().err and "changed since training" in (run / "report.md").read_text()


def test_unwritable_output_fails_before_training(tmp_path, synth_data, capsys, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["train", str(synth_data), "--out", str(blocker / "run"), *FLAGS]) == 2
    err = capsys.readouterr().err
    assert f"{blocker / 'run'}: cannot create the run folder (Not a directory)" in err and "Traceback" not in err

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("facepalsy.runfolder.locks.tempfile.TemporaryFile", read_only)
    assert main(["train", str(synth_data), "--out", str(tmp_path / "ro"), *FLAGS]) == 2
    assert "cannot write to the run folder (Read-only file system)" in capsys.readouterr().err
    monkeypatch.undo()

    monkeypatch.setattr(
        "facepalsy.runfolder.locks.shutil.disk_usage", lambda path: type("Usage", (), {"free": 1_000_000})()
    )
    assert main(["train", str(synth_data), "--out", str(tmp_path / "full"), *FLAGS]) == 2
    assert "only 1 MB free, the run needs about" in capsys.readouterr().err
    assert not (tmp_path / "full" / "checkpoints").exists()


def test_a_failed_checkpoint_write_keeps_the_last_good_one(tmp_path, synth_data, capsys, monkeypatch):
    """Disk full while writing epoch 2's checkpoint: a clear error, epoch 1's checkpoint intact, --resume finishes."""
    real_atomic_write, calls = loop_module.atomic_write, []

    def disk_full_on_second_checkpoint(path, write):
        calls.append(path)
        if len(calls) < 2:
            return real_atomic_write(path, write)

        def half_then_full(tmp):
            tmp.write_bytes(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

        return real_atomic_write(path, half_then_full)

    monkeypatch.setattr(loop_module, "atomic_write", disk_full_on_second_checkpoint)
    out = tmp_path / "run"
    assert main(["train", str(synth_data), "--out", str(out), *FLAGS]) == 2
    err = capsys.readouterr().err
    assert (
        "No space left on device" in err
        and "keeps its last completed epoch" in err
        and "--resume" in err
        and "Traceback" not in err
    )
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0
    assert not list(out.rglob("*.tmp"))
    monkeypatch.undo()
    assert main(["train", "--resume", "--out", str(out)]) == 0
    assert len((out / "epochs.csv").read_text().splitlines()) == 4


def test_cv_interrupted_in_a_fold_resumes_from_the_completed_folds(tmp_path, synth_data, monkeypatch):
    config = Config(
        data=str(synth_data),
        backbone="vgg11_bn",
        weights="none",
        image_size=32,
        epochs=1,
        batch_size=16,
        lr=1e-3,
        finetune=True,
        val_fraction=0.25,
        face_required=False,
    )
    reference = run_cv(config, tmp_path / "whole", "subject-kfold", folds=3, progress=False)

    real_fit, fits = train_module.fit_split, []

    def ctrl_c_in_the_second_fold(*args, **kwargs):
        fits.append(1)
        if len(fits) == 2:
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr("facepalsy.training.cv.fit_split", ctrl_c_in_the_second_fold)
    out = tmp_path / "cut"
    with pytest.raises(Interrupted, match=f"facepalsy cv --resume --out {out}"):
        run_cv(config, out, "subject-kfold", folds=3, progress=False)
    assert (out / "fold_00" / "complete.json").is_file() and not (out / "cv.json").exists()
    monkeypatch.undo()

    resumed = resume_cv(out, progress=False)
    assert resumed.pooled == reference.pooled and resumed.per_subject == reference.per_subject
