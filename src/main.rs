//! `hcp`: the one command-line entry point. Thin clap dispatch into the library crates.

mod backtest_cmd;
mod evaluate_cmd;
mod exporter_cmd;
mod forecast_cmd;
mod ingest_cmd;
mod logging;
mod open_files;
#[cfg(feature = "otlp")]
mod otlp;
mod query_cmd;
mod run;
mod scheduler_cmd;
mod serve_cmd;
mod sim_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "hcp", version, about = "Decides how a power-capped compute site spends its electricity")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job: history -> train -> forecast -> backtest -> report, on a deterministic
    /// synthetic history when no --data is given.
    Run(run::RunArgs),
    /// Ingest real data files into canonical Parquet datasets.
    Ingest(ingest_cmd::IngestArgs),
    /// Simulate history (prices, Bitcoin network, jobs, telemetry) for a fleet, calibrate the
    /// simulators, or serve simulated miners on TCP.
    Sim(sim_cmd::SimArgs),
    /// Evaluate a model by its protocol (walk-forward by time) and write metrics.
    Evaluate(evaluate_cmd::EvaluateArgs),
    /// Train a model and write its artifact (weights, manifest with checksum).
    Train(evaluate_cmd::TrainArgs),
    /// Forecast with a trained model from a history dataset; writes the hive-partitioned
    /// forecast layout.
    Forecast(forecast_cmd::ForecastArgs),
    /// Run every scheduling policy through the simulators over real prices, against the
    /// perfect-foresight optimum; writes summary.json, decisions.parquet and report.md.
    Backtest(backtest_cmd::BacktestArgs),
    /// The live scheduler daemon: reads a site's telemetry, plans, switches through the
    /// miners' API and the GPU control API; journals every action; /health and /metrics.
    Scheduler(scheduler_cmd::SchedulerArgs),
    /// The prediction HTTP endpoint: forecasts, classification and schedule proposals (/v1),
    /// the Open Inference Protocol v2 (/v2), /metrics, /info and /openapi.json.
    Serve(serve_cmd::ServeArgs),
    /// Serve Prometheus metrics of the fleet's devices.
    Exporter(exporter_cmd::ExporterArgs),
    /// SQL (polars) over the Parquet hcp writes: print a table, or write CSV or Parquet.
    Query(query_cmd::QueryArgs),
    /// Print the canonical table schemas with their column descriptions.
    Schema {
        /// One table (prices, exogenous, btc_network, jobs, gpu_nodes, telemetry, forecasts,
        /// decisions); all when omitted.
        #[arg(value_parser = parse_table)]
        table: Option<hcp_datasets::Table>,
    },
}

/// Refuses a value given twice to a repeatable flag, naming the flag and the value: the work
/// would be done twice and its outputs collide (two forecasts of one key, a metric series twice).
fn given_once<T: Ord + std::fmt::Display>(flag: &str, values: impl IntoIterator<Item = T>) -> anyhow::Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for v in values {
        if seen.contains(&v) {
            anyhow::bail!("{flag} {v} is given twice");
        }
        seen.insert(v);
    }
    Ok(())
}

/// The same file or directory, however each was spelled (`./m` and `m`): its canonical path
/// where it exists, for [`given_once`].
fn same_place(path: &std::path::Path) -> String {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

/// A canonical table by name, for clap.
fn parse_table(name: &str) -> Result<hcp_datasets::Table, String> {
    hcp_datasets::Table::from_name(name).ok_or_else(|| {
        let names: Vec<_> = hcp_datasets::Table::ALL.iter().map(|t| t.name()).collect();
        format!("unknown table `{name}`; tables: {}", names.join(", "))
    })
}

fn print_schema(table: hcp_datasets::Table) {
    let keys: Vec<_> = table.partition_keys().iter().map(|k| k.key()).collect();
    println!("{table}  (partitioned by {}; key {})", keys.join(", "), table.key_columns().join(", "));
    for f in table.schema().fields() {
        let null = if f.is_nullable() { "null" } else { "" };
        let doc = f.metadata().get("description").map(String::as_str).unwrap_or_default();
        println!("  {:<28} {:<26} {:<4}  {doc}", f.name(), f.data_type().to_string(), null);
    }
    println!();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(&args.into()),
        Command::Ingest(args) => ingest_cmd::ingest(args),
        Command::Sim(args) => sim_cmd::sim(args),
        Command::Evaluate(args) => evaluate_cmd::evaluate_cmd(args),
        Command::Train(args) => evaluate_cmd::train_cmd(args),
        Command::Forecast(args) => forecast_cmd::forecast_cmd(args),
        Command::Exporter(args) => exporter_cmd::exporter_cmd(args),
        Command::Backtest(args) => backtest_cmd::backtest_cmd(args),
        Command::Scheduler(args) => scheduler_cmd::scheduler_cmd(args),
        Command::Serve(args) => serve_cmd::serve_cmd(args),
        Command::Query(args) => query_cmd::query_cmd(args),
        Command::Schema { table } => {
            match table {
                Some(t) => print_schema(t),
                None => hcp_datasets::Table::ALL.into_iter().for_each(print_schema),
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, outermost first, joined by `: ` as `{:#}` does, but without a
/// cause whose text the message before it already ends with (the libraries' I/O errors show
/// their source in their own message and also return it as their source).
fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out += ": ";
        }
        out += &text;
    }
    out
}

/// Default output directory of the main job.
fn default_out() -> PathBuf {
    PathBuf::from("out/run")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command lines of DESIGN.md's CLI contract ("keep the names and outputs stable"),
    /// with values for DIR, FILE and the like, and every optional flag given: each must parse.
    #[test]
    fn the_design_documents_command_lines_parse() {
        let contract = [
            "hcp run --data DIR --out DIR",
            "hcp ingest ercot A.csv.gz B.csv.gz --out DATASET_DIR",
            "hcp ingest epftoolbox PJM.csv.gz --out DATASET_DIR",
            "hcp ingest alibaba PODS.csv --out DATASET_DIR",
            "hcp ingest btc STATS.csv.gz --out DATASET_DIR",
            "hcp sim --fleet FLEET.toml --days 7 --seed 1 --out DATASET_DIR",
            "hcp train price --data DATASET_DIR --out MODEL_DIR --point HB_WEST",
            "hcp train demand --data DATASET_DIR --out MODEL_DIR",
            "hcp train classifier --data DATASET_DIR --out MODEL_DIR",
            "hcp evaluate price --format epftoolbox --input FILE --test-start 2015-01-01 --test-end 2016-12-26 --out DIR",
            "hcp evaluate price --format ercot --input FILE --point HB_WEST --test-start 2025-01-01 --test-end 2025-06-30 --out DIR",
            "hcp evaluate demand --input PODS.csv --test-start 6048000 --out DIR",
            "hcp evaluate classifier --input PODS.csv --test-start 6048000 --out DIR",
            "hcp forecast price --model MODEL_DIR --history DATASET_DIR --out FORECAST_DIR",
            "hcp forecast demand --model MODEL_DIR --history DATASET_DIR --out FORECAST_DIR",
            "hcp backtest --prices FILE --point HB_WEST --fleet FLEET.toml --from 2025-01-01 --to 2025-06-30 --out DIR",
            "hcp serve --models DIR --addr 127.0.0.1:8080",
            "hcp scheduler --fleet FLEET.toml --models DIR --clock real",
            "hcp scheduler --fleet FLEET.toml --models DIR --clock accelerated",
        ];
        for line in contract {
            if let Err(e) = Cli::try_parse_from(line.split(' ')) {
                panic!("`{line}` does not parse: {e}");
            }
        }
    }
}
