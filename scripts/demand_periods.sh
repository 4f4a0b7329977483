#!/usr/bin/env bash
# `lear_demand` against its naive baselines on every real demand series, on validation periods
# (the weeks before each test period) and on the test periods of the README's table: how the
# guards of `lear_demand` (inputs held within their training range; a naive rule replacing the
# lasso for a day ahead where it did better before the calibration, models/src/forecast/demand.rs)
# were checked. Validation: the spot trace's hours 1,872-2,807 and the v2023 pods' 1,008-1,679
# (`--band-days 14`: the pods' series is too short for 28 band days before hour 1,008); test:
# hours 2,808-3,743 and 1,680-3,383.
#
#   scripts/demand_periods.sh [DATA_DIR (../shared/data)] [OUT_DIR (target/demand-periods)]
#
# Needs `target/debug/hcp` (cargo build; HCP=... for another binary). About a minute on 2 cores.
# Prints, per run, the MAE of `lear_demand`, `seasonal_naive_weekly` and `persistence`, their
# pinball loss and 80 % interval coverage (in that order), and how many of `lear_demand`'s days
# ahead each forecaster had over the recalibrations.
set -euo pipefail
data=${1:-../shared/data}
out=${2:-target/demand-periods}
hcp=${HCP:-target/debug/hcp}
spot=$data/alibaba/v2026-spot-gpu/spot_hourly.csv
pods=$data/alibaba/v2023/openb_pod_list_default.csv
mkdir -p "$out"
run() {
  local name=$1
  shift
  "$hcp" evaluate demand "$@" --out "$out/$name" --quiet >/dev/null
  python3 - "$out/$name/metrics.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = r["models"]
maes = " ".join(f"{k} {m[k]['mae']:.3f}" for k in ("lear_demand", "seasonal_naive_weekly", "persistence"))
band = " ".join(f"{m[k]['pinball']:.3f}/{m[k]['coverage_80']:.3f}" for k in ("lear_demand", "seasonal_naive_weekly", "persistence"))
days = " ".join(f"{k} {v}" for k, v in r["lear_demand_fallbacks"].items())
print(f"{sys.argv[2]:<20} {maes} | pinball/coverage {band} | days ahead: {days}")
PY
}
validation=(--test-start 6739200 --test-end 10108800)
pods_validation=(--test-start 3628800 --test-end 6048000 --band-days 14)
run validation-spot-requested --input "$spot" --series gpus_requested_active "${validation[@]}"
run validation-spot-submitted --input "$spot" --series gpus_submitted "${validation[@]}"
run validation-pods-held --input "$pods" --series gpus_held "${pods_validation[@]}"
run validation-pods-arriving --input "$pods" --series gpus_arriving "${pods_validation[@]}"
run test-spot-requested --input "$spot" --series gpus_requested_active --test-start 10108800
run test-spot-submitted --input "$spot" --series gpus_submitted --test-start 10108800
run test-pods-held --input "$pods" --series gpus_held --test-start 6048000
run test-pods-arriving --input "$pods" --series gpus_arriving --test-start 6048000
