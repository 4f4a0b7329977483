#!/usr/bin/env bash
# Load test of `hcp serve` with wrk: POST /v1/forecast/price (HB_WEST, 192 hours of history,
# 24 horizons) at a fixed number of connections; reports throughput, latency percentiles and
# every status other than 200. Fails when any answer is neither 200 nor 429, or on socket errors.
#
#   scripts/bench_serve.sh                       # 64 connections, 20 s, server on 2 workers
#   CONNECTIONS=256 MAX_IN_FLIGHT=64 scripts/bench_serve.sh   # overload: expect 429s only
#
# Needs wrk (Debian: apt-get install wrk) and a built hcp (HCP, default target/debug/hcp: the dev
# profile optimises dependencies; hcp-serving and hcp-models are optimised too, see Cargo.toml).
# The server and wrk share this machine's cores (wrk pinned to one thread).
set -euo pipefail
cd "$(dirname "$0")/.."
HCP=${HCP:-target/debug/hcp}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-20s}
WORKERS=${WORKERS:-2}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-512}
PORT=${PORT:-18181}
KEY="bench-key-0123456789abcdef"
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
[ -x "$HCP" ] || { echo "$HCP not built (cargo test --workspace --no-run builds it)" >&2; exit 1; }

work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
"$HCP" sim --quiet --days 45 --fleet fleets/daemon-demo.toml --out "$work/history" >/dev/null
"$HCP" train price --point HB_WEST --holdout-days 7 --data "$work/history" --out "$work/models/price-HB_WEST" >/dev/null
# The request: 192 hours up to the hour after the model's training data.
python3 - "$work" <<'PY'
import json, sys, datetime
work = sys.argv[1]
model = json.load(open(f"{work}/models/price-HB_WEST/model.json"))
issue = model["trained_until_us"] + 3_600_000_000
start = datetime.datetime.fromtimestamp((issue - 192 * 3_600_000_000) / 1e6, datetime.timezone.utc)
rt = [30.0 + 10.0 * ((h % 24) in range(14, 20)) + 0.37 * (h % 7) for h in range(192)]
da = [31.0 + 8.0 * ((h % 24) in range(14, 20)) for h in range(192)]
body = {"node": "HB_WEST", "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "rt": rt, "da": da}
json.dump(body, open(f"{work}/body.json", "w"))
PY
HCP_API_KEYS="read:$KEY" "$HCP" serve --models "$work/models" --addr "127.0.0.1:$PORT" \
    --workers "$WORKERS" --max-in-flight "$MAX_IN_FLIGHT" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data @"$work/body.json" \
    "http://127.0.0.1:$PORT/v1/forecast/price" >/dev/null || { echo "the request fails:" >&2; cat "$work/serve.log" >&2; exit 1; }
echo "hcp serve: $WORKERS workers, max in flight $MAX_IN_FLIGHT; wrk: 1 thread, $CONNECTIONS connections, $DURATION; body $(wc -c <"$work/body.json") bytes"
WRK_BODY="$work/body.json" WRK_KEY="$KEY" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s scripts/wrk-post.lua \
    "http://127.0.0.1:$PORT/v1/forecast/price" | tee "$work/wrk.txt"
curl -fs "http://127.0.0.1:$PORT/metrics" | grep -E '^hcp_serving_inference_batch_items_(sum|count)' || true
if grep -E '^status ' "$work/wrk.txt" | grep -vqE '^status (200|429):'; then
    echo "FAIL: answers other than 200 and 429" >&2; exit 1
fi
if ! grep -q '^socket errors 0$' "$work/wrk.txt"; then
    echo "FAIL: socket errors" >&2; exit 1
fi
