"""Month by month, where the day-ahead models of one `hcp evaluate price --format epftoolbox --dnn`
run gain and lose: MAE of `lear`, `dnn` and `ensemble_lear_dnn` per month of the test period, and
over the whole period with and without the months given by --exclude (e.g. a month of price
spikes that dominates the total).

Usage: .venv-ci/bin/python scripts/day_ahead_months.py OUT_DIR MARKET.csv.gz [--exclude YYYY-MM ...]
(DuckDB from notebooks/requirements.txt.) The outturn prices are the CSV's first column after
the timestamp, as `hcp evaluate price` reads them; forecasts are the `mean` rows of
OUT_DIR/forecasts.parquet.
"""

import sys

import duckdb

MODELS = ("lear", "dnn", "ensemble_lear_dnn")


def main(argv: list[str]) -> int:
    if len(argv) < 3 or (len(argv) > 3 and argv[3] != "--exclude"):
        print(__doc__, file=sys.stderr)
        return 2
    out, csv, excluded = argv[1], argv[2], argv[4:]
    con = duckdb.connect()
    con.execute(
        "create table outturn as select column0::timestamp as t, column1 as price "
        "from read_csv(?, header = true, columns = {'column0': 'VARCHAR', 'column1': 'DOUBLE', "
        "'column2': 'DOUBLE', 'column3': 'DOUBLE'})",
        [csv],
    )
    con.execute(
        "create table forecast as select target_time::timestamp as t, model_id, value "
        "from read_parquet(?) where output_type = 'mean' and model_id in ('lear', 'dnn', 'ensemble_lear_dnn')",
        [f"{out}/forecasts.parquet"],
    )
    missing = con.execute("select count(*) from forecast left join outturn using (t) where price is null").fetchone()[0]
    if missing:
        print(f"{missing} forecast hours have no outturn in {csv}", file=sys.stderr)
        return 1
    columns = ", ".join(f"avg(abs(value - price)) filter (where model_id = '{m}')" for m in MODELS)
    print(f"{'month':<8} " + " ".join(f"{m:>18}" for m in MODELS))
    rows = con.execute(
        f"select strftime(t, '%Y-%m') as month, {columns} from forecast join outturn using (t) group by 1 order by 1"
    ).fetchall()
    for month, *maes in rows:
        print(f"{month:<8} " + " ".join(f"{v:>18.3f}" for v in maes))
    total = con.execute(f"select {columns} from forecast join outturn using (t)").fetchone()
    print(f"{'all':<8} " + " ".join(f"{v:>18.3f}" for v in total))
    if excluded:
        kept = con.execute(
            f"select {columns} from forecast join outturn using (t) where strftime(t, '%Y-%m') not in "
            f"(select unnest(?::varchar[]))",
            [excluded],
        ).fetchone()
        print(f"{'without':<8} " + " ".join(f"{v:>18.3f}" for v in kept) + f"   (all but {', '.join(excluded)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
