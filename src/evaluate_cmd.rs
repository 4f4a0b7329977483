//! `hcp evaluate` and `hcp train`: evaluation protocols and artifact training.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use hcp_training::classifier::{EvaluateConfig, Grid, TrainConfig, evaluate, train};

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(subcommand)]
    what: EvaluateWhat,
}

#[derive(Debug, Subcommand)]
enum EvaluateWhat {
    /// The workload classifier on Alibaba v2023 pods: trains on pods created before
    /// --test-start, tests on the later ones; writes metrics.json and predictions.parquet.
    Classifier(EvaluateClassifierArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GridArg {
    Small,
    Full,
}

impl From<GridArg> for Grid {
    fn from(g: GridArg) -> Grid {
        match g {
            GridArg::Small => Grid::Small,
            GridArg::Full => Grid::Full,
        }
    }
}

#[derive(Debug, Args)]
struct EvaluateClassifierArgs {
    /// Pod list with times (openb_pod_list_default.csv).
    #[arg(long = "input", required = true)]
    inputs: Vec<PathBuf>,
    /// Seconds from the trace start where the test period begins.
    #[arg(long)]
    test_start: i64,
    /// Seconds from the trace start where the test period ends (default: the end).
    #[arg(long)]
    test_end: Option<i64>,
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    search: SearchArgs,
}

/// How model selection searches.
#[derive(Debug, Args)]
struct SearchArgs {
    /// Model-selection search: `full` (default) or `small` (quick).
    #[arg(long, value_enum, default_value = "full")]
    grid: GridArg,
    /// Seed of the forests' bootstraps and the class-balancing resamples.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(subcommand)]
    what: TrainWhat,
}

#[derive(Debug, Subcommand)]
enum TrainWhat {
    /// The workload classifier on every pod given; writes model.json and manifest.json.
    Classifier(TrainClassifierArgs),
}

#[derive(Debug, Args)]
struct TrainClassifierArgs {
    /// Pod list(s) with times (openb_pod_list_default.csv).
    #[arg(long = "input", required = true)]
    inputs: Vec<PathBuf>,
    /// Artifact directory.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    search: SearchArgs,
}

pub fn evaluate_cmd(args: EvaluateArgs) -> Result<()> {
    match args.what {
        EvaluateWhat::Classifier(a) => {
            let cfg = EvaluateConfig {
                inputs: a.inputs,
                test_start_s: a.test_start,
                test_end_s: a.test_end,
                out: a.out,
                grid: a.search.grid.into(),
                seed: a.search.seed,
            };
            let started = std::time::Instant::now();
            let report = evaluate(&cfg).context("evaluating the workload classifier")?;
            println!(
                "{} training pods, {} test pods (test from {} s); {:.1} s",
                report.train_pods,
                report.test_pods,
                report.test_start_s,
                started.elapsed().as_secs_f64()
            );
            println!("{:<9} {:<52} {:>9} {:>9}", "task", "model (test set)", "macro-F1", "accuracy");
            for t in &report.tasks {
                for (name, m) in &t.test {
                    println!("{:<9} {:<52} {:>9.4} {:>9.4}", t.task_name(), name, m.macro_f1, m.accuracy);
                }
            }
            println!("-> {}", cfg.out.display());
            Ok(())
        }
    }
}

pub fn train_cmd(args: TrainArgs) -> Result<()> {
    match args.what {
        TrainWhat::Classifier(a) => {
            let cfg = TrainConfig { inputs: a.inputs, out: a.out, grid: a.search.grid.into(), seed: a.search.seed };
            let manifest = train(&cfg).context("training the workload classifier")?;
            println!("{}", serde_json::to_string_pretty(&manifest.validation)?);
            println!("model sha256 {} -> {}", manifest.model_sha256, cfg.out.display());
            Ok(())
        }
    }
}
