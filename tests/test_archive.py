"""Scoring an archive into a results file: killed mid-way and run again, every file is scored exactly once; a row
torn by the kill is cut off; a changed file is scored again; bad files are rows, not failures."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from facepalsy.app.cli import main

PAUSING_CLI = """
import os, sys, time
from pathlib import Path
import facepalsy.workflows.archive as archive
marker, written = Path(os.environ["FACEPALSY_TEST_MARKER"]), archive._append_rows
def append_then_wait(out, rows):  # the first batch reaches the disk, then the process waits to be killed
    written(out, rows)
    if not marker.exists():
        marker.write_text(str(len(rows)))
        time.sleep(120)
archive._append_rows = append_then_wait
from facepalsy.app.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _rows(out: Path) -> list[dict]:
    with out.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _killed_after_first_batch(run: Path, archive: Path, out: Path, tmp_path: Path) -> None:
    """``predict RUN ARCHIVE --out OUT --batch-size 16`` in a process killed with SIGKILL once its first batch is on
    disk."""
    marker, script = tmp_path / "paused", tmp_path / "pausing_cli.py"
    script.write_text(PAUSING_CLI)
    env = {**os.environ, "FACEPALSY_TEST_MARKER": str(marker)}
    command = [sys.executable, str(script), "predict", str(run), str(archive), "--out", str(out), "--batch-size", "16"]
    child = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None, child.stderr.read()
        assert time.monotonic() < deadline, "the first batch was never written"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL


@pytest.fixture
def archive(synth_data, tmp_path) -> Path:
    """40 photos in two folders and one file that is not an image."""
    folder = tmp_path / "archive"
    for i, photo in enumerate(sorted(synth_data.rglob("*.jpg"))[:40]):
        target = folder / f"clinic_{i % 2}" / f"{i:02d}_{photo.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, target)
    (folder / "clinic_0" / "notes.jpg").write_text("a text file named like a photo")
    return folder


def test_an_archive_killed_mid_way_and_run_again_scores_every_file_exactly_once(tiny_run, archive, tmp_path, capsys):
    out = tmp_path / "results.csv"
    _killed_after_first_batch(tiny_run, archive, out, tmp_path)
    first = _rows(out)
    assert len(first) == 16  # one batch on disk, nothing after it
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # verdicts on patients' photos: their owner's only (issue 52)

    photos = sorted(p.absolute() for p in archive.rglob("*.jpg"))
    torn = next(str(p) for p in photos if str(p) not in {row["path"] for row in first})
    with out.open("a", encoding="utf-8") as f:
        f.write(f"{torn},0123abc")  # what a kill in the middle of writing a row leaves
    assert main(["predict", str(tiny_run), str(archive), "--out", str(out)]) == 0
    rows = _rows(out)
    assert Counter(row["path"] for row in rows) == Counter(str(p) for p in photos)  # each exactly once
    assert rows[:16] == first  # the finished batch was kept, not scored again
    assert f"{out}: 25 files scored, 1 without a verdict" in capsys.readouterr().err.replace("\n", " ")
    bad = next(row for row in rows if row["path"].endswith("notes.jpg"))
    assert bad["status"] == "unreadable" and "not an image" in bad["error"] and not bad["label"]
    good = [row for row in rows if row["status"] == "ok"]
    assert len(good) == 40 and all(
        row["label"] in ("palsy", "normal") and 0 <= float(row["p_palsy"]) <= 1 for row in good
    )

    assert main(["predict", str(tiny_run), str(archive), "--out", str(out)]) == 0  # nothing left to do
    assert "0 files scored; 41 already scored, skipped" in capsys.readouterr().err
    changed = photos[0]
    changed.write_bytes(photos[1].read_bytes())
    assert main(["predict", str(tiny_run), str(archive), "--out", str(out)]) == 0
    assert "1 files scored; 40 already scored" in capsys.readouterr().err
    assert [row["path"] for row in _rows(out)].count(str(changed)) == 2  # the newer row, lower down, counts


def test_a_results_file_of_another_shape_is_refused(tiny_run, archive, tmp_path, capsys):
    other = tmp_path / "mine.csv"
    other.write_text("name,score\na,1\n")
    assert main(["predict", str(tiny_run), str(archive), "--out", str(other)]) == 2
    assert "not a facepalsy results file" in capsys.readouterr().err and other.read_text() == "name,score\na,1\n"


def test_a_parquet_results_file_streams_through_its_journal_and_resumes(tiny_run, archive, tmp_path, capsys):
    """Killed after its first batch: the rows are in the partial CSV, no Parquet yet; run again, the Parquet file holds
    every file once, typed, and the journal is gone."""
    pyarrow = pytest.importorskip("pyarrow.parquet", reason="the parquet extra is not installed (bash scripts/setup)")
    out = tmp_path / "results.parquet"
    _killed_after_first_batch(tiny_run, archive, out, tmp_path)
    journal = tmp_path / "results.parquet.partial.csv"
    assert not out.exists() and len(_rows(journal)) == 16
    assert main(["predict", str(tiny_run), str(archive), "--out", str(out)]) == 0
    table = pyarrow.read_table(out)
    rows = table.to_pylist()
    photos = sorted(str(p.absolute()) for p in archive.rglob("*.jpg"))
    assert sorted(row["path"] for row in rows) == photos and not journal.exists()
    assert str(table.schema.field("p_palsy").type) == "double"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert all(0 <= row["p_palsy"] <= 1 for row in rows if row["status"] == "ok")
    assert next(row for row in rows if row["path"].endswith("notes.jpg"))["p_palsy"] is None
    capsys.readouterr()
    assert main(["predict", str(tiny_run), str(archive), "--out", str(out)]) == 0
    assert "0 files scored; 41 already scored, skipped" in capsys.readouterr().err


@pytest.mark.slow
def test_an_archive_scored_on_ray_equals_the_one_scored_here(tiny_run, archive, tmp_path, capsys):
    pytest.importorskip("ray", reason="the ray extra is not installed (bash scripts/setup)")
    here, spread = tmp_path / "here.csv", tmp_path / "ray.csv"
    assert main(["predict", str(tiny_run), str(archive), "--out", str(here), "--batch-size", "8"]) == 0
    flags = ["--batch-size", "8", "--ray", "--task-cpus", "1"]
    assert main(["predict", str(tiny_run), str(archive), "--out", str(spread), *flags]) == 0
    assert "41 files scored, 1 without a verdict" in capsys.readouterr().err.replace("\n", " ")
    by_path = {row["path"]: row for row in _rows(here)}
    rows = _rows(spread)
    assert len(rows) == len(by_path) == 41  # each file once, batches in the order the actors finished them
    for row in rows:
        expected = by_path[row["path"]]
        assert (row["status"], row["label"], row["sha256"]) == (
            expected["status"],
            expected["label"],
            expected["sha256"],
        )
        if row["p_palsy"]:
            assert abs(float(row["p_palsy"]) - float(expected["p_palsy"])) < 1e-5


def test_an_interrupted_archive_says_how_to_continue(tiny_run, synth_data, tmp_path, monkeypatch, capsys):
    import facepalsy.workflows.archive as archive

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(archive, "score_archive", stopped)
    out = tmp_path / "scores.csv"
    monkeypatch.setattr(sys, "argv", ["facepalsy", "predict", str(tiny_run), str(synth_data), "--out", str(out)])
    capsys.readouterr()
    assert main(sys.argv[1:]) == 130
    err = capsys.readouterr().err
    assert f"facepalsy predict {tiny_run} {synth_data} --out {out}" in err
