"""LightGBM yardstick for `hcp evaluate classifier`, on the same split.

Usage: classifier_lightgbm.py PODS.csv TEST_START_SECONDS [TEST_END_SECONDS|- [OUT.json]]

The issue's baseline: 300 trees, balanced class weights, on the raw specs plus hour, weekday
and memory per CPU. Same tasks and labels as hcp (training/src/classifier.rs): ls_be (LS vs
BE pods only), qos (four classes), failure (Failed vs not). Trains on the pods created before
the test start, tests on those created from it up to (not including) the test end (default:
the end of the file), as `hcp evaluate classifier --test-start S --test-end E` does.
Macro-F1 as scikit-learn computes it (over the classes in the truth or the predictions, as
hcp's metrics do). Three seeds, to show the spread. With OUT.json, writes the per-task
macro-F1 of each seed there, and seed 0's F1 per class. Versions pinned in scripts/requirements-classifier.txt.
"""

import json
import sys

import lightgbm as lgb
import numpy as np
import polars as pl
from sklearn.metrics import f1_score


def main() -> None:
    if not 3 <= len(sys.argv) <= 5:
        sys.exit(__doc__)
    pods, test_start = sys.argv[1], int(sys.argv[2])
    test_end = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] != "-" else None
    out = sys.argv[4] if len(sys.argv) > 4 else None
    df = pl.read_csv(pods).with_columns(
        hour=(pl.col("creation_time") // 3600) % 24,
        weekday=(pl.col("creation_time") // 86400) % 7,
        mem_per_cpu=pl.col("memory_mib") / pl.col("cpu_milli").clip(1),
    )
    feats = ["cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "hour", "weekday", "mem_per_cpu"]
    train = df.filter(pl.col("creation_time") < test_start)
    test = df.filter(pl.col("creation_time") >= test_start)
    if test_end is not None:
        test = test.filter(pl.col("creation_time") < test_end)
    print(f"{train.height} training pods, {test.height} test pods (test from {test_start} s to {test_end or 'the end'})")
    tasks = {
        "ls_be": (lambda d: d.filter(pl.col("qos").is_in(["LS", "BE"])), lambda d: d["qos"].to_numpy()),
        "qos": (lambda d: d, lambda d: d["qos"].to_numpy()),
        "failure": (lambda d: d, lambda d: (d["pod_phase"] == "Failed").to_numpy()),
    }
    results, per_class = {}, {}
    for name, (rows, label) in tasks.items():
        tr, te = rows(train), rows(test)
        scores = []
        for seed in (0, 1, 2):
            model = lgb.LGBMClassifier(n_estimators=300, class_weight="balanced", random_state=seed, verbose=-1)
            model.fit(tr.select(feats).to_numpy(), label(tr))
            predicted = model.predict(te.select(feats).to_numpy())
            scores.append(float(f1_score(label(te), predicted, average="macro")))
            if seed == 0:
                classes = sorted(set(label(te).tolist()) | set(predicted.tolist()))
                f1s = f1_score(label(te), predicted, labels=classes, average=None)
                per_class[name] = {str(c): float(f) for c, f in zip(classes, f1s)}
        results[name] = scores
        print(f"{name:<8} lightgbm macro-F1 {np.mean(scores):.4f} (seeds: {', '.join(f'{s:.4f}' for s in scores)})")
    if out is not None:
        with open(out, "w") as f:
            json.dump(
                {"test_start_s": test_start, "test_end_s": test_end, "macro_f1": results, "per_class_f1_seed0": per_class},
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
