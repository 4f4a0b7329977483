# The check pre-registered in demand_ensemble.md: run from the repository root after the three
# validation runs written there (commands in demand_ensemble.md), with .venv-ci/bin/python.
import sys, polars as pl
spot = pl.read_csv("../shared/data/alibaba/v2026-spot-gpu/spot_hourly.csv")
def wide(run):
    df = pl.read_parquet(f"{run}/forecasts.parquet").filter(pl.col("output_type") == "mean")
    return df.pivot(on="model_id", index=["forecast_time", "target_time"], values="value").with_columns(
        (pl.col("target_time").dt.epoch("s") // 3600).alias("hour"))
def score(w, name):
    w = w.drop_nulls(["actual", "lear_demand", "seasonal_naive_weekly"])
    mae = lambda e: (e - pl.col("actual")).abs().mean()
    r = w.select(lear=mae(pl.col("lear_demand")), naive=mae(pl.col("seasonal_naive_weekly")),
                 persistence=mae(pl.col("persistence")),
                 ens=mae((pl.col("lear_demand") + pl.col("seasonal_naive_weekly")) / 2), n=pl.len()).row(0, named=True)
    print(f"{name:<6} n {r['n']}  lear {r['lear']:.3f}  naive {r['naive']:.3f}  persistence {r['persistence']:.3f}  ensemble {r['ens']:.3f}  ratio {r['ens']/r['lear']:.4f}")
for run, col in [("target/dens/req", "gpus_requested_active"), ("target/dens/sub", "gpus_submitted")]:
    w = wide(run).join(spot.select(pl.col("hour"), pl.col(col).alias("actual")), on="hour", how="left")
    score(w, run.split("/")[-1])
# pods: the actual of hour T is the weekly naive forecast for T + 168 h (any issue).
w = wide("target/dens/held")
act = w.select((pl.col("hour") - 168).alias("hour"), pl.col("seasonal_naive_weekly").alias("actual")).unique("hour")
score(w.join(act, on="hour", how="left"), "held")
