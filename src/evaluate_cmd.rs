//! `hcp evaluate` and `hcp train`: evaluation protocols and artifact training.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};
use hcp_models::forecast::Trend;
use hcp_models::forecast::lasso::Selection;
use hcp_training::classifier::{EvaluateConfig, Grid, PodSource, TrainConfig, evaluate, train};
use hcp_training::day_ahead::{DEFAULT_ENSEMBLE_WEIGHT, DayAheadConfig, DnnWalk, MemberOrigins, evaluate_day_ahead};
use hcp_training::demand::{DemandConfig, evaluate_demand};
use hcp_training::demand_model::{DemandSource, TrainDemandConfig, train_demand, train_demand_lstm};
use hcp_training::lstm::day_ahead::{Augment, DnnConfig, FinetuneScalers, PriceOrigin, ValidSplit};
use hcp_training::price_model::{TrainPriceConfig, train_price, train_price_lstm};
use hcp_training::realtime::{RealTimeConfig, evaluate_real_time};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(subcommand)]
    what: EvaluateWhat,
}

#[derive(Debug, Subcommand)]
enum EvaluateWhat {
    /// The workload classifier on Alibaba v2023 pods: trains on pods created before
    /// --test-start, tests on the later ones; writes metrics.json, predictions.parquet and report.md.
    Classifier(EvaluateClassifierArgs),
    /// Price forecasters, walk-forward over a test period: writes forecasts.parquet (every
    /// model, mean and 0.1/0.5/0.9 quantiles), metrics.json and report.md.
    Price(Box<EvaluatePriceArgs>),
    /// GPU demand a week ahead, issued daily: the v2023 pod list (GPUs held by live pods, GPUs
    /// arriving) or the spot trace's spot_hourly.csv; writes forecasts.parquet, metrics.json and
    /// report.md.
    Demand(EvaluateDemandArgs),
}

#[derive(Debug, Args)]
struct EvaluateDemandArgs {
    /// openb_pod_list_default.csv (v2023) or spot_hourly.csv (v2026 spot trace).
    #[arg(long)]
    input: PathBuf,
    /// Seconds from the trace start where the test begins (spot_hourly: hour × 3600).
    #[arg(long, value_parser = trace_seconds)]
    test_start: i64,
    #[arg(long, value_parser = trace_seconds)]
    test_end: Option<i64>,
    /// Which series of the file: gpus_held or gpus_arriving (pods), gpus_requested_active or
    /// gpus_submitted (spot_hourly); the first by default.
    #[arg(long)]
    series: Option<String>,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_parser = days, default_value_t = 7)]
    recalibrate_every: usize,
    #[arg(long, value_parser = days, default_value_t = 28)]
    band_days: usize,
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    lstm: LstmArgs,
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PriceFormat {
    /// The open day-ahead benchmark's CSV (NP, PJM, DE): day D from prices to D-1.
    Epftoolbox,
    /// ERCOT hourly DAM/RTM prices: real-time price 1..24 h ahead, issued every hour.
    Ercot,
}

#[derive(Debug, Args)]
struct EvaluatePriceArgs {
    #[arg(long, value_enum)]
    format: PriceFormat,
    /// The price file (CSV, optionally gzipped).
    #[arg(long)]
    input: PathBuf,
    /// Settlement point (ERCOT), e.g. HB_WEST.
    #[arg(long)]
    point: Option<String>,
    /// First test day, YYYY-MM-DD.
    #[arg(long)]
    test_start: NaiveDate,
    /// Last test day, YYYY-MM-DD, inclusive (default: the end of the data).
    #[arg(long)]
    test_end: Option<NaiveDate>,
    #[arg(long)]
    out: PathBuf,
    /// Days between recalibrations of the fitted models (default: 1 for epftoolbox, the
    /// benchmark's; 7 for ercot).
    #[arg(long, value_parser = days)]
    recalibrate_every: Option<usize>,
    /// LEAR calibration windows in days (epftoolbox only; the benchmark's four by default:
    /// 56,84,1092,1456).
    #[arg(long, value_parser = days, value_delimiter = ',')]
    windows: Option<Vec<usize>>,
    /// What LEAR's prices are measured from, one model per window and trend (epftoolbox only):
    /// `none` (the benchmark's LEAR) and `hp:LAMBDA` (the prices less the Hodrick-Prescott trend
    /// of the window's daily means, smoothing LAMBDA per day²); default: none.
    #[arg(long, value_delimiter = ',', value_parser = parse_trend)]
    lear_trends: Option<Vec<Trend>>,
    /// Whether days D, D-1 and D-7 are public holidays, as inputs of LEAR and the perceptron
    /// (epftoolbox only; the market's calendar: NERC's for PJM, Norway's for NP, Germany's for
    /// DE). Off by default: on the validation periods it changed neither LEAR nor, on the
    /// mean, the ensemble for the better.
    #[arg(long)]
    holidays: bool,
    /// How each LEAR lasso's penalty is chosen (epftoolbox only): `epftoolbox`, as the
    /// benchmark's published code did: the criterion's (AIC's) penalty on the inputs
    /// normalised, applied to them as they are; or `aic`, by the criterion on the inputs as
    /// they are; default: epftoolbox.
    #[arg(long, value_parser = parse_selection)]
    lear_penalty: Option<Selection>,
    /// Days of each model's own past errors behind its quantiles (default: 91 for epftoolbox,
    /// 28 for ercot).
    #[arg(long, value_parser = days)]
    band_days: Option<usize>,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    lstm: LstmArgs,
    /// With --lstm: at each recalibration after the first, fine-tune lstm_rt from its last
    /// weights for at most this many epochs on everything before it (0: trained once).
    #[arg(long, requires = "lstm", default_value_t = 0)]
    lstm_finetune_epochs: usize,
    #[command(flatten)]
    dnn: DnnArgs,
    #[arg(long)]
    quiet: bool,
}

