//! `hcp run`: the main job, end to end on one machine.
//!
//! Stages today: history (real data when `--data` is given, else a deterministic synthetic
//! history) → canonical Parquet → report. Training, forecasting and the backtest join here as
//! they land.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use hcp_datasets::ingest::{Format, IngestOptions, ingest};
use hcp_datasets::rows::prices_batch;
use hcp_datasets::{Table, WriteOptions, write_table};
use hcp_sim::market::{SyntheticPriceConfig, synthetic_prices};
use hcp_training::{PriceSummary, price_summary};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Real data: a directory laid out like ../shared/data (ERCOT prices under ercot/), or a
    /// canonical dataset directory that already holds `prices/`.
    #[arg(long, env = "HCP_DATA")]
    data: Option<PathBuf>,
    /// Where the run writes its datasets and report.
    #[arg(long, default_value_os_t = crate::default_out())]
    out: PathBuf,
    /// Seed of the synthetic history.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// What one run of the main job does.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub data: Option<PathBuf>,
    pub out: PathBuf,
    pub seed: u64,
}

impl From<RunArgs> for RunConfig {
    fn from(a: RunArgs) -> Self {
        RunConfig { data: a.data, out: a.out, seed: a.seed }
    }
}

pub fn run(cfg: &RunConfig) -> Result<()> {
    let history = history(cfg)?;
    println!("[1/2] history: {}", history.display());
    let summary = price_summary(&history).context("summarising price history with polars")?;
    let report = write_report(&cfg.out, &history, &summary)?;
    println!("[2/2] report:  {}", report.display());
    print_summary(&summary);
    Ok(())
}

/// Produces the canonical dataset the rest of the run reads, and returns its directory.
fn history(cfg: &RunConfig) -> Result<PathBuf> {
    let dataset = cfg.out.join("history");
    match &cfg.data {
        None => {
            let rows = synthetic_prices(&SyntheticPriceConfig::default_history(cfg.seed));
            let opts = WriteOptions::new(format!("synthetic-seed{}", cfg.seed), "hcp_sim synthetic prices");
            write_table(&dataset, Table::Prices, &prices_batch(&rows), &opts)?;
            Ok(dataset)
        }
        Some(dir) if dir.join(Table::Prices.name()).is_dir() => Ok(dir.clone()),
        Some(dir) => {
            let prices = dir.join("ercot/ercot_dam_rtm_hourly_15sp.csv.gz");
            if !prices.is_file() {
                bail!(
                    "{}: neither a dataset (no prices/) nor a data directory (no ercot/ercot_dam_rtm_hourly_15sp.csv.gz)",
                    dir.display()
                );
            }
            let report = ingest(Format::Ercot, &[prices], &IngestOptions::new(&dataset))?;
            crate::ingest_cmd::print_report(&report, 5);
            Ok(dataset)
        }
    }
}

fn write_report(out: &Path, history: &Path, summary: &[PriceSummary]) -> Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut md = String::from("# hcp run\n\n");
    md.push_str(&format!("History: `{}`\n\n", history.display()));
    md.push_str(
        "| market | node | hours | first | last | mean RTM $/MWh | min | max | negative h | spike h (>100) |\n",
    );
    md.push_str("|---|---|---:|---|---|---:|---:|---:|---:|---:|\n");
    for s in summary {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {} |\n",
            s.market,
            s.node,
            s.hours,
            s.first,
            s.last,
            s.mean_rtm,
            s.min_rtm,
            s.max_rtm,
            s.negative_hours,
            s.spike_hours
        ));
    }
    let path = out.join("report.md");
    let tmp = out.join(".report.md.tmp");
    std::fs::write(&tmp, md).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn print_summary(summary: &[PriceSummary]) {
    println!(
        "{:<10} {:<12} {:>7} {:>9} {:>9} {:>9} {:>6} {:>6}",
        "market", "node", "hours", "mean", "min", "max", "neg", "spike"
    );
    for s in summary {
        println!(
            "{:<10} {:<12} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>6} {:>6}",
            s.market, s.node, s.hours, s.mean_rtm, s.min_rtm, s.max_rtm, s.negative_hours, s.spike_hours
        );
    }
}
