#!/usr/bin/env bash
# The scheduler daemon against a simulated site SCALE times the size of fleets/daemon-demo.toml
# (40·SCALE S19j Pro and 18·SCALE S21, every one on its own loopback port; the cap scaled with
# them, the 16 H100 as they are): how a step's time splits between reading the miners,
# planning and sending as the fleet grows. README, "The daemon as the fleet grows".
#
#   [SCALE=100] [STEPS=20] [SPEED=60] [FIRST_PORT=12000] [DELAY_S=0] [CONCURRENCY=64]
#   [HCP=target/release/hcp] scripts/daemon_scale.sh [OUT_DIR (target/daemon-scale)]
#
# DELAY_S: each miner answers that long after a request (`sim site --delay-s`, as slow firmware
# would); CONCURRENCY: the daemon's miner requests in flight (`scheduler --miner-concurrency`).
#
# The site needs one open file (a listening socket) per miner: SCALE 300 (17,400 miners), the
# largest measured, fits the 20,000 allowed here. The miners take ports from FIRST_PORT on, below
# the system's ephemeral range (32768-60999 here): with port 0, a second run within a minute of
# the first found no free ephemeral port, the first run's connections holding them in TIME_WAIT.
# Needs GNU time (/usr/bin/time, Debian package `time`) for the daemon's peak RSS. Prints how
# long the site took to start, the miners, the daemon's summary (decision p50/p99, cap record,
# the engine's settings and how long they took to show in the miners' readings),
# the p50 and maximum of each step's parts from its `decided` log events, and the daemon's peak
# RSS.
set -euo pipefail
scale=${SCALE:-100}
steps=${STEPS:-20}
speed=${SPEED:-60}
first_port=${FIRST_PORT:-12000}
delay_s=${DELAY_S:-0}
concurrency=${CONCURRENCY:-64}
hcp=${HCP:-target/release/hcp}
out=${1:-target/daemon-scale}
mkdir -p "$out"
rm -rf "$out/state"
fleet=$out/daemon-x$scale.toml
cap=$(python3 -c "print(round(0.18 * $scale, 6))")
sed -e "s/^  count = 40$/  count = $((40 * scale))/" -e "s/^  count = 18$/  count = $((18 * scale))/" \
  -e "s/^power_cap_mw = 0.18$/power_cap_mw = $cap/" fleets/daemon-demo.toml >"$fleet"
started=$(date +%s.%N)
"$hcp" sim site --fleet "$fleet" --speed "$speed" --control 127.0.0.1:0 \
  --first-miner-port "$first_port" --delay-s "$delay_s" >"$out/site.log" 2>&1 &
site=$!
trap 'kill $site 2>/dev/null || true' EXIT
for _ in $(seq 1 3000); do
  grep -q "site ready" "$out/site.log" && break
  kill -0 $site 2>/dev/null || { cat "$out/site.log"; exit 1; }
  sleep 0.1
done
grep -q "site ready" "$out/site.log" || { echo "the site was not ready after 300 s" >&2; exit 1; }
echo "site ready after $(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')") s"
control=$(sed -n 's/.*control API on \([^,]*\),.*/\1/p' "$out/site.log")
/usr/bin/time -f "%M" -o "$out/daemon-rss-kb" "$hcp" scheduler --fleet "$fleet" --site "$control" \
  --clock accelerated --state "$out/state" --listen 127.0.0.1:0 --steps "$steps" \
  --miner-concurrency "$concurrency" >"$out/summary.json" 2>"$out/daemon.log"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
site = open(f"{out}/site.log").read().split("site ready: ")[1].splitlines()[0]
summary = json.load(open(f"{out}/summary.json"))
events = [json.loads(l) for l in open(f"{out}/daemon.log") if l.startswith("{")]
decided = [e["fields"] for e in events if e["fields"].get("message") == "decided"]
def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]
print(site)
print(f"steps {summary['decisions']}, device commands ok {summary['device_commands_ok']}, failed {summary['device_commands_failed']}, "
      f"cap violations {summary['site_cap_violations']}, peak {summary['site_max_cap_ratio']:.4f} of the cap")
print(f"decision p50 {summary['decision_ms_p50']:.1f} ms, p99 {summary['decision_ms_p99']:.1f} ms")
e = summary["engine"]
print(f"engine: {e['commands']} group commands, {e['retries']} resent, {e['given_up']} given up; {e['applied']} settings "
      f"applied after p50 {e['applied_after_s_p50'] / 60:.0f} / max {e['applied_after_s_max'] / 60:.0f} site minutes")
for part in ("read_ms", "plan_ms", "send_ms"):
    xs = [d[part] for d in decided]
    print(f"  {part:<8} p50 {pct(xs, 0.5):9.2f}  max {max(xs):9.2f}")
print(f"daemon peak RSS {int(open(f'{out}/daemon-rss-kb').read().split()[-1]) / 1024:.0f} MiB")
PY
