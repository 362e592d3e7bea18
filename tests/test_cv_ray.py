"""Cross-validation folds on a local Ray (2 CPUs on CI): a driver killed mid-way is resumed from its completed folds,
every fold's predictions equal those of cv without Ray, and a frozen backbone's features are computed once, by one
task, for every fold."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TRAIN_FLAGS

pytest.importorskip("ray", reason="the ray extra is not installed (bash scripts/setup)")
FOLDS = 4
FROZEN = [f for f in TINY_TRAIN_FLAGS if f != "--finetune"]
FROZEN[FROZEN.index("--epochs") + 1] = "8"  # folds slow enough for the driver to die between them
FLAGS = ["--protocol", "subject-kfold", "--folds", str(FOLDS), "--accelerator", "cpu", "--feature-cache", "2", *FROZEN]


def _cv(*args: str, wait: bool = True):
    """The CLI in its own process, one torch thread (what each Ray fold task gets with --fold-cpus 1)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "facepalsy", "cv", *args]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def _pooled(out: Path) -> np.ndarray:
    folds = json.loads((out / "cv.json").read_text())["folds"]
    return np.array(
        [float(row["prob_palsy"]) for f in folds for row in csv.DictReader((out / f["run"] / "predictions.csv").open())]
    )


@pytest.mark.slow
def test_cv_on_ray_killed_mid_way_resumes_and_equals_cv_without_ray(tmp_path, synth_data):
    plain = _cv(str(synth_data), "--out", str(tmp_path / "plain"), *FLAGS)
    assert plain.returncode == 0, plain.stderr
    cut = tmp_path / "ray"
    driver = _cv(str(synth_data), "--out", str(cut), *FLAGS, "--ray", "--fold-cpus", "1", wait=False)
    deadline = time.monotonic() + 300
    while not (cut / "fold_00" / "complete.json").exists():
        assert driver.poll() is None, driver.stderr.read()
        assert time.monotonic() < deadline, "no fold finished"
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)  # the driver dies; its local Ray goes with it
    assert driver.wait(timeout=60) == -signal.SIGKILL
    assert not (cut / "cv.json").exists()
    time.sleep(2)  # Ray's workers follow their driver: what they finish meanwhile is complete, and kept
    finished = sorted(cut.glob("fold_*/complete.json"))
    if len(finished) == FOLDS:  # every fold beat the kill (a fresh clone's CI once saw it): the last one is redone
        shutil.rmtree(finished[-1].parent)
    resumed = _cv("--resume", "--out", str(cut), "--ray", "--fold-cpus", "1")
    assert resumed.returncode == 0, resumed.stderr
    # a fold task may still finish while Ray's workers follow their driver, so the count is read from the resume
    kept = re.search(rf"(\d) of {FOLDS} folds already complete; running the other (\d)", resumed.stderr)
    assert kept and 1 <= int(kept[1]) < FOLDS and int(kept[1]) + int(kept[2]) == FOLDS, resumed.stderr
    assert "backbone passes made by the folds themselves: 0" in resumed.stderr  # the bank task made them all
    # every fold, whether trained before the kill or after the resume, as without Ray
    assert np.abs(_pooled(cut) - _pooled(tmp_path / "plain")).max() <= 1e-6
