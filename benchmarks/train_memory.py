"""Peak memory of a real `facepalsy train` on many images at 224 px (issue 6's target: 3,300 images, < 4 GB).

Synthesises the images, trains the default model (VGG16, frozen backbone, batch 32) for one epoch
in a child process and reports that process's peak resident memory: the decoded uint8 cache, the
network and the batches all live there. Memory does not grow with further epochs. Weights are
random (``--weights none``): memory does not depend on their values.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from facepalsy.data.synth import make_synthetic_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3300)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--backbone", default="vgg16")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_synthetic_dataset(
            Path(tmp) / "data", subjects=args.images // 6, images_per_subject=6, seed=0, size=args.size
        )
        command = [
            sys.executable,
            "-m",
            "facepalsy",
            "train",
            str(data),
            "--out",
            str(Path(tmp) / "run"),
            "--backbone",
            args.backbone,
            "--weights",
            "none",
            "--image-size",
            str(args.size),
            "--epochs",
            "1",
        ]
        start = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "images": args.images // 6 * 6,
                "size": args.size,
                "backbone": args.backbone,
                "epochs": 1,
                "train_process_peak_memory_mb": round(peak_mb),
                "seconds": round(seconds, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
