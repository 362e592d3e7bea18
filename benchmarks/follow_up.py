"""The docs' follow-up figure: a drawn patient with a one-sided palsy that recovers over five visits, each visit
examined and recorded by facepalsy's own code, then the history (trend chart and change words) against the shipped
healthy reference and its minimal detectable change.

    .venv/bin/python benchmarks/follow_up.py [--out docs/figures]

Writes ``follow-up-trend.png`` and ``follow-up.json`` (the history, the date, the commit and the CPU) into --out.
The face is drawn (``facepalsy synth``'s drawing), so no patient's photo is involved; its droop severity falls from
0.9 to 0 as Bell's palsy often recovers over weeks to months.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from facepalsy.data.synth import draw_face, make_identity
from facepalsy.face.norms import load_norms
from facepalsy.records.history_report import write_history
from facepalsy.records.recording import exam_sources, pending_exam, record_exam
from facepalsy.records.store import RecordStore
from facepalsy.workflows.exam import run_exam

VISITS = (("2026-01-05", 0.9), ("2026-01-26", 0.9), ("2026-02-16", 0.55), ("2026-03-30", 0.25), ("2026-05-25", 0.0))
REST = {"smile": 0.0, "eye_open": 1.0, "brow_raise": 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/figures", help="where the figure and its JSON go")
    args = parser.parse_args()
    out = Path(args.out)
    norms = load_norms()
    identity = dataclasses.replace(make_identity(np.random.default_rng([21, 0]), palsy=True), palsy_side=1)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        with RecordStore(work / "records.db") as store:
            for date, severity in VISITS:
                folder = work / date
                folder.mkdir()
                face = draw_face(dataclasses.replace(identity, severity=severity), np.random.default_rng(1), 320, REST)
                face.save(folder / "rest.png")
                exam = run_exam(folder, work / f"exam-{date}", norms)
                print(record_exam(store, "P-DEMO", pending_exam(exam, exam_sources(folder), date)).sentence())
            history = store.history("P-DEMO", norms)
        files = write_history(history, work / "history")
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(files.chart, out / "follow-up-trend.png")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    figures = {
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "cpu": platform.processor() or platform.machine(),
        "severities": [severity for _, severity in VISITS],
        "history": history.to_dict(),
    }
    (out / "follow-up.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(history.markdown())


if __name__ == "__main__":
    main()
