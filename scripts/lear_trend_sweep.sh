#!/usr/bin/env bash
# How `--lear-trends`' default was chosen: LEAR calibrated on prices less their Hodrick-Prescott
# trend, for several smoothings, scored on the validation periods BEFORE each market's test period
# (as scripts/dnn_sweep.sh: half-years NP and PJM 2014-07-01 .. 2014-12-31, DE 2013-07-01 ..
# 2013-12-31; or PERIODS=year: NP and PJM 2014, DE 2013), LEAR recalibrated weekly, the
# perceptron with its defaults. One walk per market fits every trend's LEAR beside the
# perceptron; scripts/lear_trend_sets.py then scores each set of trends averaged as `lear` (and
# its mean with `dnn`, as `ensemble_lear_dnn` was when the trends were chosen) against the
# benchmark's LEAR (trend `none` alone). scripts/ensemble_weights.py scores the weighted
# ensembles on the same walks (TRENDS=none,hp:1e6, with --lear-models for `none` alone: how the
# penalty, trends and weight were chosen together on December 1).
#
# EXTRA adds flags to every walk (e.g. EXTRA=--holidays, how the holiday flags were scored).
# The walks take LEAR's penalty rule from hcp's default (epftoolbox since December 1); the
# README's tables made before then used EXTRA="--lear-penalty aic".
#
#   [PERIODS=half|year] [EXTRA=...] scripts/lear_trend_sweep.sh [DATA_DIR (../shared/data/epftoolbox)] [OUT_DIR (target/lear-trend-sweep)]
#
# Needs `target/debug/hcp` (cargo build) and a Python with duckdb (.venv-ci, made by .ci/run).
# About 10 minutes for the half-years on 2 cores, 20 for the years.
set -euo pipefail
data=${1:-../shared/data/epftoolbox}
hcp=${HCP:-target/debug/hcp}
python=${PYTHON:-.venv-ci/bin/python}
span=${PERIODS:-half}
out=${2:-target/lear-trend-sweep}/$span
trends=${TRENDS:-none,hp:1e4,hp:1e5,hp:1e6,hp:1e7}
mkdir -p "$out"
case $span in
  half) periods=("NP 2014-07-01 2014-12-31" "PJM 2014-07-01 2014-12-31" "DE 2013-07-01 2013-12-31") ;;
  year) periods=("NP 2014-01-01 2014-12-31" "PJM 2014-01-01 2014-12-31" "DE 2013-01-01 2013-12-31") ;;
  *) echo "PERIODS must be half or year" >&2; exit 2 ;;
esac
for p in "${periods[@]}"; do
  read -r market start end <<<"$p"
  "$hcp" evaluate price --format epftoolbox --input "$data/$market.csv.gz" --test-start "$start" \
    --test-end "$end" --recalibrate-every 7 --out "$out/$market" --quiet --dnn --lear-trends "$trends" ${EXTRA:-} >/dev/null
done
"$python" "$(dirname "$0")/lear_trend_sets.py" "$data" "$out" "$trends"
