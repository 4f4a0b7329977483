"""How `ensemble_lear_dnn` would score with other weights: for each run of `hcp evaluate price
--format epftoolbox --dnn`, the MAE of w·dnn + (1 − w)·lear over its test days, for each weight w
given, relative to `lear`'s MAE (or, with --mae, the MAE itself), and the mean over the runs
given. Neither model's forecasts depend on the ensemble's weight, so one run scores every weight.

With --trailing K,..., also a weight chosen day by day: for each test day, the w of 0, 0.1, ...,
1 with the lowest MAE over the run's last K test days before it (0.5 for the first 7 days; a
run's forecasts start at its test start, so the first K days have fewer).

With --lear-models M,..., `lear` is the mean of those single models of the run instead of its own
`lear` (e.g. lear_56,lear_84,lear_1092,lear_1456: the benchmark's LEAR, `--lear-trends none`, from
a run that fitted more trends).

Usage: .venv-ci/bin/python scripts/ensemble_weights.py DATA_DIR OUT_DIR/MARKET ... [--weights 0.3,0.4,0.5,0.6,0.7] [--trailing 14,28,56] [--lear-models M,...] [--mae]

(DuckDB from notebooks/requirements.txt.) A run's market is named by its directory's last
component, alone or between '-' (NP, PJM or DE: target/lear-trend-sweep/half/PJM,
target/dnn-sweep/half/c15-PJM); its outturn is DATA_DIR/MARKET.csv.gz, read by
scripts/epftoolbox_scored.py.
"""

import argparse
import sys

import duckdb

from epftoolbox_scored import load_scored, run_market

GRID = [i / 10 for i in range(11)]


def hours(data: str, run: str, lear_models: list[str]) -> list[tuple[float, float, float]]:
    """(outturn, lear, dnn) for each forecast hour of the run, in time order; `lear` is the mean
    of `lear_models`."""
    market = run_market(run)
    con = duckdb.connect()
    load_scored(con, f"{data}/{market}.csv.gz", f"{run}/forecasts.parquet", (*lear_models, "dnn"))
    rows = con.execute(
        "select any_value(price), avg(value) filter (where model_id <> 'dnn'), "
        "max(value) filter (where model_id = 'dnn'), count(*) filter (where model_id <> 'dnn') "
        "from scored group by t order by t"
    ).fetchall()
    if not rows or any(r[1] is None or r[2] is None or r[3] != len(lear_models) for r in rows) or len(rows) % 24:
        raise SystemExit(
            f"{run}: its {len(rows)} forecast hours are not whole days of dnn and every one of {','.join(lear_models)} (a run with --dnn?)"
        )
    return [r[:3] for r in rows]


def error(rows, w: float) -> float:
    """Sum of absolute errors of w·dnn + (1 − w)·lear over `rows`."""
    return sum(abs(w * d + (1 - w) * l - y) for y, l, d in rows)


def trailing_mae(rows, k: int) -> float:
    """MAE of the ensemble whose weight, each day, did best over the K days before it."""
    day_errors = [[error(rows[i : i + 24], g) for g in GRID] for i in range(0, len(rows), 24)]
    total = 0.0
    for i, errors in enumerate(day_errors):
        g = GRID.index(0.5)
        if i >= 7:
            past = day_errors[max(0, i - k) : i]
            g = min(range(len(GRID)), key=lambda j: sum(e[j] for e in past))
        total += errors[g]
    return total / len(rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="the directory of the epftoolbox CSVs the runs read")
    parser.add_argument("runs", nargs="+", help="the runs' OUT_DIRs")
    parser.add_argument("--weights", default="0.3,0.4,0.5,0.6,0.7", help="dnn's weights to score, comma-separated")
    parser.add_argument("--trailing", default="", help="days of trailing MAE to choose a weight by, comma-separated")
    parser.add_argument("--lear-models", default="lear", help="the models whose mean is lear, comma-separated")
    parser.add_argument("--mae", action="store_true", help="print the ensembles' MAE, not its ratio to lear's")
    args = parser.parse_args(argv[1:])
    weights = [float(w) for w in args.weights.split(",")]
    trailing = [int(k) for k in args.trailing.split(",") if k]
    heads = [f"{'w=' + format(w, 'g'):>8}" for w in weights] + [f"{'last ' + str(k):>8}" for k in trailing]
    print(f"{'run':<40} {'lear MAE':>9} " + " ".join(heads))
    cells = []
    for run in args.runs:
        rows = hours(args.data, run, args.lear_models.split(","))
        lear = error(rows, 0.0) / len(rows)
        maes = [error(rows, w) / len(rows) for w in weights] + [trailing_mae(rows, k) for k in trailing]
        cells.append(maes if args.mae else [m / lear for m in maes])
        print(f"{run:<40} {lear:>9.3f} " + " ".join(f"{c:>8.4f}" for c in cells[-1]))
    means = [sum(col) / len(col) for col in zip(*cells)]
    label = "mean MAE" if args.mae else "mean ratio (ensemble / lear)"
    print(f"{label:<40} {'':>9} " + " ".join(f"{m:>8.4f}" for m in means))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
