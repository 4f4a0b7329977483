"""Where `lear_rt` stands against the latest day-ahead price (`dam_latest`), horizon by horizon,
on one `hcp evaluate price --format ercot` run, and how far a choice between the two could go.

For each horizon h (1..24) it prints, on the pairs both models scored in the test period:
- `ratio`: lear_rt's MAE over dam_latest's (the issue's target: below 0.90 at every h);
- `spike`, `negative`: the share of dam_latest's absolute error that falls on target hours whose
  real-time price was above $100/MWh, or below zero;
- `ratio spike`, `ratio negative`, `ratio normal`: the ratio on the hours above $100/MWh, below
  zero, and between $0 and $100;
- `oracle`: the ratio had each (issue hour of day, horizon) cell used whichever of lear_rt and
  dam_latest was better over the whole test, chosen with the test's own errors. No forecaster
  can know that choice in advance, so it bounds what any selection or switching between the two
  models could reach;
- `oracle blend`: the same with the best fixed weight w in {0, 0.1, ..., 1} of
  w * lear_rt + (1 - w) * dam_latest per cell, again chosen on the test itself.

Actual prices come from the `persistence` rows (horizon 1 of the issue an hour after the target
is the target's real-time price).

Usage: .venv-ci/bin/python scripts/ercot_horizons.py OUT_DIR
(DuckDB from notebooks/requirements.txt.)
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

import duckdb

WEIGHTS = [w / 10 for w in range(11)]


def main(out: Path) -> None:
    metrics = json.loads((out / "metrics.json").read_text())
    test_start = metrics["test_start"].replace("T", " ").rstrip("Z")
    con = duckdb.connect()
    con.sql(
        f"""create table f as select forecast_time, target_time, horizon_minutes, model_id, value
            from '{out}/forecasts.parquet' where output_type = 'mean'"""
    )
    con.sql(
        """create table actual as select target_time - interval 1 hour as t, value as rt from f
           where model_id = 'persistence' and horizon_minutes = 0"""
    )
    blend = ", ".join(
        f"sum(abs({w} * l.value + {1 - w} * d.value - a.rt)) as b{i}" for i, w in enumerate(WEIGHTS)
    )
    cells = con.sql(
        f"""select l.horizon_minutes // 60 + 1 as h,
                   hour(timezone('America/Chicago', l.forecast_time)) as issue_hour,
                   count(*) as n,
                   sum(abs(l.value - a.rt)) as lear,
                   sum(abs(d.value - a.rt)) as dam,
                   count(*) filter (where a.rt > 100) as n_spike,
                   count(*) filter (where a.rt < 0) as n_negative,
                   sum(case when a.rt > 100 then abs(l.value - a.rt) else 0 end) as lear_spike,
                   sum(case when a.rt > 100 then abs(d.value - a.rt) else 0 end) as dam_spike,
                   sum(case when a.rt < 0 then abs(l.value - a.rt) else 0 end) as lear_negative,
                   sum(case when a.rt < 0 then abs(d.value - a.rt) else 0 end) as dam_negative,
                   sum(case when a.rt between 0 and 100 then abs(l.value - a.rt) else 0 end) as lear_normal,
                   sum(case when a.rt between 0 and 100 then abs(d.value - a.rt) else 0 end) as dam_normal,
                   {blend}
            from f l join f d using (forecast_time, target_time)
            join actual a on a.t = l.target_time
            where l.model_id = 'lear_rt' and d.model_id = 'dam_latest'
              and l.forecast_time >= timestamp '{test_start}'
            group by 1, 2"""
    ).fetchall()
    columns = [
        "h", "issue_hour", "n", "lear", "dam", "n_spike", "n_negative", "lear_spike", "dam_spike",
        "lear_negative", "dam_negative", "lear_normal", "dam_normal",
    ]  # fmt: skip
    by_h: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in cells:
        cell = dict(zip(columns, row[: len(columns)]))
        blends = row[len(columns) :]
        total = by_h[cell["h"]]
        for key in columns[2:]:
            total[key] += cell[key]
        total["oracle"] += min(cell["lear"], cell["dam"])
        total["oracle_blend"] += min(blends)
    n = int(sum(t["n"] for t in by_h.values()))
    share = {k: sum(t[f"n_{k}"] for t in by_h.values()) / n for k in ("spike", "negative")}
    print(
        f"{out}: {metrics['point']}, {n} pairs scored by lear_rt and dam_latest from {test_start}; "
        f"{share['spike']:.1%} of them above $100/MWh, {share['negative']:.1%} below zero"
    )
    print(" h  ratio  spike  negative  ratio spike  ratio negative  ratio normal  oracle  oracle blend")
    for h in sorted(by_h):
        t = by_h[h]
        print(
            f"{h:2d}  {t['lear'] / t['dam']:.3f}  {t['dam_spike'] / t['dam']:.3f}  {t['dam_negative'] / t['dam']:8.3f}"
            f"  {t['lear_spike'] / t['dam_spike']:11.3f}  {t['lear_negative'] / t['dam_negative']:14.3f}"
            f"  {t['lear_normal'] / t['dam_normal']:12.3f}  {t['oracle'] / t['dam']:.3f}  {t['oracle_blend'] / t['dam']:12.3f}"
        )
    total = {k: sum(t[k] for t in by_h.values()) for k in ("lear", "dam", "oracle", "oracle_blend")}
    print(
        f"all ratio {total['lear'] / total['dam']:.4f}, oracle {total['oracle'] / total['dam']:.4f}, "
        f"oracle blend {total['oracle_blend'] / total['dam']:.4f}"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
