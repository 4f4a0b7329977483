"""How `ensemble_lear_dnn` would score with other weights: for each run of `hcp evaluate price
--format epftoolbox --dnn`, the MAE of w·dnn + (1 − w)·lear over its test days, for each weight w
given, relative to `lear`'s MAE, and the mean ratio over the runs given. Both models' forecasts do not
depend on the ensemble's weight, so one run scores every weight.

With --trailing K,..., also a weight chosen day by day: for each test day, the w of 0, 0.1, ...,
1 with the lowest MAE over the run's last K test days before it (0.5 for the first 7 days; a
run's forecasts start at its test start, so the first K days have fewer).

Usage: .venv-ci/bin/python scripts/ensemble_weights.py DATA_DIR OUT_DIR/MARKET ... [--weights 0.3,0.4,0.5,0.6,0.7] [--trailing 14,28,56]

(DuckDB from notebooks/requirements.txt.) A run's market is named by its directory's last
component, alone or between '-' (NP, PJM or DE: target/lear-trend-sweep/half/PJM,
target/dnn-sweep/half/c15-PJM); the outturn is the first column after the timestamp of DATA_DIR/MARKET.csv.gz.
"""

import argparse
import os
import sys

import duckdb

MARKETS = ("NP", "PJM", "DE")


def scores(data: str, run: str, weights: list[float]) -> tuple[float, list[float]]:
    parts = os.path.basename(os.path.normpath(run)).split("-")
    market = next((p for p in parts if p in MARKETS), None)
    if market is None:
        raise SystemExit(f"{run}: its directory's name names none of the markets {', '.join(MARKETS)}")
    con = duckdb.connect()
    con.execute(
        "create table outturn as select column0::timestamp as t, column1 as price "
        "from read_csv(?, header = true, columns = {'column0': 'VARCHAR', 'column1': 'DOUBLE', "
        "'column2': 'DOUBLE', 'column3': 'DOUBLE'})",
        [f"{data}/{market}.csv.gz"],
    )
    con.execute(
        "create table pair as select t, any_value(price) as price, "
        "max(value) filter (where model_id = 'lear') as lear, max(value) filter (where model_id = 'dnn') as dnn "
        "from read_parquet(?) join outturn on target_time::timestamp = t where output_type = 'mean' group by t",
        [f"{run}/forecasts.parquet"],
    )
    (hours, missing) = con.execute(
        "select count(*), count(*) filter (where lear is null or dnn is null or price is null) from pair"
    ).fetchone()
    if hours == 0 or missing:
        raise SystemExit(f"{run}: {missing} of {hours} forecast hours lack lear, dnn or an outturn (a run with --dnn?)")
    lear = con.execute("select avg(abs(lear - price)) from pair").fetchone()[0]
    maes = [con.execute("select avg(abs(? * dnn + (1 - ?) * lear - price)) from pair", [w, w]).fetchone()[0] for w in weights]
    rows = con.execute("select price, lear, dnn from pair order by t").fetchall()
    return lear, maes, rows


def trailing_mae(rows: list[tuple[float, float, float]], k: int) -> float:
    """MAE of the ensemble whose weight, each day, did best over the K days before it."""
    days = [rows[i : i + 24] for i in range(0, len(rows), 24)]
    grid = [i / 10 for i in range(11)]

    def day_error(day, w):
        return sum(abs(w * d + (1 - w) * l - y) for y, l, d in day)

    total = 0.0
    for i, day in enumerate(days):
        w = 0.5
        if i >= 7:
            past = days[max(0, i - k) : i]
            w = min(grid, key=lambda g: sum(day_error(p, g) for p in past))
        total += day_error(day, w)
    return total / len(rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="the directory of the epftoolbox CSVs the runs read")
    parser.add_argument("runs", nargs="+", help="the runs' OUT_DIRs")
    parser.add_argument("--weights", default="0.3,0.4,0.5,0.6,0.7", help="dnn's weights to score, comma-separated")
    parser.add_argument("--trailing", default="", help="days of trailing MAE to choose a weight by, comma-separated")
    args = parser.parse_args(argv[1:])
    weights = [float(w) for w in args.weights.split(",")]
    trailing = [int(k) for k in args.trailing.split(",") if k]
    heads = [f"{'w=' + format(w, 'g'):>8}" for w in weights] + [f"{'last ' + str(k):>8}" for k in trailing]
    print(f"{'run':<40} {'lear MAE':>9} " + " ".join(heads))
    ratios = []
    for run in args.runs:
        lear, maes, rows = scores(args.data, run, weights)
        maes += [trailing_mae(rows, k) for k in trailing]
        ratios.append([m / lear for m in maes])
        print(f"{run:<40} {lear:>9.3f} " + " ".join(f"{r:>8.4f}" for r in ratios[-1]))
    means = [sum(col) / len(col) for col in zip(*ratios)]
    print(f"{'mean ratio (ensemble / lear)':<40} {'':>9} " + " ".join(f"{m:>8.4f}" for m in means))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
