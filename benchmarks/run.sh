#!/usr/bin/env bash
# facepalsy's benchmarks in one command (after `bash scripts/setup`): bash benchmarks/run.sh
# 1. facepalsy bench: inference, predict latency, training throughput and memory vs the machine's matmul peak.
# 2. train_memory.py: peak memory of a real one-epoch training on 3,300 images at 224 px.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/facepalsy bench "$@"
.venv/bin/python benchmarks/train_memory.py
