"""The CLI behaves as Unix tools do: --version, -q/-v/--debug anywhere, results alone on stdout, one JSON document with
--json;
a failed train leaves nothing that blocks the next one; the installed requirements are consistent."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import TINY_TRAIN_FLAGS

import facepalsy
from facepalsy.app.cli import main
from facepalsy.errors import FacepalsyError


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"facepalsy {facepalsy.__version__}"


def test_train_json_is_one_document_on_stdout_with_progress_on_stderr(tmp_path, synth_data):
    """In a real process: stdout parses as JSON, the epoch bar and notes went to stderr."""
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "facepalsy", "train", str(synth_data), "--out", str(run), *TINY_TRAIN_FLAGS, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert 0 <= metrics["accuracy"] <= 1 and metrics["report"].endswith("report.md")
    assert "epoch 1/2: train loss" in done.stderr  # the epoch lines went to stderr (not a terminal here)


def test_evaluate_cv_and_compare_take_json(tiny_run, tmp_path, synth_data, capsys):
    assert main(["evaluate", str(tiny_run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] > 0
    assert main(["compare", str(tiny_run), str(tiny_run), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["rows"]) == 2
    flags = [*TINY_TRAIN_FLAGS, "--epochs", "1"]
    assert main(["cv", str(synth_data), "--out", str(tmp_path / "cv"), "--folds", "2", *flags, "--json", "-q"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["pooled"]["n"] > 0 and out.err == ""  # -q: nothing but the result


def test_debug_quiet_and_verbose_are_taken_after_the_command_too(tmp_path, capsys, monkeypatch):
    from facepalsy.face.detect import NATIVE_LOGS_ENV

    monkeypatch.setenv(NATIVE_LOGS_ENV, "")  # --debug would set it for this whole process; restored after the test
    missing = tmp_path / "missing"
    assert main(["check", str(missing)]) == 2
    assert "error:" in capsys.readouterr().err
    with pytest.raises(FacepalsyError):  # --debug after the command: the exception itself, not the one line
        main(["check", str(missing), "--debug"])
    assert (
        main(["-q", "check", str(missing)]) == 2 and "error:" in capsys.readouterr().err
    )  # errors still speak under -q
    with pytest.raises(SystemExit):
        main(["check", str(missing), "-q", "-v"])  # one or the other


def test_a_failed_train_leaves_nothing_that_blocks_the_next(tmp_path, synth_data, capsys, monkeypatch):
    """A train that fails before its first epoch ends removes what it wrote; the same command then runs without
    --overwrite."""
    from facepalsy.training import train as training

    def broken(*args, **kwargs):
        raise FacepalsyError("the audit failed (simulated)")

    run = tmp_path / "run"
    args = ["train", str(synth_data), "--out", str(run), *TINY_TRAIN_FLAGS, "--epochs", "1"]
    monkeypatch.setattr(training, "audit_training_data", broken)
    assert main(args) == 2
    assert "nothing was kept" in capsys.readouterr().err
    assert not [p for p in run.iterdir() if not p.name.startswith(".lock")]
    monkeypatch.undo()
    assert main(args) == 0 and (run / "metrics.json").is_file()


def test_installed_requirements_are_consistent():
    """Every extra was installed with its declared requirements (MediaPipe's included): pip check is clean."""
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_small_mends_an_empty_folder_a_missing_database_and_a_mistyped_flag(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["asymmetry", str(empty)]) == 2  # was: nothing printed, exit 0
    assert ".dcm" in capsys.readouterr().err
    db = tmp_path / "new.db"
    assert main(["history", "NOPE", "--db", str(db)]) == 2 and not db.exists()  # no empty database left behind
    with pytest.raises(SystemExit) as stop:
        main(["predict", "RUN", "x.jpg", "--treshold", "0.5"])
    assert stop.value.code == 2 and "did you mean --threshold?" in capsys.readouterr().err


def test_predict_on_a_missing_file_says_so_once_and_prints_its_row(tiny_run, tmp_path, capsys):
    """Piped, the file's row (issue 52: every input has one) goes to the file and the error to the person, once."""
    capsys.readouterr()
    assert main(["predict", str(tiny_run), str(tmp_path / "nope.jpg")]) == 2
    said = capsys.readouterr()
    rows = said.out.splitlines()[1:]
    assert len(rows) == 1 and rows[0].split("\t")[1] == "unreadable" and "not found" in rows[0]
    assert said.err.count("nope.jpg") == 1