/// The day-ahead perceptron (epftoolbox only): networks over LEAR's inputs, fitted at the
/// walk's start and fine-tuned every --dnn-every days, scored as `dnn` (their mean) and
/// `ensemble_lear_dnn` (their weighted mean with `lear`).
#[derive(Debug, Args)]
struct DnnArgs {
    /// Score the day-ahead perceptron and its ensemble with LEAR beside the others.
    #[arg(long)]
    dnn: bool,
    /// Networks averaged (seeds --dnn-seed, +1, ...).
    #[arg(long, requires = "dnn", default_value_t = 4)]
    dnn_members: usize,
    /// Days between fine-tunes.
    #[arg(long, value_parser = days, requires = "dnn", default_value_t = 7)]
    dnn_every: usize,
    /// Hidden layer widths.
    #[arg(long, requires = "dnn", value_delimiter = ',', default_value = "128,64")]
    dnn_hidden: Vec<usize>,
    /// Days before each fit's day it calibrates on (the last --dnn-valid-days validate).
    #[arg(long, value_parser = days, requires = "dnn", default_value_t = 1456)]
    dnn_window: usize,
    #[arg(long, value_parser = days, requires = "dnn", default_value_t = 21)]
    dnn_valid_days: usize,
    /// Which days validate: last (the window's last, by time) or random (drawn by the seed from
    /// the whole window, so the newest days train too).
    #[arg(long, requires = "dnn", default_value = "last")]
    dnn_valid: ValidSplit,
    #[arg(long, requires = "dnn", default_value_t = 32)]
    dnn_batch: usize,
    #[arg(long, requires = "dnn", default_value_t = 1e-3)]
    dnn_learning_rate: f64,
    /// Most epochs of the first fit (default: 20, or 200 with --dnn-augment none: an augmented
    /// epoch is 24 rows a day); a fit stops after --dnn-patience epochs without a better
    /// validation loss.
    #[arg(long, requires = "dnn")]
    dnn_epochs: Option<usize>,
    /// Most epochs of each fine-tune (default: 3, or 30 with --dnn-augment none).
    #[arg(long, requires = "dnn")]
    dnn_finetune_epochs: Option<usize>,
    /// A fine-tune's scalers: refit (on its own training days, as LEAR's are) or keep (the first
    /// fit's).
    #[arg(long, requires = "dnn", default_value = "refit")]
    dnn_finetune_scalers: FinetuneScalers,
    /// Epochs without a better validation loss before a fit stops (default: 3, or 20 with
    /// --dnn-augment none).
    #[arg(long, requires = "dnn")]
    dnn_patience: Option<usize>,
    /// Share of hidden units dropped in training.
    #[arg(long, requires = "dnn", default_value_t = 0.0)]
    dnn_dropout: f64,
    /// L2 penalty on the weights (through Adam).
    #[arg(long, requires = "dnn", default_value_t = 0.0)]
    dnn_weight_decay: f64,
    /// What the members' prices are measured from: zero (as scaled), last-day (the mean of day
    /// D-1's scaled prices, subtracted from the lagged prices and the targets and added back), or
    /// alternate (last-day in members 0, 2, ..., zero in the others).
    #[arg(long, requires = "dnn", default_value = "alternate")]
    dnn_origin: MemberOrigins,
    /// The rows each network learns from: hourly (the 24 hours from each start hour of every
    /// training day, 24 rows a day: the benchmark DNN's data augmentation) or none (each day from
    /// midnight only).
    #[arg(long, requires = "dnn", default_value = "hourly")]
    dnn_augment: Augment,
    #[arg(long, requires = "dnn", default_value_t = 7)]
    dnn_seed: u64,
    /// dnn's weight in ensemble_lear_dnn (lear's is 1 minus it).
    #[arg(long, requires = "dnn", default_value_t = DEFAULT_ENSEMBLE_WEIGHT)]
    dnn_ensemble_weight: f64,
}

