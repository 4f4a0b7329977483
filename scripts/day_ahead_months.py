"""Month by month, where the day-ahead models of one `hcp evaluate price --format epftoolbox --dnn`
run gain and lose: MAE of `lear`, `dnn` and `ensemble_lear_dnn` (or the models --models names,
e.g. the perceptron's members `dnn_0`, `dnn_1`, …) per month of the test period, and
over the whole period with and without the months given by --exclude (e.g. a month of price
spikes that dominates the total). With --days YYYY-MM, that month day by day instead: the
outturn's mean and maximum, each model's mean forecast and its MAE.

Usage: .venv-ci/bin/python scripts/day_ahead_months.py OUT_DIR MARKET.csv.gz [--models M,M,...] [--exclude YYYY-MM ... | --days YYYY-MM]
(DuckDB from notebooks/requirements.txt.) The outturn and the `mean` rows of
OUT_DIR/forecasts.parquet come through scripts/epftoolbox_scored.py.
"""

import argparse
import sys

import duckdb

from epftoolbox_scored import load_scored

MODELS = "lear,dnn,ensemble_lear_dnn"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="the run's OUT_DIR")
    parser.add_argument("csv", help="the market's epftoolbox CSV the run read")
    parser.add_argument("--models", default=MODELS, help=f"the models, comma-separated (default {MODELS})")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--exclude", nargs="+", default=[], metavar="YYYY-MM", help="months left out of `without`")
    group.add_argument("--days", metavar="YYYY-MM", help="one month, day by day")
    args = parser.parse_args(argv[1:])
    out, csv, excluded, day_month = args.out, args.csv, args.exclude, args.days
    models = tuple(args.models.split(","))
    con = duckdb.connect()
    load_scored(con, csv, f"{out}/forecasts.parquet", models)
    found = {m for (m,) in con.execute("select distinct model_id from scored").fetchall()}
    if missing := [m for m in models if m not in found]:
        print(f"{out}/forecasts.parquet: no forecasts of {', '.join(missing)}", file=sys.stderr)
        return 1
    columns = ", ".join(f"avg(abs(value - price)) filter (where model_id = '{m}')" for m in models)
    if day_month is not None:
        means = ", ".join(f"avg(value) filter (where model_id = '{m}')" for m in models)
        print(f"{'day':<10} {'mean':>7} {'max':>7} " + " ".join(f"{m + ' mean':>22} {'MAE':>7}" for m in models))
        rows = con.execute(
            f"select t::date, avg(price) filter (where model_id = '{models[0]}'), max(price), {means}, {columns} "
            "from scored where strftime(t, '%Y-%m') = ? group by 1 order by 1",
            [day_month],
        ).fetchall()
        if not rows:
            print(f"no forecasts in {day_month}", file=sys.stderr)
            return 1
        for day, mean, peak, *values in rows:
            pairs = zip(values[: len(models)], values[len(models) :])
            print(f"{day!s:<10} {mean:>7.1f} {peak:>7.1f} " + " ".join(f"{f:>22.1f} {e:>7.2f}" for f, e in pairs))
        return 0
    print(f"{'month':<8} " + " ".join(f"{m:>18}" for m in models))
    rows = con.execute(
        f"select strftime(t, '%Y-%m') as month, {columns} from scored group by 1 order by 1"
    ).fetchall()
    for month, *maes in rows:
        print(f"{month:<8} " + " ".join(f"{v:>18.3f}" for v in maes))
    total = con.execute(f"select {columns} from scored").fetchone()
    print(f"{'all':<8} " + " ".join(f"{v:>18.3f}" for v in total))
    if excluded:
        kept = con.execute(
            f"select {columns} from scored where strftime(t, '%Y-%m') not in "
            f"(select unnest(?::varchar[]))",
            [excluded],
        ).fetchone()
        print(f"{'without':<8} " + " ".join(f"{v:>18.3f}" for v in kept) + f"   (all but {', '.join(excluded)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
