"""The README's first command over seeds and thread counts: does the demo's recipe hold on this CPU?

    .venv/bin/python benchmarks/demo_seeds.py [--seeds 0 1 2 3 4] [--threads 1 2] [--out docs/figures]

Runs ``facepalsy demo --seed S`` as a fresh process per seed and thread count (``OMP_NUM_THREADS``; the
precision is the CPU's default, ``auto``: bf16 where the CPU has it natively) and writes ``demo_seeds.json``: per
thread count the minimum, median and maximum test accuracy and seconds, each run's figures, the precision used and
the CPU. The figures page shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from realfaces import provenance

from facepalsy.config import load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=Path("docs/figures"), help="where demo_seeds.json goes")
    args = parser.parse_args()
    facepalsy = Path(sys.executable).with_name("facepalsy")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for threads in args.threads:
            runs = []
            for seed in args.seeds:
                out = Path(scratch) / f"demo_{threads}_{seed}"
                env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
                started = time.perf_counter()
                command = [str(facepalsy), "demo", "--seed", str(seed), "--out", str(out), "-q"]
                subprocess.run(command, env=env, check=True)
                seconds = time.perf_counter() - started
                accuracy = json.loads((out / "run" / "metrics.json").read_text())["accuracy"]
                precision = load_config(out / "run" / "config.yaml").precision
                runs.append({"seed": seed, "accuracy": accuracy, "seconds": round(seconds, 1), "precision": precision})
                print(f"threads {threads} seed {seed}: accuracy {accuracy:.3f} in {seconds:.0f} s ({precision})")
            accuracies, seconds = (np.array([r[k] for r in runs]) for k in ("accuracy", "seconds"))
            results[str(threads)] = {
                "accuracy": {"min": accuracies.min(), "median": float(np.median(accuracies)), "max": accuracies.max()},
                "seconds": {"min": seconds.min(), "median": float(np.median(seconds)), "max": seconds.max()},
                "runs": runs,
            }
    figures = {**provenance(), "command": "facepalsy demo --seed S", "threads": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "demo_seeds.json").write_text(json.dumps(figures, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
