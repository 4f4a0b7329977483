//! `hcp forecast`: forecasts from a trained model and a history dataset.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hcp_training::demand_model::{ForecastDemandConfig, forecast_demand};
use hcp_training::price_model::{ForecastPriceConfig, forecast_price};

use crate::evaluate_cmd::DemandSourceArgs;

#[derive(Debug, Args)]
pub struct ForecastArgs {
    #[command(subcommand)]
    what: ForecastWhat,
}

#[derive(Debug, Subcommand)]
enum ForecastWhat {
    /// The next 24 hours of the real-time price at the model's node, issued after the last
    /// known hour (or at --issue-time); mean and 0.1/0.5/0.9 quantiles.
    Price(ForecastPriceArgs),
    /// The next 168 hours of GPU demand after the history's last hour.
    Demand(ForecastDemandArgs),
}

#[derive(Debug, Args)]
struct ForecastDemandArgs {
    /// Directory written by `hcp train demand`.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    history: DemandSourceArgs,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value = "forecast")]
    run_id: String,
}

#[derive(Debug, Args)]
struct ForecastPriceArgs {
    /// Directory written by `hcp train price`; repeat for several nodes (one file per
    /// partition holds them all).
    #[arg(long = "model", required = true)]
    models: Vec<PathBuf>,
    /// Dataset directory with a `prices` table holding the node's history.
    #[arg(long)]
    history: PathBuf,
    /// Forecast directory: forecasts/target=.../forecast_date=.../part-<run_id>.parquet.
    #[arg(long)]
    out: PathBuf,
    /// Names the files a run writes: the same run id rewrites the same files (idempotent);
    /// give each run its own, or its files replace another's.
    #[arg(long, default_value = "forecast")]
    run_id: String,
    /// Issue time, RFC 3339 or YYYY-MM-DD (UTC), on the hour.
    #[arg(long)]
    issue_time: Option<String>,
}

pub fn forecast_cmd(args: ForecastArgs) -> Result<()> {
    match args.what {
        ForecastWhat::Demand(a) => {
            let cfg =
                ForecastDemandConfig { model: a.model, history: a.history.source()?, out: a.out, run_id: a.run_id };
            for f in forecast_demand(&cfg).context("forecasting demand")? {
                println!("-> {} ({} rows)", f.path.display(), f.rows);
            }
            Ok(())
        }
        ForecastWhat::Price(a) => {
            crate::given_once("--model", a.models.iter().map(|m| crate::same_place(m)))?;
            let issue_us = match &a.issue_time {
                Some(s) => Some(
                    hcp_datasets::time::parse_instant(s)
                        .with_context(|| format!("--issue-time `{s}` is not RFC 3339 or YYYY-MM-DD"))?,
                ),
                None => None,
            };
            let cfg =
                ForecastPriceConfig { models: a.models, history: a.history, out: a.out, run_id: a.run_id, issue_us };
            let (written, forecast) = forecast_price(&cfg).context("forecasting the price")?;
            for (model, f) in cfg.models.iter().zip(&forecast) {
                println!("{}: {} horizons", model.display(), f.horizons);
                if let Some(why) = &f.in_sample {
                    eprintln!("warning: {why}");
                }
            }
            for f in written {
                println!("-> {}", f.path.display());
            }
            Ok(())
        }
    }
}
