#!/usr/bin/env bash
# hcp's workload classifier against the LightGBM yardstick on several consecutive test
# windows of the v2023 pods (rolling origin: each window trains on every pod created before
# it), because one window's qos macro-F1 turns on one or two Guaranteed pods.
#
# Usage: scripts/classifier_windows.sh PODS.csv OUT [GRID]
#   PODS.csv  ../shared/data/alibaba/v2023/openb_pod_list_default.csv
#   GRID      hcp's --grid, `full` (default, ~8 min a window on 2 cores) or `small`
# Needs a built `hcp` (target/debug/hcp, or $HCP) and a Python with
# scripts/requirements-classifier.txt ($PYTHON, default .venv-classifier/bin/python).
# Writes OUT/<start>-<end>/{metrics.json,predictions.parquet,lightgbm.json} and prints the table.
set -euo pipefail
pods=${1:?PODS.csv}; out=${2:?OUT}; grid=${3:-full}
hcp=${HCP:-target/debug/hcp}
python=${PYTHON:-.venv-classifier/bin/python}
# Four windows of 400,000 s (4.6 days) over the busy part of the trace, the last to its end,
# then the README's split (the last quarter of the pods).
windows="10600000:11000000 11000000:11400000 11400000:11800000 11800000: 11600000:"
mkdir -p "$out"
for w in $windows; do
    start=${w%:*}; end=${w#*:}
    dir="$out/$start-${end:-end}"
    if [ ! -f "$dir/metrics.json" ]; then
        "$hcp" evaluate classifier --input "$pods" --test-start "$start" ${end:+--test-end "$end"} \
            --out "$dir" --grid "$grid" > "$dir.log" 2>&1
    fi
    if [ ! -f "$dir/lightgbm.json" ]; then
        "$python" scripts/classifier_lightgbm.py "$pods" "$start" "${end:--}" "$dir/lightgbm.json" > /dev/null
    fi
done
"$python" - "$out" $windows <<'PY'
import json, sys
out, windows = sys.argv[1], sys.argv[2:]
print("| test window (s) | train / test pods | task | test support of the rarest class | hcp selected | LightGBM (mean of 3 seeds) |")
print("| --- | --- | --- | --- | ---: | ---: |")
rolling = {}
for w in windows:
    start, end = w.split(":")
    d = f"{out}/{start}-{end or 'end'}"
    m = json.load(open(f"{d}/metrics.json"))
    lgb = json.load(open(f"{d}/lightgbm.json"))["macro_f1"]
    for t in m["tasks"]:
        name = t["task"]
        if name not in lgb:
            continue
        sel = next(v for k, v in t["test"].items() if k.startswith("selected:"))
        rare = min(sel["per_class"], key=lambda c: c["support"])
        l = sum(lgb[name]) / len(lgb[name])
        print(f"| {start}..{end or 'end'} | {m['train_pods']} / {m['test_pods']} | {name} | {rare['class']} {rare['support']} | {sel['macro_f1']:.4f} | {l:.4f} |")
        if w != windows[-1]:
            rolling.setdefault(name, []).append((sel["macro_f1"], l))
print()
print("qos, F1 per class (hcp selected / LightGBM seed 0; '-' where the class is neither in the test nor predicted):")
order = ["BE", "Burstable", "Guaranteed", "LS"]
print("| test window (s) | " + " | ".join(order) + " |")
print("| --- |" + " ---: |" * len(order))
for w in windows:
    start, end = w.split(":")
    d = f"{out}/{start}-{end or 'end'}"
    t = next(t for t in json.load(open(f"{d}/metrics.json"))["tasks"] if t["task"] == "qos")
    sel = next(v for k, v in t["test"].items() if k.startswith("selected:"))
    predicted = [sum(col) for col in zip(*sel["confusion"])]
    ours = {c["class"]: c["f1"] for c, p in zip(sel["per_class"], predicted) if c["support"] > 0 or p > 0}
    theirs = json.load(open(f"{d}/lightgbm.json"))["per_class_f1_seed0"]["qos"]
    cell = lambda v: "-" if v is None else f"{v:.3f}"
    print(f"| {start}..{end or 'end'} | " + " | ".join(f"{cell(ours.get(c))} / {cell(theirs.get(c))}" for c in order) + " |")
    if w != windows[-1]:
        three = ["BE", "Burstable", "LS"]
        rolling.setdefault("qos, BE/Burstable/LS only", []).append(
            tuple(sum(f.get(c, 0.0) for c in three) / 3 for f in (ours, theirs))
        )
print()
print(f"Mean over the {len(windows) - 1} rolling windows (the last row group, the README's split, overlaps them):")
for name, pairs in rolling.items():
    h = sum(p[0] for p in pairs) / len(pairs)
    l = sum(p[1] for p in pairs) / len(pairs)
    wins = sum(p[0] > p[1] for p in pairs)
    print(f"  {name:<8} hcp {h:.4f}  LightGBM {l:.4f}  hcp ahead in {wins} of {len(pairs)}")
PY
