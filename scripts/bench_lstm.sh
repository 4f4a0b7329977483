#!/usr/bin/env bash
# LSTM training throughput: hcp's burn network against the same network in PyTorch, on one
# thread (burn's ndarray backend is built without its rayon feature) and PyTorch on two.
# Creates .venv-torch with PyTorch from PyPI (scripts/requirements-torch.txt) when missing.
# Usage: scripts/bench_lstm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-torch/bin/python ]; then
  python3 -m venv .venv-torch
  .venv-torch/bin/pip install --quiet -r scripts/requirements-torch.txt
fi
cargo bench -p hcp-lstm --bench train
.venv-torch/bin/python scripts/bench_lstm_torch.py --threads 1
.venv-torch/bin/python scripts/bench_lstm_torch.py --threads 2
