"""One `hcp evaluate price --format epftoolbox` run's mean forecasts beside the outturn, in DuckDB:
the loader the scripts that score such runs share (day_ahead_months.py, ensemble_weights.py,
ensemble_rules.py, lear_trend_sets.py, dnn_member_rules.py), the market a run's directory names,
and the invariant scaler's level and scale of the outturn before each day. The outturn is
the column after the timestamp of the benchmark's CSV, as `hcp evaluate price` reads it."""

import os

import duckdb
import numpy as np

MARKETS = ("NP", "PJM", "DE")


def run_market(run: str) -> str:
    """The market of a run's directory: its last component, alone or between '-' (NP, PJM or
    DE: target/lear-trend-sweep/half/PJM, target/dnn-sweep/half/c15-PJM). Exits naming the run
    when it names none."""
    parts = os.path.basename(os.path.normpath(run)).split("-")
    market = next((p for p in parts if p in MARKETS), None)
    if market is None:
        raise SystemExit(f"{run}: its directory's name names none of the markets {', '.join(MARKETS)}")
    return market


def load_scored(con: duckdb.DuckDBPyConnection, csv: str, forecasts: str, models: tuple[str, ...] | None = None) -> None:
    """Creates the table `scored` (t, model_id, value, price): every `mean` row of the
    forecasts.parquet `forecasts` (of `models` only, when given) with the outturn of its hour.
    Exits naming the CSV when a forecast hour has no outturn there."""
    con.execute(
        "create table outturn as select column0::timestamp as t, column1 as price "
        "from read_csv(?, header = true, columns = {'column0': 'VARCHAR', 'column1': 'DOUBLE', "
        "'column2': 'DOUBLE', 'column3': 'DOUBLE'})",
        [csv],
    )
    con.execute(
        "create table forecast as select target_time::timestamp as t, model_id, value from read_parquet(?) "
        "where output_type = 'mean' and (?::varchar[] is null or list_contains(?::varchar[], model_id))",
        [forecasts, models and list(models), models and list(models)],
    )
    missing = con.execute("select count(*) from forecast anti join outturn using (t)").fetchone()[0]
    if missing:
        raise SystemExit(f"{forecasts}: {missing} forecast hours have no outturn in {csv}")
    con.execute("create table scored as select t, model_id, value, price from forecast join outturn using (t)")


def scaled_level(t: np.ndarray, hist_t: np.ndarray, hist_p: np.ndarray, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Per forecast hour, the median and normal-consistent MAD of the outturn over the `days`
    days before its day."""
    m, s, cache = np.empty(len(t)), np.empty(len(t)), {}
    for i, ti in enumerate(t):
        d = np.datetime64(ti, "D")
        if d not in cache:
            window = hist_p[(hist_t >= d - np.timedelta64(days, "D")) & (hist_t < d)]
            med = np.median(window)
            cache[d] = (med, np.median(np.abs(window - med)) * 1.4826)
        m[i], s[i] = cache[d]
    return m, s
