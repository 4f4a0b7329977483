"""LightGBM yardstick for `hcp evaluate classifier`, on the same split.

Usage: classifier_lightgbm.py PODS.csv TEST_START_SECONDS

The issue's baseline: 300 trees, balanced class weights, on the raw specs plus hour, weekday
and memory per CPU. Same tasks and labels as hcp (training/src/classifier.rs): ls_be (LS vs
BE pods only), qos (four classes), failure (Failed vs not). Macro-F1 as scikit-learn computes
it. Three seeds, to show the spread. Versions pinned in scripts/requirements-classifier.txt.
"""

import sys

import lightgbm as lgb
import numpy as np
import polars as pl
from sklearn.metrics import f1_score


def main() -> None:
    pods, test_start = sys.argv[1], int(sys.argv[2])
    df = pl.read_csv(pods).with_columns(
        hour=(pl.col("creation_time") // 3600) % 24,
        weekday=(pl.col("creation_time") // 86400) % 7,
        mem_per_cpu=pl.col("memory_mib") / pl.col("cpu_milli").clip(1),
    )
    feats = ["cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "hour", "weekday", "mem_per_cpu"]
    train = df.filter(pl.col("creation_time") < test_start)
    test = df.filter(pl.col("creation_time") >= test_start)
    print(f"{train.height} training pods, {test.height} test pods (test from {test_start} s)")
    tasks = {
        "ls_be": (lambda d: d.filter(pl.col("qos").is_in(["LS", "BE"])), lambda d: d["qos"].to_numpy()),
        "qos": (lambda d: d, lambda d: d["qos"].to_numpy()),
        "failure": (lambda d: d, lambda d: (d["pod_phase"] == "Failed").to_numpy()),
    }
    for name, (rows, label) in tasks.items():
        tr, te = rows(train), rows(test)
        scores = []
        for seed in (0, 1, 2):
            model = lgb.LGBMClassifier(n_estimators=300, class_weight="balanced", random_state=seed, verbose=-1)
            model.fit(tr.select(feats).to_numpy(), label(tr))
            scores.append(f1_score(label(te), model.predict(te.select(feats).to_numpy()), average="macro"))
        print(f"{name:<8} lightgbm macro-F1 {np.mean(scores):.4f} (seeds: {', '.join(f'{s:.4f}' for s in scores)})")


if __name__ == "__main__":
    main()
