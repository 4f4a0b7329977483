"""Scores sets of LEAR trends from the walks of scripts/lear_trend_sweep.sh.

    lear_trend_sets.py DATA_DIR OUT_DIR TRENDS

OUT_DIR/{NP,PJM,DE}/forecasts.parquet hold every trend's LEAR (`lear_<window><suffix>`) and the
perceptron's `dnn`. For each set of trends (each alone, `none` with each other, `none` with
pairs), `lear` is the mean of its models over the four windows, as the walk would average them
with `--lear-trends` set to it; the ensemble is the mean of that and `dnn`. Printed per market:
that `lear`'s MAE and the ensemble's MAE over the benchmark LEAR's (`none` alone), then the mean
ratio over the markets, the figure the default was chosen by. Prices come from the benchmark's
files (the column after the timestamp).
"""

import itertools
import sys

import duckdb
import numpy as np

from epftoolbox_scored import load_scored

WINDOWS = [56, 84, 1092, 1456]
MARKETS = ["NP", "PJM", "DE"]


def suffix(trend):
    if trend == "none":
        return ""
    return "_hp" + format_lambda(float(trend.removeprefix("hp:")))


def format_lambda(x):
    """Rust's `{:e}` for the lambdas used here: 1e6, 2.5e2."""
    mantissa, exponent = f"{x:e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def main():
    data, out, trends = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    assert trends[0] == "none", "the benchmark's LEAR (none) comes first"
    sets = [[t] for t in trends] + [["none", t] for t in trends[1:]]
    sets += [["none", a, b] for a, b in itertools.combinations(trends[1:], 2)]
    ratios = {tuple(s): [] for s in sets}
    for market in MARKETS:
        con = duckdb.connect()
        load_scored(con, f"{data}/{market}.csv.gz", f"{out}/{market}/forecasts.parquet")
        rows = con.sql("select model_id, t, value v, price p from scored order by model_id, t").fetchnumpy()
        models = {}
        for m in np.unique(rows["model_id"]):
            sel = rows["model_id"] == m
            models[m] = (rows["v"][sel], rows["p"][sel])
        actual = models["dnn"][1]

        def mae(x):
            return float(np.abs(x - actual).mean())

        def lear(trend_set):
            return np.mean([models[f"lear_{w}{suffix(t)}"][0] for t in trend_set for w in WINDOWS], axis=0)

        bench = mae(lear(["none"]))
        dnn = models["dnn"][0]
        print(f"{market}: {len(actual) // 24} days, benchmark LEAR {bench:.4f}, dnn {mae(dnn):.4f}")
        for s in sets:
            lear_s = lear(s)
            ratio = mae((lear_s + dnn) / 2) / bench
            ratios[tuple(s)].append(ratio)
            print(f"  {','.join(s):<24} lear {mae(lear_s):.4f}  ensemble/benchmark LEAR {ratio:.4f}")
    print("mean over the markets of ensemble_lear_dnn / benchmark LEAR:")
    for s, r in sorted(ratios.items(), key=lambda kv: np.mean(kv[1])):
        print(f"  {','.join(s):<24} {np.mean(r):.4f}  ({' '.join(f'{x:.4f}' for x in r)})")


if __name__ == "__main__":
    main()