impl DnnArgs {
    fn walk(&self) -> Option<DnnWalk> {
        let defaults = DnnConfig::with_augment(self.dnn_augment);
        self.dnn.then(|| DnnWalk {
            config: DnnConfig {
                hidden: self.dnn_hidden.clone(),
                window_days: self.dnn_window,
                valid_days: self.dnn_valid_days,
                valid_split: self.dnn_valid,
                batch: self.dnn_batch,
                learning_rate: self.dnn_learning_rate,
                max_epochs: self.dnn_epochs.unwrap_or(defaults.max_epochs),
                finetune_epochs: self.dnn_finetune_epochs.unwrap_or(defaults.finetune_epochs),
                finetune_scalers: self.dnn_finetune_scalers,
                patience: self.dnn_patience.unwrap_or(defaults.patience),
                dropout: self.dnn_dropout,
                weight_decay: self.dnn_weight_decay,
                origin: PriceOrigin::Zero,
                augment: self.dnn_augment,
                seed: self.dnn_seed,
            },
            members: self.dnn_members,
            every: self.dnn_every,
            origins: self.dnn_origin,
            ensemble_weight: self.dnn_ensemble_weight,
        })
    }
}

/// The LSTM forecaster (`lstm_rt` for prices, `lstm_demand` for GPU demand; burn on the CPU or a
/// GPU): trained on the hours before the test walk (prices: ercot only), scored beside the
/// baselines, with a LEAR + LSTM ensemble.
#[derive(Debug, Args)]
pub struct LstmArgs {
    /// The LSTM: `evaluate price|demand` trains and scores lstm_rt|lstm_demand and
    /// ensemble_lear_lstm beside the others; `train price|demand` trains the LSTM
    /// (model.safetensors) instead of the LEAR model.
    #[arg(long)]
    lstm: bool,
    /// Hours of history per issue.
    #[arg(long, requires = "lstm", default_value_t = 168)]
    lstm_window: usize,
    #[arg(long, requires = "lstm", default_value_t = 64)]
    lstm_hidden: usize,
    #[arg(long, requires = "lstm", default_value_t = 1)]
    lstm_layers: usize,
    #[arg(long, requires = "lstm", default_value_t = 64)]
    lstm_batch: usize,
    #[arg(long, requires = "lstm", default_value_t = 1e-3)]
    lstm_learning_rate: f64,
    /// Most epochs; training stops earlier after --lstm-patience epochs without a better
    /// validation loss (the last --lstm-valid-days of the training range).
    #[arg(long, requires = "lstm", default_value_t = 30)]
    lstm_epochs: usize,
    #[arg(long, requires = "lstm", default_value_t = 4)]
    lstm_patience: usize,
    #[arg(long, value_parser = days, requires = "lstm", default_value_t = 28)]
    lstm_valid_days: usize,
    /// Days of history to train on (default: all before the walk).
    #[arg(long, value_parser = days, requires = "lstm")]
    lstm_train_days: Option<usize>,
    #[arg(long, requires = "lstm", default_value_t = 7)]
    lstm_seed: u64,
    /// Threads each LSTM layer spreads a batch over (the trained weights do not depend on it).
    #[arg(long, requires = "lstm", default_value_t = 1)]
    lstm_threads: usize,
    /// Where the LSTM trains: cpu; gpu (the adapter wgpu prefers) or gpu:N (the N-th discrete
    /// GPU), through burn's CubeCL backend on wgpu, in hcp built with `--features gpu`.
    #[arg(long, requires = "lstm", default_value = "cpu")]
    lstm_device: hcp_training::lstm::TrainDevice,
}

