//! `hcp run`: the main job, end to end on one machine.
//!
//! Stages today: history (every real format found under `--data`, else the simulator run on the
//! built-in West Texas fleet: calibrated prices, Bitcoin network, jobs and telemetry) →
//! canonical Parquet → the real-time price forecaster trained per ERCOT node (measured on the
//! last days first) → its next-24-hour forecast in the hive layout → the week-ahead GPU-demand
//! forecaster on the jobs, likewise → a week's backtest of every scheduling policy on the
//! joint-problem fleet (`fleets/hb-west-joint.toml`): on the synthetic market after the
//! simulated history, or on the last whole week of the real ERCOT file → report.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use hcp_datasets::Table;
use hcp_datasets::ingest::{Format, IngestOptions, ingest};
use hcp_sim::fleet::FleetConfig;
use hcp_sim::history::{HistoryConfig, WEST_TEXAS_FLEET, write_history};
use hcp_training::demand_model::{
    DemandSource, ForecastDemandConfig, TrainDemandConfig, forecast_demand, train_demand,
};
use hcp_training::price_model::{ForecastPriceConfig, HoldoutForecasts, TrainPriceConfig, forecast_price, train_price};
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
    /// Days of synthetic history (the price forecaster needs 51: 8 of lags, 28 of training,
    /// 14 held out, 1 to forecast; at most 3,650).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(0..=crate::sim_cmd::MAX_SIM_DAYS))]
    days: u32,
    /// ERCOT nodes whose real-time price forecaster the run trains (those in the history).
    #[arg(long = "node", default_values_t = ["HB_WEST".to_string(), "LZ_WEST".to_string()])]
    nodes: Vec<String>,
}

/// What one run of the main job does.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub data: Option<PathBuf>,
    pub out: PathBuf,
    pub seed: u64,
    pub days: u32,
    pub nodes: Vec<String>,
}

impl From<RunArgs> for RunConfig {
    fn from(a: RunArgs) -> Self {
        RunConfig { data: a.data, out: a.out, seed: a.seed, days: a.days, nodes: a.nodes }
    }
}

/// Holdout of the forecasters trained by the run, days.
const HOLDOUT_DAYS: usize = 14;

/// The jobs whose demand the run forecasts on real data.
const REAL_DEMAND_SOURCE: &str = "alibaba_v2023_default";

/// The run's GPU-demand forecaster and its forecast.
#[derive(Debug)]
struct DemandRun {
    model_dir: PathBuf,
    mae: f64,
    weekly_naive_mae: f64,
    file: PathBuf,
}

/// Trains the week-ahead GPU-demand forecaster on the history's jobs (GPUs held) and forecasts
/// the week after it; skipped with a note when the history has too few hours of jobs.
fn demand_forecast(cfg: &RunConfig, history: &Path, tables: &[(Table, u64)]) -> Result<Option<DemandRun>> {
    if !tables.iter().any(|(t, rows)| *t == Table::Jobs && *rows > 0) {
        println!("[2/4] demand: no jobs in the history, no forecaster");
        return Ok(None);
    }
    let model_dir = cfg.out.join("models").join("demand-gpus_held");
    // Ingested traces are separate clusters: the run forecasts the v2023 pods' demand. A
    // simulated history is one fleet's: all its jobs.
    let job_source = cfg.data.as_ref().map(|_| REAL_DEMAND_SOURCE.to_string());
    let source = DemandSource::Dataset { dir: history.to_path_buf(), job_source };
    let mut train = TrainDemandConfig::new(source.clone(), model_dir.clone());
    train.holdout_days = HOLDOUT_DAYS;
    let manifest = match train_demand(&train) {
        Ok(m) => m,
        Err(e) => {
            println!("[2/4] demand: no forecaster ({e})");
            return Ok(None);
        }
    };
    let mae = |m: &str| manifest.validation[m]["mae"].as_f64().unwrap_or(f64::NAN);
    let fc = ForecastDemandConfig {
        model: model_dir.clone(),
        history: source,
        out: cfg.out.join("forecasts"),
        run_id: format!("run-{}", cfg.seed),
    };
    let written = forecast_demand(&fc).context("forecasting GPU demand")?;
    let run = DemandRun {
        model_dir,
        mae: mae("lear_demand"),
        weekly_naive_mae: mae("seasonal_naive_weekly"),
        file: written.first().map(|w| w.path.clone()).unwrap_or_default(),
    };
    println!(
        "[2/4] demand (GPUs held): lear_demand MAE {:.1} vs weekly naive {:.1} on the last {HOLDOUT_DAYS} days; next week -> {}",
        run.mae,
        run.weekly_naive_mae,
        run.file.display()
    );
    Ok(Some(run))
}

