#!/usr/bin/env bash
# How `--dnn`'s defaults were chosen: five configurations of the day-ahead perceptron, each scored
# with LEAR on a validation half-year BEFORE each market's test period (NP and PJM 2014-07-01 ..
# 2014-12-31, DE 2013-07-01 .. 2013-12-31; LEAR recalibrated weekly). The configuration whose
# `ensemble_lear_dnn` has the lowest MAE relative to `lear`, averaged over the three markets, wins.
#
#   scripts/dnn_sweep.sh [DATA_DIR (../shared/data/epftoolbox)] [OUT_DIR (target/dnn-sweep)]
#
# Needs `target/debug/hcp` (cargo build). Prints one line per run and the average ratio per
# configuration.
set -euo pipefail
data=${1:-../shared/data/epftoolbox}
out=${2:-target/dnn-sweep}
hcp=${HCP:-target/debug/hcp}
mkdir -p "$out"
declare -A configs=(
  [c1]="--dnn-hidden 256,128 --dnn-valid-days 42"
  [c2]="--dnn-hidden 128,64 --dnn-valid-days 21"
  [c3]="--dnn-hidden 128,64 --dnn-valid-days 21 --dnn-dropout 0.1"
  [c4]="--dnn-hidden 128,64 --dnn-valid-days 21 --dnn-weight-decay 1e-3"
  [c5]="--dnn-hidden 128,64 --dnn-valid-days 42 --dnn-valid random --dnn-learning-rate 3e-4"
)
periods=("NP 2014-07-01 2014-12-31" "PJM 2014-07-01 2014-12-31" "DE 2013-07-01 2013-12-31")
for c in c1 c2 c3 c4 c5; do
  for p in "${periods[@]}"; do
    read -r market start end <<<"$p"
    dir="$out/$c-$market"
    # shellcheck disable=SC2086 # the configuration's flags split on purpose
    "$hcp" evaluate price --format epftoolbox --input "$data/$market.csv.gz" --test-start "$start" \
      --test-end "$end" --recalibrate-every 7 --out "$dir" --quiet --dnn ${configs[$c]} >/dev/null
    python3 - "$dir/metrics.json" "$c" "$market" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["models"]
lear, dnn, ens = (m[k]["mae"] for k in ("lear", "dnn", "ensemble_lear_dnn"))
print(f"{sys.argv[2]} {sys.argv[3]:<4} lear {lear:.3f} dnn {dnn:.3f} ensemble {ens:.3f} ratio {ens / lear:.4f}")
PY
  done | tee "$out/$c.txt"
done
for c in c1 c2 c3 c4 c5; do
  awk -v c="$c" '{ s += $NF; n++ } END { printf "%s mean ensemble/lear %.4f\n", c, s / n }' "$out/$c.txt"
done