impl LstmArgs {
    pub fn config(&self) -> Option<hcp_training::lstm::LstmConfig> {
        self.lstm.then(|| hcp_training::lstm::LstmConfig {
            window: self.lstm_window,
            hidden: self.lstm_hidden,
            layers: self.lstm_layers,
            batch: self.lstm_batch,
            learning_rate: self.lstm_learning_rate,
            max_epochs: self.lstm_epochs,
            patience: self.lstm_patience,
            valid_days: self.lstm_valid_days,
            train_days: self.lstm_train_days,
            seed: self.lstm_seed,
            threads: self.lstm_threads,
            device: self.lstm_device,
            ..Default::default()
        })
    }
}

/// An indicatif bar over the LSTM's training: epoch, batch and losses (hidden with `quiet`).
pub fn lstm_bar(model: &'static str, quiet: bool) -> (ProgressBar, impl FnMut(&hcp_training::lstm::Progress)) {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template(&format!("{model} {{bar:30}} {{pos}}/{{len}} {{msg}} [{{elapsed_precise}}]"))
            .expect("valid template"),
    );
    let handle = bar.clone();
    let update = move |p: &hcp_training::lstm::Progress| {
        handle.set_length((p.batches * p.max_epochs) as u64);
        handle.set_position(((p.epoch - 1) * p.batches + p.batch) as u64);
        match p.valid_loss {
            Some(v) => handle
                .println(format!("{model} epoch {}: train loss {:.4}, validation loss {v:.4}", p.epoch, p.train_loss)),
            None => handle.set_message(format!("epoch {} loss {:.4}", p.epoch, p.train_loss)),
        }
    };
    (bar, update)
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
    #[arg(long, value_parser = trace_seconds)]
    test_start: i64,
    /// Seconds from the trace start where the test period ends (default: the end).
    #[arg(long, value_parser = trace_seconds)]
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
    /// The real-time price forecaster (lear_rt) of one node, from a dataset's prices table
    /// (hcp ingest ercot or hcp sim); writes model.json and manifest.json.
    Price(TrainPriceArgs),
    /// The week-ahead GPU-demand forecaster from a dataset's jobs or a trace file: lear_demand
    /// (model.json), or with --lstm lstm_demand (model.safetensors); and manifest.json.
    Demand(TrainDemandArgs),
}

/// Where a demand series comes from: exactly one of a dataset or a trace file.
#[derive(Debug, Args)]
pub struct DemandSourceArgs {
    /// Dataset directory with a `jobs` table (hcp ingest alibaba, hcp sim); `--history`, as
    /// `hcp forecast price` names its dataset, is the same flag.
    #[arg(long, visible_alias = "history", conflicts_with = "input", required_unless_present = "input")]
    data: Option<PathBuf>,
    /// openb_pod_list_default.csv (v2023) or spot_hourly.csv (v2026 spot trace).
    #[arg(long)]
    input: Option<PathBuf>,
    /// With --data: only the jobs of this source (e.g. alibaba_v2023_default); all by default.
    #[arg(long)]
    job_source: Option<String>,
}

impl DemandSourceArgs {
    pub fn source(self) -> Result<DemandSource> {
        match (self.data, self.input) {
            (Some(dir), _) => Ok(DemandSource::Dataset { dir, job_source: self.job_source }),
            (None, Some(_)) if self.job_source.is_some() => {
                anyhow::bail!("--job-source selects jobs of a --data dataset; a trace file has one source")
            }
            (None, Some(f)) => Ok(DemandSource::File(f)),
            (None, None) => unreachable!("clap requires --data unless --input is given"),
        }
    }
}

