"""The same ERCOT CSV -> canonical Parquet conversion as `hcp ingest ercot`, in Python polars.

Reads the gzipped CSV, turns delivery_date + hour_ending (US Central) into the UTC interval
start with the same clock-change rules as hcp (23-hour day: hour ending 3 is the second hour;
25-hour day without DST flag: the repeated hour is absent), and writes zstd Parquet partitioned
by market and year. Prints median wall time, rows/s and the process's peak resident memory
(interpreter and polars included, as hcp's figure includes its whole process).

    python scripts/bench_ingest_polars.py [ERCOT_CSV_GZ] [RUNS] [HCP_DATASET_DIR]

With HCP_DATASET_DIR (a dataset that `hcp ingest ercot` wrote), it also checks that both
conversions hold exactly the same rows.
"""

import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/ercot/ercot_dam_rtm_hourly_15sp.csv.gz"


def convert(src: Path, out: Path) -> int:
    df = pl.read_csv(
        src,
        schema_overrides={"dam_lmp": pl.Float64, "rtm_lmp": pl.Float64, "hour_ending": pl.Int32},
    )
    date = pl.col("delivery_date").str.to_date("%Y-%m-%d")

    def local_midnight_utc(d: pl.Expr) -> pl.Expr:
        return (
            d.cast(pl.Datetime("us"))
            .dt.replace_time_zone("America/Chicago")
            .dt.convert_time_zone("UTC")
        )

    midnight = local_midnight_utc(date)
    hours = (local_midnight_utc(date + pl.duration(days=1)) - midnight).dt.total_hours()
    he = pl.col("hour_ending")
    index = (
        pl.when((hours == 23) & (he >= 3)).then(he - 2)
        .when((hours == 25) & (he >= 3)).then(he)
        .otherwise(he - 1)
    )
    df = df.with_columns(
        interval_start=midnight + pl.duration(hours=index),
        hours=hours,
    )
    bad = df.filter((pl.col("hours") == 23) & (he == 2))
    df = df.filter(~((pl.col("hours") == 23) & (he == 2)))
    table = df.select(
        pl.lit("ERCOT").alias("market"),
        pl.col("settlement_point").alias("node"),
        "interval_start",
        pl.lit(60, pl.Int32).alias("interval_minutes"),
        pl.lit("USD").alias("currency"),
        pl.col("dam_lmp").alias("dam_price_per_mwh"),
        pl.col("rtm_lmp").alias("rtm_price_per_mwh"),
        pl.col("interval_start").dt.year().alias("year"),
    ).sort("market", "node", "interval_start")
    table.write_parquet(out / "prices", compression="zstd", partition_by=["market", "year"])
    return df.height + bad.height


def same_rows(python_out: Path, hcp_dataset: Path) -> bool:
    cols = ["market", "node", "interval_start", "dam_price_per_mwh", "rtm_price_per_mwh"]

    def load(root: Path) -> pl.DataFrame:
        scan = pl.scan_parquet(str(root / "prices/**/*.parquet"), hive_partitioning=True)
        return scan.select(cols).collect().sort("market", "node", "interval_start")

    return load(python_out).equals(load(hcp_dataset))


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    times = []
    rows = 0
    for run in range(runs + 1):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            rows = convert(src, Path(out))
            elapsed = time.perf_counter() - start
        if run > 0:
            times.append(elapsed)
    median = statistics.median(times)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"python polars {pl.__version__}: {rows} rows, {runs} runs after one warm-up, {pl.thread_pool_size()} threads")
    print(f"  time   min {min(times):.3f} s  median {median:.3f} s  max {max(times):.3f} s")
    print(f"  rate   {rows / median:.0f} rows/s (median)")
    print(f"  peak resident memory {peak_mib:.1f} MiB (whole python process)")
    if len(sys.argv) > 3:
        with tempfile.TemporaryDirectory() as out:
            convert(src, Path(out))
            print(f"  same rows as hcp's {sys.argv[3]}: {same_rows(Path(out), Path(sys.argv[3]))}")


if __name__ == "__main__":
    main()
