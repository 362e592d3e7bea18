"""The embedded default: synthetic faces → train → evaluate → report, offline, in minutes on a CPU.

Which model the demo trains depends on what this machine has:
- ImageNet VGG16 weights already in torch's cache: the paper's VGG16 with a frozen backbone,
  at 112 px so that it finishes in minutes on a laptop CPU.
- otherwise: VGG11 with batch norm from random weights, fine-tuned at 64 px. Plain VGG16 from
  random weights does not learn the synthetic droop task in a CPU budget (its loss stays at
  0.693: without ImageNet features or batch norm, 13 stacked convolutions do not start to train),
  while VGG11-BN at 64 px does, in a few minutes.
Many subjects with few images each (300 × 3): with 40 × 20 the network memorised identities.

Why one-cycle at 3e-3. At a constant 1e-3 the from-scratch network sat at chance for 4–6 of its 10 epochs before it
began to learn, so when it began depended on float rounding: on an AVX-512 CPU with native bf16 (where ``auto``
trains in bf16) seed 0 reached 75.0% test accuracy, in fp32 92.8%. With a warm-up to 3e-3 and a cosine decay
(``schedule: onecycle``) it learns from epoch 2 and anneals: seeds 0–2 gave 97.8, 97.8, 98.3% in bf16 and 93.3,
97.2, 98.9% in fp32 on that CPU (``benchmarks/demo_seeds.py`` measures seeds 0–4 at 1 and 2 threads).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch

from facepalsy.config import Config
from facepalsy.data.dataset import MANIFEST
from facepalsy.data.synth import make_synthetic_dataset
from facepalsy.errors import FacepalsyError
from facepalsy.evaluation.results import Evaluation
from facepalsy.log import console
from facepalsy.models.vgg import imagenet_weights_cached
from facepalsy.runfolder import RunFolder
from facepalsy.runfolder.provenance import cpu_kind
from facepalsy.training.train import train, with_precision

DEMO_SUBJECTS = 300
DEMO_IMAGES_PER_SUBJECT = 3
DEMO_DRAW_SIZE = 128


def demo_config(data: Path, seed: int = 0) -> tuple[Config, str]:
    """The demo's training config (``seed``: the training's) and a sentence saying which model was chosen and why."""
    common = dict(
        data=str(data.resolve()), split="subject", test_fraction=0.2, val_fraction=0.1, batch_size=32, seed=seed
    )
    if imagenet_weights_cached("vgg16"):
        why = (
            "ImageNet VGG16 weights were found in torch's cache, so the demo trains the paper's model: "
            "VGG16, frozen backbone, new head; at 112 px instead of 224 px to finish in minutes on a CPU."
        )
        paper = dict(backbone="vgg16", weights="imagenet", image_size=112, epochs=10, finetune=False, lr=1e-3)
        return Config(**paper, **common), why
    why = (
        "No ImageNet VGG16 weights in torch's cache (none are downloaded by the demo), so it trains "
        "VGG11 with batch norm from random weights, fine-tuned, at 64 px, with a one-cycle learning rate (warm-up "
        "to 3e-3, then decay): plain VGG16 from random weights does not learn this task in a CPU budget (loss stays "
        "at 0.693), VGG11-BN does in a few minutes, and the warm-up makes it start learning early in fp32 and bf16 "
        "alike. Run `facepalsy models` to see where to place the ImageNet files for the paper's setting."
    )
    scratch = dict(backbone="vgg11_bn", weights="none", image_size=64, epochs=10, finetune=True, lr=3e-3)
    return Config(**scratch, schedule="onecycle", **common), why


def run_demo(out: Path, overwrite: bool = False, seed: int = 0) -> Evaluation:
    """Write ``out/data`` (synthetic faces, always drawn with seed 0, so seeds compare trainings) and ``out/run`` (the
    run trained with ``seed``, with its report)."""
    if out.exists() and any(out.iterdir()):
        is_demo = (out / "data" / MANIFEST).is_file() or (out / "run").is_dir()
        if not overwrite:
            raise FacepalsyError(
                f"{out}: folder exists; pass --overwrite to replace the previous demo, or --out elsewhere"
            )
        if not is_demo:
            raise FacepalsyError(f"{out}: --overwrite refused: not a facepalsy demo folder, nothing deleted")
        shutil.rmtree(out)
    start = time.perf_counter()
    data, run = out / "data", out / "run"
    console.print(
        f"[bold]1/3[/] drawing {DEMO_SUBJECTS} synthetic subjects × {DEMO_IMAGES_PER_SUBJECT} images into {data}"
    )
    make_synthetic_dataset(data, DEMO_SUBJECTS, DEMO_IMAGES_PER_SUBJECT, seed=0, size=DEMO_DRAW_SIZE)
    config, why = demo_config(data, seed)
    console.print(
        f"[bold]2/3[/] training {config.backbone} ({config.epochs} epochs, {config.image_size} px, subject split, "
        f"seed {seed})"
    )
    console.print(why)
    notes = (
        why,
        f"Synthetic data: {DEMO_SUBJECTS} subjects (half with a one-sided droop of random side and severity), "
        f"{DEMO_IMAGES_PER_SUBJECT} images each, drawn at {DEMO_DRAW_SIZE} px by `facepalsy synth`. "
        "Many subjects with few images each: with 40 subjects × 20 images the network memorised the "
        "training identities and reached only about 0.8 accuracy on unseen subjects.",
    )
    machine = f"{cpu_kind()}, {torch.get_num_threads()} threads, precision {with_precision(config).precision}"
    metrics = train(config, run, notes=(*notes, f"Seed {seed}; trained on {machine}."))
    console.print(
        f"[bold]3/3[/] done in {time.perf_counter() - start:.0f} s: test accuracy {100 * metrics.accuracy:.1f}% "
        f"on {metrics.n} images of unseen subjects (seed {seed}; {machine})"
    )
    console.print(f"report: [bold]{RunFolder(run).report}[/]")
    return metrics