#[derive(Debug, Args)]
struct TrainDemandArgs {
    #[command(flatten)]
    source: DemandSourceArgs,
    /// gpus_held or gpus_arriving (jobs, pods), gpus_requested_active or gpus_submitted (spot).
    #[arg(long)]
    series: Option<String>,
    #[arg(long)]
    out: PathBuf,
    /// Last days held out to measure the model and size its band (at least 8; lear_demand:
    /// the LSTM's split is --lstm-valid-days, so --lstm refuses this flag).
    #[arg(long, value_parser = days, default_value_t = 21, conflicts_with = "lstm")]
    holdout_days: usize,
    #[command(flatten)]
    lstm: LstmArgs,
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct TrainPriceArgs {
    /// Dataset directory with a `prices` table.
    #[arg(long)]
    data: PathBuf,
    /// Settlement point, e.g. HB_WEST; may be left out when the dataset holds one node.
    #[arg(long)]
    point: Option<String>,
    #[arg(long)]
    out: PathBuf,
    /// Last days held out to measure the model and size its quantile band (lear_rt: the
    /// LSTM's split is --lstm-valid-days, so --lstm refuses this flag).
    #[arg(long, value_parser = days, default_value_t = 28, conflicts_with = "lstm")]
    holdout_days: usize,
    #[command(flatten)]
    lstm: LstmArgs,
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct TrainClassifierArgs {
    /// Pod list(s) with times (openb_pod_list_default.csv).
    #[arg(long = "input", conflicts_with = "data", required_unless_present = "data")]
    inputs: Vec<PathBuf>,
    /// A dataset directory whose `jobs` table holds the pods (hcp ingest alibaba).
    #[arg(long)]
    data: Option<PathBuf>,
    /// With --data: only the jobs of this source (e.g. alibaba_v2023_default).
    #[arg(long)]
    job_source: Option<String>,
    /// Artifact directory.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    search: SearchArgs,
}

pub fn evaluate_cmd(args: EvaluateArgs) -> Result<()> {
    match args.what {
        EvaluateWhat::Price(a) => evaluate_price(*a),
        EvaluateWhat::Demand(a) => evaluate_demand_cmd(a),
        EvaluateWhat::Classifier(a) => {
            crate::given_once("--input", a.inputs.iter().map(|i| crate::same_place(i)))?;
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
        TrainWhat::Demand(a) => {
            let mut cfg = TrainDemandConfig::new(a.source.source()?, a.out);
            cfg.series = a.series;
            cfg.holdout_days = a.holdout_days;
            let manifest = match a.lstm.config() {
                Some(lstm) => {
                    let (bar, mut progress) = lstm_bar("lstm_demand", a.quiet);
                    let m =
                        train_demand_lstm(&cfg, &lstm, &mut progress).context("training the LSTM demand forecaster");
                    bar.finish_and_clear();
                    m?
                }
                None => train_demand(&cfg).context("training the demand forecaster")?,
            };
            println!("{}", serde_json::to_string_pretty(&manifest.validation)?);
            println!("model sha256 {} -> {}", manifest.model_sha256, cfg.out.display());
            Ok(())
        }
        TrainWhat::Price(a) => {
            let mut cfg = TrainPriceConfig::new(a.data, a.point, a.out);
            cfg.holdout_days = a.holdout_days;
            let manifest = match a.lstm.config() {
                Some(lstm) => {
                    let (bar, mut progress) = lstm_bar("lstm_rt", a.quiet);
                    let m = train_price_lstm(&cfg, &lstm, &mut progress).context("training the LSTM price forecaster");
                    bar.finish_and_clear();
                    m?
                }
                None => train_price(&cfg).context("training the price forecaster")?,
            };
            println!("{}", serde_json::to_string_pretty(&manifest.validation)?);
            println!("model sha256 {} -> {}", manifest.model_sha256, cfg.out.display());
            Ok(())
        }
        TrainWhat::Classifier(a) => {
            let source = match (a.data, a.job_source) {
                (Some(dir), job_source) => PodSource::Dataset { dir, job_source },
                (None, Some(_)) => anyhow::bail!("--job-source selects jobs of a --data dataset"),
                (None, None) => {
                    crate::given_once("--input", a.inputs.iter().map(|i| crate::same_place(i)))?;
                    PodSource::Files(a.inputs)
                }
            };
            let cfg = TrainConfig { source, out: a.out, grid: a.search.grid.into(), seed: a.search.seed };
            let manifest = train(&cfg).context("training the workload classifier")?;
            println!("{}", serde_json::to_string_pretty(&manifest.validation)?);
            println!("model sha256 {} -> {}", manifest.model_sha256, cfg.out.display());
            Ok(())
        }
    }
}

fn days_since_epoch(date: NaiveDate) -> i64 {
    date.signed_duration_since(NaiveDate::default()).num_days()
}

fn progress_bar(quiet: bool, what: &str) -> ProgressBar {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}} [{{elapsed_precise}} < {{eta}}]"))
            .expect("valid template"),
    );
    bar
}

