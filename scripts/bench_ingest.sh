#!/usr/bin/env bash
# Ingest benchmark: hcp (Rust, release) vs Python polars on the full ERCOT price file.
# Usage: scripts/bench_ingest.sh   (creates .venv with polars if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet -r scripts/requirements-bench.txt
fi
cargo bench -p hcp-datasets --bench ingest
.venv/bin/python scripts/bench_ingest_polars.py "$@"
