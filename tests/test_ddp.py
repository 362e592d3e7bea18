"""DDP with two CPU processes (gloo): each rank sees its own share of the data, rank 0 alone writes."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from facepalsy.data.synth import make_synthetic_dataset

# Run as a script because Lightning's DDP launcher starts the other ranks by re-running the command;
# the probe records what each rank trained on and every checkpoint write with the writing rank.
PROBE = textwrap.dedent("""
    import hashlib, os, sys
    from pathlib import Path

    from lightning.pytorch.callbacks import Callback

    import facepalsy.training.train as T
    from facepalsy.runfolder import RunFolder
    from facepalsy.config import Config

    data, out, log = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    log.mkdir(exist_ok=True)
    rank = lambda: int(os.environ.get("LOCAL_RANK", 0))

    def record(name, line):
        with open(log / name, "a") as f:
            f.write(line + "\\n")

    save_checkpoint, save_model = T.AtomicCheckpointIO.save_checkpoint, RunFolder.save_model
    def counted_checkpoint(self, checkpoint, path, storage_options=None):
        record("writes.txt", f"{rank()} {Path(path).name}")
        return save_checkpoint(self, checkpoint, path, storage_options)
    def counted_model(self, *args, **kwargs):
        record("writes.txt", f"{rank()} {self.model.name}")
        return save_model(self, *args, **kwargs)
    T.AtomicCheckpointIO.save_checkpoint, RunFolder.save_model = counted_checkpoint, counted_model

    class SeenImages(Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            for image in batch[0]:
                record(f"rank{trainer.global_rank}_epoch{trainer.current_epoch}.txt",
                hashlib.sha1(image.numpy().tobytes()).hexdigest())

    config = Config(data=data, backbone="vgg11_bn", weights="none", image_size=32, epochs=2, batch_size=4,
    split="subject",
                    test_fraction=0.25, val_fraction=0.25, accelerator="cpu", devices=2, strategy="ddp",
                    face_required=False)
    T.train(config, out, progress=False, callbacks=[SeenImages()])
""")


@pytest.mark.slow
def test_ddp_two_cpu_processes_split_the_data_and_rank_zero_writes_once(tmp_path: Path):
    data = make_synthetic_dataset(tmp_path / "data", subjects=8, images_per_subject=4, seed=3, size=48, progress=False)
    script, out, log = tmp_path / "probe.py", tmp_path / "run", tmp_path / "log"
    script.write_text(PROBE)
    done = subprocess.run(
        [sys.executable, str(script), str(data), str(out), str(log)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]

    with (out / "split.csv").open(newline="") as f:
        train_rows = [r for r in csv.DictReader(f) if r["split"] == "train"]
    assert len(train_rows) % 2 == 0  # else DistributedSampler pads one rank with a repeated image
    for epoch in range(2):
        seen = [set((log / f"rank{r}_epoch{epoch}.txt").read_text().split()) for r in (0, 1)]
        assert seen[0] and seen[1] and not seen[0] & seen[1], f"epoch {epoch}: ranks overlap"
        assert len(seen[0]) + len(seen[1]) == len(train_rows)  # together: every training image once

    writes = [line.split() for line in (log / "writes.txt").read_text().splitlines()]
    assert {rank for rank, _ in writes} == {"0"}
    assert [name for _, name in writes].count("last.ckpt") == 2  # once per epoch, not once per rank
    assert 1 <= [name for _, name in writes].count("model.pt") <= 2
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.ckpt"]
    assert (out / "metrics.json").is_file() and len((out / "epochs.csv").read_text().splitlines()) == 3
