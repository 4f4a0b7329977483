"""MAE of the mean of several `hcp evaluate price --format ercot --lstm` runs' `lstm_rt` medians
(runs that differ only in `--lstm-seed`), alone and averaged with the first run's `lear_rt`,
on the issue-target pairs every run scored. Actual prices come from the `persistence` rows
(horizon 1 of the issue an hour after the target is the target's real-time price).

Usage: .venv-ci/bin/python scripts/seed_average.py OUT_SEED7 OUT_SEED8 ...
(DuckDB from notebooks/requirements.txt.)
"""

import sys

import duckdb


def main(runs: list[str]) -> None:
    con = duckdb.connect()
    first = f"'{runs[0]}/forecasts.parquet'"

    def point(model: str, path: str) -> str:
        return f"select forecast_time, target_time, value from '{path}/forecasts.parquet' where model_id = '{model}' and output_type = 'mean'"

    con.sql(
        f"""create table actual as select target_time - interval 1 hour as t, value as rt from {first}
            where model_id = 'persistence' and horizon_minutes = 0 and output_type = 'mean'"""
    )
    members = " union all ".join(f"select *, {i} as run from ({point('lstm_rt', r)})" for i, r in enumerate(runs))
    con.sql(f"create table members as {members}")
    con.sql(
        f"""create table averaged as select forecast_time, target_time, avg(value) as value from members
            group by 1, 2 having count(*) = {len(runs)}"""
    )
    con.sql(f"create table lear as {point('lear_rt', runs[0])}")
    con.sql(f"create table dam as {point('dam_latest', runs[0])}")
    row = con.sql(
        """select count(*), avg(abs(m.value - a.rt)), avg(abs(l.value - a.rt)),
                  avg(abs((m.value + l.value) / 2 - a.rt)), avg(abs(d.value - a.rt))
           from averaged m join lear l using (forecast_time, target_time)
           join dam d using (forecast_time, target_time) join actual a on a.t = m.target_time"""
    ).fetchall()[0]
    n, lstm, lear, both, dam = row
    print(f"{n} pairs: lstm_rt mean of {len(runs)} runs {lstm:.3f}, lear_rt {lear:.3f}, their mean {both:.3f}, dam_latest {dam:.3f}")
    for i, r in enumerate(runs):
        one = con.sql(
            f"""select avg(abs(m.value - a.rt)) from members m join averaged using (forecast_time, target_time)
                join lear using (forecast_time, target_time) join actual a on a.t = m.target_time where m.run = {i}"""
        ).fetchall()[0][0]
        print(f"  {r}: lstm_rt {one:.3f}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