/// Runs `evaluate` with a progress bar of its recalibrations (hidden with `--quiet`).
fn with_progress<T>(quiet: bool, evaluate: impl FnOnce(&(dyn Fn(usize, usize) + Sync)) -> T) -> T {
    let bar = progress_bar(quiet, "recalibrations");
    let out = evaluate(&|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    out
}

fn evaluate_price(a: EvaluatePriceArgs) -> Result<()> {
    match a.format {
        PriceFormat::Epftoolbox => {
            anyhow::ensure!(
                !a.lstm.lstm,
                "--lstm runs with --format ercot (hourly issues of the real-time price); the day-ahead benchmark's neural model is --dnn"
            );
            anyhow::ensure!(
                a.point.is_none(),
                "--point names an ERCOT settlement point (--format ercot); an epftoolbox file has one market"
            );
            let mut cfg = DayAheadConfig::new(a.input, days_since_epoch(a.test_start), a.out);
            cfg.dnn = a.dnn.walk();
            cfg.test_end_day = a.test_end.map(days_since_epoch);
            if let Some(windows) = a.windows {
                cfg.windows = windows;
            }
            if let Some(trends) = a.lear_trends {
                cfg.trends = trends;
            }
            cfg.holidays = a.holidays;
            if let Some(selection) = a.lear_penalty {
                cfg.path.selection = selection;
            }
            cfg.recalibrate_every = a.recalibrate_every.unwrap_or(1);
            cfg.band_days = a.band_days.unwrap_or(91);
            if let Some(t) = a.threads {
                cfg.threads = t;
            }
            let report = with_progress(a.quiet, |progress| evaluate_day_ahead(&cfg, progress))
                .with_context(|| format!("evaluating day-ahead price forecasts on {}", cfg.input.display()))?;
            print!("{}", report.markdown());
            println!("-> {}", cfg.out.display());
            Ok(())
        }
        PriceFormat::Ercot => {
            anyhow::ensure!(
                !a.dnn.dnn,
                "--dnn is the day-ahead perceptron of --format epftoolbox; ercot's neural model is --lstm"
            );
            for (given, flag) in [
                (a.windows.is_some(), "--windows"),
                (a.lear_trends.is_some(), "--lear-trends"),
                (a.holidays, "--holidays"),
                (a.lear_penalty.is_some(), "--lear-penalty"),
            ] {
                anyhow::ensure!(
                    !given,
                    "{flag} sets the day-ahead LEAR of --format epftoolbox; ercot's lear_rt (a lasso per horizon and issue hour) calibrates on every earlier hour"
                );
            }
            let point = a.point.context("--format ercot needs --point (a settlement point such as HB_WEST)")?;
            let mut cfg = RealTimeConfig::new(a.input, point, a.test_start, a.out);
            cfg.test_end = a.test_end;
            cfg.recalibrate_every = a.recalibrate_every.unwrap_or(7);
            cfg.band_days = a.band_days.unwrap_or(28);
            if let Some(t) = a.threads {
                cfg.threads = t;
            }
            cfg.lstm = a.lstm.config();
            cfg.lstm_finetune_epochs = a.lstm_finetune_epochs;
            let (lstm_bar, mut lstm_progress) = lstm_bar("lstm_rt", a.quiet);
            let report = with_progress(a.quiet, |progress| evaluate_real_time(&cfg, progress, &mut lstm_progress))
                .with_context(|| format!("evaluating real-time price forecasts on {}", cfg.input.display()))?;
            lstm_bar.finish_and_clear();
            print!("{}", report.markdown());
            println!("-> {}", cfg.out.display());
            Ok(())
        }
    }
}

fn evaluate_demand_cmd(a: EvaluateDemandArgs) -> Result<()> {
    let mut cfg = DemandConfig::new(a.input, a.test_start, a.out);
    cfg.test_end_s = a.test_end;
    cfg.series = a.series;
    cfg.recalibrate_every = a.recalibrate_every;
    cfg.band_days = a.band_days;
    if let Some(t) = a.threads {
        cfg.threads = t;
    }
    cfg.lstm = a.lstm.config();
    let (lstm_bar, mut lstm_progress) = lstm_bar("lstm_demand", a.quiet || cfg.lstm.is_none());
    let report = with_progress(a.quiet, |progress| evaluate_demand(&cfg, progress, &mut lstm_progress))
        .with_context(|| format!("evaluating demand forecasts on {}", cfg.input.display()));
    lstm_bar.finish_and_clear();
    let report = report?;
    print!("{}", report.markdown());
    println!("-> {}", cfg.out.display());
    Ok(())
}

/// The most days a day count may name: a century, far past any data here, and small enough
/// that no walk's arithmetic in hours can overflow.
const MAX_DAYS: usize = 36_500;

/// A count of days, 0 to [`MAX_DAYS`] (which counts must be positive, the walks say).
fn days(word: &str) -> Result<usize, String> {
    let n: usize = word.parse().map_err(|e| format!("{word:?} is not a count of days: {e}"))?;
    match n <= MAX_DAYS {
        true => Ok(n),
        false => Err(format!("{n} days is more than {MAX_DAYS}")),
    }
}

/// Seconds from a trace's start, within a century either side of it: the walks count them in
/// microseconds, which a century leaves far from overflowing.
fn trace_seconds(word: &str) -> Result<i64, String> {
    const MAX_S: i64 = MAX_DAYS as i64 * 86_400;
    let s: i64 = word.parse().map_err(|e| format!("{word:?} is not a count of seconds: {e}"))?;
    match (-MAX_S..=MAX_S).contains(&s) {
        true => Ok(s),
        false => Err(format!("{s} s is more than a century ({MAX_S} s) from the trace's start")),
    }
}

fn parse_trend(word: &str) -> Result<Trend, String> {
    Trend::parse("--lear-trends", word).map_err(|e| e.to_string())
}

fn parse_selection(word: &str) -> Result<Selection, String> {
    Selection::parse(word).ok_or_else(|| format!("{word:?} is neither aic nor epftoolbox"))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};
    use hcp_models::forecast::lear::BENCHMARK_WINDOWS;
    use hcp_training::day_ahead::{DEFAULT_SELECTION, DEFAULT_TRENDS};

    use super::*;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        dnn: DnnArgs,
    }

    /// The `--dnn-*` defaults are written for `--help`; the library's `Default` is what the
    /// README's figures and the tests describe. They must be the same settings.
    #[test]
    fn dnn_flags_default_to_the_library_defaults() {
        assert_eq!(Probe::parse_from(["hcp", "--dnn"]).dnn.walk(), Some(DnnWalk::default()));
        assert_eq!(Probe::parse_from(["hcp"]).dnn.walk(), None);
        let walk = Probe::parse_from(["hcp", "--dnn", "--dnn-origin", "last-day"]).dnn.walk().unwrap();
        assert_eq!(walk.origins, MemberOrigins::LastDay);
        // Without augmentation the epochs default to the unaugmented fit's; a flag given wins.
        let walk = Probe::parse_from(["hcp", "--dnn", "--dnn-augment", "none"]).dnn.walk().unwrap();
        assert_eq!(walk.config, DnnConfig::with_augment(Augment::None));
        assert_eq!((walk.config.max_epochs, walk.config.finetune_epochs, walk.config.patience), (200, 30, 20));
        let walk = Probe::parse_from(["hcp", "--dnn", "--dnn-epochs", "7"]).dnn.walk().unwrap();
        assert_eq!((walk.config.max_epochs, walk.config.patience, walk.config.augment), (7, 3, Augment::Hourly));
        let refused = Probe::try_parse_from(["hcp", "--dnn", "--dnn-origin", "yesterday"]).err().unwrap().to_string();
        assert!(refused.contains("member origins \"yesterday\": expected zero, last-day or alternate"), "{refused}");
    }

    #[derive(Parser)]
    struct PriceProbe {
        #[command(flatten)]
        price: EvaluatePriceArgs,
    }

    fn price_args(format: &str, extra: &[&str]) -> Result<PriceProbe, clap::Error> {
        let mut a = vec!["hcp", "--format", format, "--input", "x", "--test-start", "2015-01-01", "--out", "o"];
        a.extend(extra);
        PriceProbe::try_parse_from(a)
    }

    /// Day counts past a century and trace offsets past a century either side are refused
    /// by flag before any walk multiplies them into hours or microseconds (where they
    /// overflowed: a panic in debug builds, a wrapped count in release ones).
    #[test]
    fn day_counts_and_trace_seconds_beyond_a_century_are_refused_by_flag() {
        let ok = price_args("ercot", &["--band-days", "36500", "--recalibrate-every", "0"]).unwrap();
        assert_eq!((ok.price.band_days, ok.price.recalibrate_every), (Some(36_500), Some(0)));
        for flag in ["--band-days", "--recalibrate-every", "--windows"] {
            let refused = price_args("epftoolbox", &[flag, "36501"]).err().unwrap().to_string();
            assert!(refused.contains(flag) && refused.contains("36501 days is more than 36500"), "{refused}");
        }
        #[derive(Parser)]
        struct ClassifierProbe {
            #[command(flatten)]
            classifier: EvaluateClassifierArgs,
        }
        let seconds = |start: &str| {
            ClassifierProbe::try_parse_from(["hcp", "--input", "x", "--out", "o", &format!("--test-start={start}")])
        };
        assert_eq!(seconds("-3153600000").unwrap().classifier.test_start, -3_153_600_000);
        let refused = seconds("9223372036854775807").err().unwrap().to_string();
        assert!(refused.contains("--test-start") && refused.contains("more than a century"), "{refused}");
    }

    #[test]
    fn lear_trends_default_to_the_library_defaults_and_a_wrong_word_is_refused_by_flag() {
        let args = |extra: &[&str]| price_args("epftoolbox", extra);
        assert_eq!(args(&[]).unwrap().price.lear_trends, None, "the library's DEFAULT_TRENDS apply");
        // The defaults --help states are the library's.
        let command = PriceProbe::command();
        let stated = |id: &str| {
            let help = command.get_arguments().find(|a| a.get_id() == id).unwrap().get_help().unwrap().to_string();
            let after =
                help.split("default: ").nth(1).unwrap_or_else(|| panic!("{id}'s help states no default: {help}"));
            after.split([')', ' ']).next().unwrap().trim_end_matches('.').to_string()
        };
        assert_eq!(
            args(&["--lear-trends", &stated("lear_trends")]).unwrap().price.lear_trends.unwrap(),
            DEFAULT_TRENDS
        );
        assert_eq!(args(&["--windows", &stated("windows")]).unwrap().price.windows.unwrap(), BENCHMARK_WINDOWS);
        assert_eq!(
            args(&["--lear-penalty", &stated("lear_penalty")]).unwrap().price.lear_penalty,
            Some(DEFAULT_SELECTION)
        );
        assert_eq!(args(&["--lear-trends", "none"]).unwrap().price.lear_trends, Some(vec![Trend::None]));
        let refused = args(&["--lear-trends", "none,hp:0"]).err().unwrap().to_string();
        assert!(refused.contains("--lear-trends: \"hp:0\" is neither none nor hp:LAMBDA"), "{refused}");
    }

    /// A flag the chosen format or model does not read is refused, not ignored. Every refusal
    /// comes before any file is read (the input `x` does not exist).
    #[test]
    fn a_flag_the_run_would_ignore_is_refused_by_name() {
        let refusal = |format: &str, extra: &[&str]| match price_args(format, extra) {
            Err(e) => e.to_string(),
            Ok(probe) => format!("{:#}", evaluate_price(probe.price).expect_err("refused")),
        };
        for (format, extra, flag) in [
            ("ercot", &["--point", "HB_WEST", "--windows", "56"][..], "--windows"),
            ("ercot", &["--point", "HB_WEST", "--lear-trends", "none"], "--lear-trends"),
            ("ercot", &["--point", "HB_WEST", "--holidays"], "--holidays"),
            ("ercot", &["--point", "HB_WEST", "--lear-penalty", "epftoolbox"], "--lear-penalty"),
            ("ercot", &["--point", "HB_WEST", "--dnn"], "--dnn"),
            ("epftoolbox", &["--point", "HB_WEST"], "--point"),
            ("epftoolbox", &["--lstm"], "--lstm"),
            ("epftoolbox", &["--dnn-members", "8"], "--dnn-members"),
            ("epftoolbox", &["--dnn-origin", "zero"], "--dnn-origin"),
            ("epftoolbox", &["--dnn-ensemble-weight", "0.5"], "--dnn-ensemble-weight"),
            ("ercot", &["--point", "HB_WEST", "--lstm-window", "72"], "--lstm-window"),
            ("ercot", &["--point", "HB_WEST", "--lstm-finetune-epochs", "2"], "--lstm-finetune-epochs"),
        ] {
            let message = refusal(format, extra);
            assert!(message.contains(flag), "{format} {extra:?}: {message}");
            assert!(!message.contains("No such file"), "{format} {extra:?} read the input: {message}");
        }
        assert!(price_args("epftoolbox", &["--dnn", "--dnn-members", "8"]).is_ok());
        assert!(price_args("ercot", &["--point", "HB_WEST", "--lstm", "--lstm-finetune-epochs", "2"]).is_ok());
    }

    #[derive(Parser)]
    struct TrainProbe {
        #[command(subcommand)]
        _what: TrainWhat,
    }

    /// `--holdout-days` is the lasso's split; with `--lstm` it would be ignored, so it is refused.
    #[test]
    fn holdout_days_is_refused_with_the_lstm() {
        for (what, source) in [
            ("price", ["--data", "d", "--point", "HB_WEST"]),
            ("demand", ["--input", "p.csv", "--series", "gpus_held"]),
        ] {
            let args = |extra: &[&str]| {
                let mut a = vec!["hcp", what];
                a.extend(source);
                a.extend(["--out", "m"]);
                a.extend(extra);
                TrainProbe::try_parse_from(a)
            };
            assert!(args(&["--holdout-days", "7"]).is_ok(), "{what}: the lasso takes it");
            assert!(args(&["--lstm"]).is_ok(), "{what}: the default is no conflict");
            let refused = args(&["--lstm", "--holdout-days", "7"]).err().expect("refused").to_string();
            assert!(refused.contains("--holdout-days") && refused.contains("--lstm"), "{what}: {refused}");
        }
    }
}