/// One node's trained forecaster and its forecast.
#[derive(Debug)]
struct NodeForecast {
    node: String,
    model_dir: PathBuf,
    holdout_mae: f64,
    dam_latest_mae: f64,
    horizons: usize,
    file: PathBuf,
}

/// The real files `hcp run --data DIR` ingests, by format, relative to DIR (the layout of
/// `../shared/data`). Files that are not there are skipped, and named on stdout.
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
    crate::given_once("--node", &cfg.nodes)?;
    if cfg.data.is_none() {
        check_synthetic(cfg)?;
    }
    let history = history(cfg)?;
    println!("[1/4] history: {}", history.display());
    let summary = price_summary(&history).context("summarising price history with polars")?;
    let mut tables = Vec::new();
    for table in Table::ALL {
        if let Some(rows) = row_count(&history, table).with_context(|| format!("counting `{table}`"))? {
            tables.push((table, rows));
        }
    }
    let forecasts = train_and_forecast(cfg, &history, &summary)?;
    let demand = demand_forecast(cfg, &history, &tables)?;
    let backtest = backtest(cfg)?;
    let mut report = write_report(&cfg.out, &history, &tables, &summary, &forecasts, demand.as_ref())?;
    if let Some(b) = &backtest {
        report = append_backtest(&report, b)?;
    }
    println!("[4/4] report:  {}", report.display());
    print_summary(&tables, &summary);
    Ok(())
}

/// What the synthetic default can answer, checked before it is simulated: enough days for the
/// price forecaster, and every `--node` one of the built-in fleet's.
fn check_synthetic(cfg: &RunConfig) -> Result<()> {
    let days = hcp_training::price_model::hours_needed(HOLDOUT_DAYS).div_ceil(24);
    if (cfg.days as usize) < days {
        bail!(
            "--days {}: the price forecaster needs at least {days} days of history (8 of lags, 28 of training, {HOLDOUT_DAYS} held out, 1 to forecast)",
            cfg.days
        );
    }
    let fleet = FleetConfig::parse(WEST_TEXAS_FLEET).context("the built-in fleet")?;
    let nodes = fleet.nodes();
    if let Some(node) = cfg.nodes.iter().find(|n| !nodes.contains(&n.as_str())) {
        bail!("--node {node}: the built-in fleet's sites are on {} (give --data for other nodes)", nodes.join(", "));
    }
    Ok(())
}

