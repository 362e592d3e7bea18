"""EfficientNet-Lite0 on ImageNet weights against networks from scratch, on the demo's synthetic faces.

    .venv/bin/python benchmarks/lite0.py [--epochs 10] [--out docs/figures]

Draws the demo's data (300 subjects × 3 images, seed 0, ``facepalsy synth``) and trains on its subject split
(20% of subjects for testing, 10% of the rest for validation, seed 0), through ``facepalsy.training.train`` as
``facepalsy train`` would:

- EfficientNet-Lite0, ImageNet weights (the installed package), frozen backbone and the paper's head (the paper's
  recipe), 112 px;
- the same, fine-tuned (every layer, one-cycle learning rate to 3e-4);
- EfficientNet-Lite0 from random weights, fine-tuned (one-cycle to 3e-3), 112 px;
- VGG11-BN from random weights, the demo's recipe (64 px, one-cycle to 3e-3).

Writes ``lite0.json``: per model the test accuracy and ROC AUC (unseen subjects), the seconds per epoch (the
training's wall time over its epochs, evaluation included), the precision used and the CPU. The Figures page shows
it. Synthetic faces say how fast each recipe learns a drawn droop, not how it does on photos.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from realfaces import provenance

from facepalsy.app.demo import DEMO_DRAW_SIZE, DEMO_IMAGES_PER_SUBJECT, DEMO_SUBJECTS
from facepalsy.config import Config, load_config
from facepalsy.data.synth import make_synthetic_dataset
from facepalsy.training.train import train

RECIPES = {
    "Lite0, ImageNet, frozen (the paper's recipe)": dict(
        backbone="efficientnet_lite0", weights="imagenet", image_size=112, finetune=False, lr=1e-3
    ),
    "Lite0, ImageNet, fine-tuned": dict(
        backbone="efficientnet_lite0", weights="imagenet", image_size=112, finetune=True, lr=3e-4, schedule="onecycle"
    ),
    "Lite0, from scratch, fine-tuned": dict(
        backbone="efficientnet_lite0", weights="none", image_size=112, finetune=True, lr=3e-3, schedule="onecycle"
    ),
    "VGG11-BN, from scratch (the demo's recipe)": dict(
        backbone="vgg11_bn", weights="none", image_size=64, finetune=True, lr=3e-3, schedule="onecycle"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("docs/figures"), help="where lite0.json goes")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        data = make_synthetic_dataset(
            Path(scratch) / "data", DEMO_SUBJECTS, DEMO_IMAGES_PER_SUBJECT, seed=0, size=DEMO_DRAW_SIZE, progress=False
        )
        common = dict(data=str(data), split="subject", test_fraction=0.2, val_fraction=0.1, batch_size=32, seed=0)
        for name, recipe in RECIPES.items():
            run = Path(scratch) / recipe["backbone"] / str(len(results))
            started = time.perf_counter()
            metrics = train(Config(**common, **recipe, epochs=args.epochs), run)
            seconds = time.perf_counter() - started
            results.append(
                {
                    "model": name,
                    **recipe,
                    "accuracy": metrics.accuracy,
                    "roc_auc": metrics.roc_auc,
                    "test_images": metrics.n,
                    "seconds_per_epoch": round(seconds / args.epochs, 1),
                    "precision": load_config(run / "config.yaml").precision,
                }
            )
            per_epoch = seconds / args.epochs
            print(f"{name}: accuracy {metrics.accuracy:.3f}, AUC {metrics.roc_auc:.3f}, {per_epoch:.1f} s/epoch")
    figures = {**provenance(), "threads": torch.get_num_threads(), "epochs": args.epochs, "recipes": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lite0.json").write_text(json.dumps(figures, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
