"""Other ways to combine `lear` and `dnn` than `ensemble_lear_dnn`'s weighted mean, scored on
runs of `hcp evaluate price --format epftoolbox --dnn` (each rule's MAE over the run's test days
relative to `lear`'s, and the mean over the runs given). None depends on a model's fit, so one
run scores every rule. The rules:
- `mean w`: w·dnn + (1 − w)·lear, w = 0.6 (the built ensemble) and 0.5;
- `asinh w`: the same weights in the invariant space (asinh of the price less the median of the
  outturn's last 364 days, over their normal-consistent MAD, known before the day), mapped back:
  a mean that gives a spike less pull;
- `median`: the median of the LEAR windows' forecasts (every `lear_*` model of the run) and as
  many copies of `dnn`;
- `damped`: the plain mean where `dnn` forecasts above `lear`, the 0.6 weight elsewhere.

Usage: .venv-ci/bin/python scripts/ensemble_rules.py DATA_DIR OUT_DIR/MARKET ...
(DuckDB from notebooks/requirements.txt, NumPy with it.) A run's market is named as for
scripts/ensemble_weights.py (its directory's last component, alone or between '-').
"""

import os
import sys

import duckdb
import numpy as np

from epftoolbox_scored import load_scored, run_market, scaled_level


def rules(data: str, run: str) -> dict[str, float]:
    market = run_market(run)
    con = duckdb.connect()
    load_scored(con, f"{data}/{market}.csv.gz", f"{run}/forecasts.parquet")
    f = con.execute("pivot scored on model_id using max(value) group by t, price order by t").fetchnumpy()
    if "dnn" not in f:
        raise SystemExit(f"{run}: no `dnn` forecasts (a run with --dnn?)")
    hist = con.execute("select t, price from outturn order by t").fetchnumpy()
    y, lear, dnn = f["price"], f["lear"], f["dnn"]
    mae = lambda x: float(np.mean(np.abs(y - x)))  # noqa: E731
    out = {f"mean {w}": mae(w * dnn + (1 - w) * lear) for w in (0.6, 0.5)}
    m, s = scaled_level(f["t"], hist["t"], hist["price"], 364)
    zl, zd = np.arcsinh((lear - m) / s), np.arcsinh((dnn - m) / s)
    out |= {f"asinh {w}": mae(m + s * np.sinh(w * zd + (1 - w) * zl)) for w in (0.6, 0.5)}
    windows = [f[k] for k in f if k.startswith("lear_")]
    out["median"] = mae(np.median(np.stack(windows + [dnn] * len(windows)), axis=0))
    out["damped"] = mae(np.where(dnn > lear, 0.5 * (dnn + lear), 0.6 * dnn + 0.4 * lear))
    return {k: v / mae(lear) for k, v in out.items()}


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    data, runs = argv[1], argv[2:]
    scored = {run: rules(data, run) for run in runs}
    names = list(next(iter(scored.values())))
    print("rule".ljust(10), *(os.path.basename(os.path.normpath(r)).rjust(10) for r in runs), "mean".rjust(8))
    for n in names:
        values = [scored[r][n] for r in runs]
        print(n.ljust(10), *(f"{v:10.4f}" for v in values), f"{np.mean(values):8.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
