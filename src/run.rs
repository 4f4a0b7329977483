//! `hcp run`: the main job, end to end on one machine.
//!
//! Stages today: history (every real format found under `--data`, else the simulator run on the
//! built-in West Texas fleet: calibrated prices, Bitcoin network, jobs and telemetry) →
//! canonical Parquet → report. Training, forecasting and the backtest join here as they land.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use hcp_datasets::Table;
use hcp_datasets::ingest::{Format, IngestOptions, ingest};
use hcp_sim::fleet::FleetConfig;
use hcp_sim::history::{HistoryConfig, WEST_TEXAS_FLEET, write_history};
use hcp_training::{PriceSummary, price_summary, row_count};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Real data: a directory laid out like ../shared/data (every format found there is
    /// ingested), or a canonical dataset directory that already holds `prices/`.
    #[arg(long, env = "HCP_DATA")]
    data: Option<PathBuf>,
    /// Where the run writes its datasets and report.
    #[arg(long, default_value_os_t = crate::default_out())]
    out: PathBuf,
    /// Seed of the synthetic history.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Days of synthetic history.
    #[arg(long, default_value_t = 14)]
    days: u32,
}

/// What one run of the main job does.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub data: Option<PathBuf>,
    pub out: PathBuf,
    pub seed: u64,
    pub days: u32,
}

impl From<RunArgs> for RunConfig {
    fn from(a: RunArgs) -> Self {
        RunConfig { data: a.data, out: a.out, seed: a.seed, days: a.days }
    }
}

/// The real files `hcp run --data DIR` ingests, by format, relative to DIR (the layout of
/// `../shared/data`). Files that are not there are skipped.
const REAL_INPUTS: [(Format, &[&str]); 4] = [
    (Format::Ercot, &["ercot/ercot_dam_rtm_hourly_15sp.csv.gz", "ercot/ercot_system_hourly_exog.csv.gz"]),
    (Format::Epftoolbox, &["epftoolbox/NP.csv.gz", "epftoolbox/PJM.csv.gz", "epftoolbox/DE.csv.gz"]),
    (
        Format::Alibaba,
        &[
            "alibaba/v2023/openb_pod_list_default.csv",
            "alibaba/v2023/openb_node_list_all_node.csv",
            "alibaba/v2025/disaggregated_DLRM_trace.csv.gz",
            "alibaba/v2026-GenAI/pod_gpu_duty_cycle_anon.tar.gz",
            "alibaba/v2026-GenAI/pod_gpu_memory_used_bytes_anon.tar.gz",
        ],
    ),
    (
        Format::Btc,
        &[
            "btc/tullio_2017_2019/networkstats.csv",
            "btc/blockchain_com_2009_2022/bitcoin-1year-miners-revenue.csv",
            "btc/blockchain_com_2009_2022/bitcoin-1year-miner-difficulty.csv",
            "btc/blockchain_com_2009_2022/bitcoin-all-time-hash-rate.csv",
            "btc/blockchain_com_2009_2022/bitcoin-all-time-market-price.csv",
            "btc/block_stats_fragments/block_stats_selected_ranges.csv.gz",
        ],
    ),
];

pub fn run(cfg: &RunConfig) -> Result<()> {
    let history = history(cfg)?;
    println!("[1/2] history: {}", history.display());
    let summary = price_summary(&history).context("summarising price history with polars")?;
    let mut tables = Vec::new();
    for table in Table::ALL {
        if let Some(rows) = row_count(&history, table).with_context(|| format!("counting `{table}`"))? {
            tables.push((table, rows));
        }
    }
    let report = write_report(&cfg.out, &history, &tables, &summary)?;
    println!("[2/2] report:  {}", report.display());
    print_summary(&tables, &summary);
    Ok(())
}

/// Produces the canonical dataset the rest of the run reads, and returns its directory.
fn history(cfg: &RunConfig) -> Result<PathBuf> {
    let dataset = cfg.out.join("history");
    match &cfg.data {
        None => {
            let fleet = FleetConfig::parse(WEST_TEXAS_FLEET).context("the built-in fleet")?;
            let sim = HistoryConfig { fleet, days: cfg.days, seed: cfg.seed, out: dataset.clone() };
            let report = write_history(&sim, &mut |_, _| {}).context("simulating the built-in fleet")?;
            println!(
                "      simulated {} days of fleets/west-texas.toml: {} device-steps, {} jobs",
                cfg.days, report.counters.device_steps, report.counters.jobs_arrived
            );
            Ok(dataset)
        }
        Some(dir) if dir.join(Table::Prices.name()).is_dir() => Ok(dir.clone()),
        Some(dir) => {
            let mut any = false;
            for (format, files) in REAL_INPUTS {
                let inputs: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).filter(|p| p.is_file()).collect();
                if inputs.is_empty() {
                    continue;
                }
                any |= format == Format::Ercot;
                let report = ingest(format, &inputs, &IngestOptions::new(&dataset))
                    .with_context(|| format!("ingesting {} from {}", format.name(), dir.display()))?;
                crate::ingest_cmd::print_report(&report, 5);
            }
            if !any {
                bail!(
                    "{}: neither a dataset (no prices/) nor a data directory (no ercot/ercot_dam_rtm_hourly_15sp.csv.gz)",
                    dir.display()
                );
            }
            Ok(dataset)
        }
    }
}

fn write_report(out: &Path, history: &Path, tables: &[(Table, u64)], summary: &[PriceSummary]) -> Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut md = String::from("# hcp run\n\n");
    md.push_str(&format!("History: `{}`\n\n| table | rows |\n|---|---:|\n", history.display()));
    for (table, rows) in tables {
        md.push_str(&format!("| {table} | {rows} |\n"));
    }
    md.push_str("\nRealised price per node: real-time where the market has one, else day-ahead.\n\n");
    md.push_str(
        "| market | node | currency | hours | first | last | mean /MWh | min | max | negative h | h above 100 |\n",
    );
    md.push_str("|---|---|---|---:|---|---|---:|---:|---:|---:|---:|\n");
    for s in summary {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {} |\n",
            s.market,
            s.node,
            s.currency,
            s.hours,
            s.first,
            s.last,
            s.mean_price,
            s.min_price,
            s.max_price,
            s.negative_hours,
            s.spike_hours
        ));
    }
    let path = out.join("report.md");
    hcp_datasets::writer::write_bytes_atomically(&path, md.as_bytes())?;
    Ok(path)
}

fn print_summary(tables: &[(Table, u64)], summary: &[PriceSummary]) {
    for (table, rows) in tables {
        println!("{:<12} {rows:>9} rows", table.name());
    }
    println!(
        "{:<8} {:<12} {:<4} {:>7} {:>9} {:>9} {:>9} {:>6} {:>6}",
        "market", "node", "cur", "hours", "mean", "min", "max", "neg", ">100"
    );
    for s in summary {
        println!(
            "{:<8} {:<12} {:<4} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>6} {:>6}",
            s.market,
            s.node,
            s.currency,
            s.hours,
            s.mean_price,
            s.min_price,
            s.max_price,
            s.negative_hours,
            s.spike_hours
        );
    }
}