/// Trains the real-time price forecaster of each requested ERCOT node in the history and
/// forecasts its next 24 hours.
fn train_and_forecast(cfg: &RunConfig, history: &Path, summary: &[PriceSummary]) -> Result<Vec<NodeForecast>> {
    let mut trained = Vec::new();
    for node in &cfg.nodes {
        if !summary.iter().any(|s| s.market == "ERCOT" && &s.node == node) {
            let there: Vec<&str> = summary.iter().filter(|s| s.market == "ERCOT").map(|s| s.node.as_str()).collect();
            bail!("--node {node}: no ERCOT prices for it in {} (there are: {})", history.display(), there.join(", "));
        }
        let model_dir = cfg.out.join("models").join(format!("price-{node}"));
        let mut train = TrainPriceConfig::new(history.to_path_buf(), Some(node.clone()), model_dir.clone());
        train.holdout_days = HOLDOUT_DAYS;
        // One run id per node: a run id names the files it writes in each partition.
        train.holdout_forecasts =
            Some(HoldoutForecasts { out: cfg.out.join("evaluation"), run_id: format!("holdout-{}-{node}", cfg.seed) });
        let manifest = train_price(&train).with_context(|| format!("training the {node} price forecaster"))?;
        let mae = |m: &str| manifest.validation[m]["mae"].as_f64().unwrap_or(f64::NAN);
        println!(
            "[2/4] {node}: lear_rt MAE {:.2} vs day-ahead {:.2} on the last {HOLDOUT_DAYS} days",
            mae("lear_rt"),
            mae("dam_latest")
        );
        trained.push((node.clone(), model_dir, mae("lear_rt"), mae("dam_latest")));
    }
    if trained.is_empty() {
        return Ok(Vec::new());
    }
    let fc = ForecastPriceConfig {
        models: trained.iter().map(|t| t.1.clone()).collect(),
        history: history.to_path_buf(),
        out: cfg.out.join("forecasts"),
        run_id: format!("run-{}", cfg.seed),
        issue_us: None,
    };
    let (written, forecast) = forecast_price(&fc).context("forecasting prices")?;
    let file = written.first().map(|w| w.path.clone()).unwrap_or_default();
    println!("[2/4] forecasts -> {}", file.display());
    Ok(trained
        .into_iter()
        .zip(forecast)
        .map(|((node, model_dir, holdout_mae, dam_latest_mae), forecast)| NodeForecast {
            node,
            model_dir,
            holdout_mae,
            dam_latest_mae,
            horizons: forecast.horizons,
            file: file.clone(),
        })
        .collect())
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
                let (inputs, missing): (Vec<PathBuf>, Vec<PathBuf>) =
                    files.iter().map(|f| dir.join(f)).partition(|p| p.is_file());
                if !missing.is_empty() {
                    let names: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
                    println!("      {}: not found, skipped: {}", format.name(), names.join(", "));
                }
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

/// Days of the run's backtest.
const BACKTEST_DAYS: u32 = 7;

/// A week of every scheduling policy on the joint-problem fleet: after the simulated history
/// on the synthetic market, or over the last whole week of the real ERCOT file.
fn backtest(cfg: &RunConfig) -> Result<Option<hcp_scheduler::backtest::Summary>> {
    let fleet = FleetConfig::parse(hcp_scheduler::JOINT_FLEET).context("the built-in joint fleet")?;
    let out = cfg.out.join("backtest");
    let summary = match &cfg.data {
        None => crate::backtest_cmd::on_synthetic(fleet, cfg.days, BACKTEST_DAYS, cfg.seed, &out)?,
        Some(dir) => {
            let prices = dir.join(REAL_INPUTS[0].1[0]);
            if !prices.is_file() {
                println!("[3/4] backtest: no ERCOT price file under {}, none run", dir.display());
                return Ok(None);
            }
            let grid = hcp_training::realtime::read_ercot_point(&prices, "HB_WEST")?;
            // The backtest ends with the file's last whole day (UTC): a day the file stops
            // inside would be run on carried-forward prices for its missing hours.
            let end_us = grid.time(grid.len() - 1) + hcp_datasets::time::MICROS_PER_HOUR;
            let to = chrono::DateTime::from_timestamp_micros(end_us).context("end of the price file")?.date_naive();
            let backtest = crate::backtest_cmd::FileBacktest {
                prices,
                point: "HB_WEST".into(),
                fleet,
                from: to - chrono::Days::new(u64::from(BACKTEST_DAYS)),
                to,
                out: out.clone(),
                seed: cfg.seed,
                model: None,
                horizon_hours: 24,
                classifier: None,
            };
            crate::backtest_cmd::on_price_file(&backtest, grid)?
        }
    };
    let best = summary.policies.iter().max_by(|a, b| a.profit_usd.total_cmp(&b.profit_usd)).expect("policies");
    println!(
        "[3/4] backtest: {} days of fleets/hb-west-joint.toml; best {} at {:.2}% of the perfect-foresight optimum -> {}",
        summary.days,
        best.policy,
        best.percent_of_optimum,
        out.display()
    );
    Ok(Some(summary))
}

fn append_backtest(report: &Path, b: &hcp_scheduler::backtest::Summary) -> Result<PathBuf> {
    let mut md = std::fs::read_to_string(report).with_context(|| format!("reading {}", report.display()))?;
    md.push('\n');
    md.push_str(&b.markdown().replacen("# Backtest", "## Backtest", 1));
    hcp_datasets::writer::write_bytes_atomically(report, md.as_bytes())?;
    Ok(report.to_path_buf())
}

fn write_report(
    out: &Path,
    history: &Path,
    tables: &[(Table, u64)],
    summary: &[PriceSummary],
    forecasts: &[NodeForecast],
    demand: Option<&DemandRun>,
) -> Result<PathBuf> {
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
    if !forecasts.is_empty() {
        md.push_str(&format!(
            "\nReal-time price forecaster (`lear_rt`), trained on all but the last {HOLDOUT_DAYS} days, measured on them \
             (MAE over horizons 1-24 h, USD/MWh), then refitted on everything; its next-24-hour forecast:\n\n\
             | node | lear_rt MAE | latest day-ahead price MAE | horizons forecast | model | forecast file |\n|---|---:|---:|---:|---|---|\n"
        ));
        for f in forecasts {
            md.push_str(&format!(
                "| {} | {:.2} | {:.2} | {} | `{}` | `{}` |\n",
                f.node,
                f.holdout_mae,
                f.dam_latest_mae,
                f.horizons,
                f.model_dir.display(),
                f.file.display()
            ));
        }
    }
    if let Some(d) = demand {
        md.push_str(&format!(
            "\nGPU demand (GPUs held by jobs) a week ahead (`lear_demand`), measured on daily issues in the last \
             {HOLDOUT_DAYS} days: MAE {:.1} against {:.1} for the weekly seasonal naive; model `{}`, forecast `{}`.\n",
            d.mae,
            d.weekly_naive_mae,
            d.model_dir.display(),
            d.file.display()
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
