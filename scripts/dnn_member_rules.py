"""Rules over the perceptron's members, scored on runs of `hcp evaluate price --format epftoolbox
--dnn` (which write each member as `dnn_0`, `dnn_1`, …): `ensemble_lear_dnn` as it would be
with `dnn` made another way from the same members, so one run scores every rule. With the
default alternating origins, the even members measure their prices from day D-1's level and the
odd ones from zero (`--level-members` says otherwise). The rules:
- `origins a`: `dnn` = a × the level members' mean + (1 − a) × the zero members' (0.5: the mean
  of all four, `dnn` without the spike guard);
- `guard z`: on days after a spike, `dnn` from the zero members alone, the mean of all otherwise
  (`--dnn-spike-guard z`, built with z = 4 and taken out again on December 1, 2026:
  scripts/experiments/dnn_spike_guard.patch, README "The day after a spike").
  A day follows a spike when day D-1's mean price is more than z scales above the median of the
  daily means of D-8..D-2, the scale being the normal-consistent MAD of the hourly prices of the
  364 days before D (the invariant scaler's; all of it known when D is forecast);
- `guard-lear z`: on those days `lear` alone, the ensemble of all four otherwise;
- `median`: `dnn` = the hourly median of the members (the mean of the middle two of four), so
  that one member's overshoot moves it less;
- `median5`: the ensemble itself the hourly median of `lear` and the members, each a vote.
The ensemble is `--weight` × `dnn` + (1 − weight) × `lear` (0.5, the default's). Printed per run:
each rule's MAE and its ratio to `origins 0.5` (no guard), and over the runs the mean of those
ratios. Runs made with or without the guard score the same: the members do not depend on it.

Usage: .venv-ci/bin/python scripts/dnn_member_rules.py DATA_DIR OUT_DIR/MARKET ... [--weight 0.5]
(DuckDB from notebooks/requirements.txt, NumPy with it.) A run's market is named as for
scripts/ensemble_weights.py (its directory's last component, alone or between '-').
"""

import argparse

import duckdb
import numpy as np

from epftoolbox_scored import load_scored, run_market, scaled_level

ORIGIN_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
GUARDS = (2.0, 3.0, 4.0, 6.0)


def spike_scores(days: np.ndarray, hist_t: np.ndarray, hist_p: np.ndarray) -> np.ndarray:
    """Per forecast day D, (mean of D-1 − median of the daily means of D-8..D-2) / the
    normal-consistent MAD of the hourly prices of the 364 days before D."""
    hist_day = hist_t.astype("datetime64[D]")
    daily = {d: hist_p[hist_day == d].mean() for d in np.unique(hist_day)}
    _, scale = scaled_level(days, hist_t, hist_p, 364)
    one = np.timedelta64(1, "D")
    return np.array([(daily[d - one] - np.median([daily[d - k * one] for k in range(2, 9)])) for d in days]) / scale


def rules(data: str, run: str, weight: float, level: set[int]) -> tuple[dict[str, float], dict[float, int]]:
    market = run_market(run)
    con = duckdb.connect()
    load_scored(con, f"{data}/{market}.csv.gz", f"{run}/forecasts.parquet")
    f = con.execute("pivot scored on model_id using max(value) group by t, price order by t").fetchnumpy()
    members = sorted((k for k in f if k.startswith("dnn_") and k[4:].isdigit()), key=lambda k: int(k[4:]))
    if not members:
        raise SystemExit(f"{run}: no `dnn_0`, `dnn_1`, … forecasts (a run with --dnn, by a build that writes its members?)")
    hist = con.execute("select t, price from outturn order by t").fetchnumpy()
    y, lear = f["price"], f["lear"]
    each = np.array([f[m] for m in members])
    lev = each[sorted(level & set(range(len(members))))].mean(axis=0)
    zero = each[[i for i in range(len(members)) if i not in level]].mean(axis=0)
    built = each.mean(axis=0)
    if not np.all(np.isclose(f["dnn"], built, atol=1e-6) | np.isclose(f["dnn"], zero, atol=1e-6)):
        raise SystemExit(f"{run}: `dnn` is neither the mean of {', '.join(members)} nor of the zero members")
    mae = lambda x: float(np.mean(np.abs(y - x)))  # noqa: E731
    ens = lambda d: weight * d + (1 - weight) * lear  # noqa: E731
    out = {f"origins {a}": mae(ens(a * lev + (1 - a) * zero)) for a in ORIGIN_WEIGHTS}
    t = f["t"].astype("datetime64[h]")
    day = t.astype("datetime64[D]")
    days, index = np.unique(day, return_inverse=True)
    z = spike_scores(days, hist["t"].astype("datetime64[h]"), hist["price"])[index]
    counts = {}
    for g in GUARDS:
        hit = z > g
        counts[g] = int(hit.sum()) // 24
        out[f"guard {g}"] = mae(ens(np.where(hit, zero, built)))
        out[f"guard-lear {g}"] = mae(np.where(hit, lear, ens(built)))
    out["median"] = mae(ens(np.median(each, axis=0)))
    out["median5"] = mae(np.median(np.vstack([lear[None], each]), axis=0))
    return out, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data")
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--weight", type=float, default=0.5, help="dnn's weight in the ensemble")
    parser.add_argument("--level-members", default="0,2", help="members measuring from D-1's level")
    args = parser.parse_args()
    level = {int(m) for m in args.level_members.split(",") if m}
    results = {}
    for run in args.runs:
        out, counts = rules(args.data, run, args.weight, level)
        results[run] = out
        guarded = ", ".join(f"z > {g}: {n}" for g, n in counts.items())
        print(f"{run}: days guarded {guarded}")
        for k, v in out.items():
            print(f"  {k:16} {v:8.4f}  ({v / out['origins 0.5']:.4f})")
    if len(results) > 1:
        print("mean over the runs of MAE / origins 0.5's (no guard):")
        for k in next(iter(results.values())):
            print(f"  {k:16} {np.mean([r[k] / r['origins 0.5'] for r in results.values()]):.4f}")


if __name__ == "__main__":
    main()
