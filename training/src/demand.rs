//! GPU demand forecasts a week ahead: hourly series from the Alibaba traces, a walk-forward
//! evaluation against the weekly seasonal naive.
//!
//! Series (hour index from the trace start; no date, weekday or time zone is known):
//! - from the v2023 pod list: `gpus_held`, the average number of GPUs held by live pods in each
//!   hour (a pod holds `num_gpu × gpu_milli / 1000` from creation to deletion; a pod with no
//!   deletion is still running at the trace's end and holds them to the end), and
//!   `gpus_arriving`, the GPUs of pods created in the hour (pods that predate the trace, created
//!   at 0, are not arrivals). The series ends at the last creation: the list holds the pods
//!   created in the first 70 % of the trace, so later hours would only show departures.
//! - from the spot-GPU trace's `spot_hourly.csv`: `gpus_requested_active` and `gpus_submitted`.
//!
//! Forecasts are issued every day at hour 0 of the index for the next 168 hours. Models:
//! `persistence` (the last hour), `seasonal_naive_weekly` (the same hour a week before), and
//! `lear_demand`: one lasso per horizon (AIC) in invariant (asinh) space over the last 24 hours,
//! the target's hour one and two weeks before, the last week's mean, and hour-of-day and
//! day-of-week (of the index) dummies, fitted on issues at every hour whose targets were known.
//! With an LSTM configuration, also `lstm_demand` (`hcp_lstm::demand`: trained once on the
//! hours before the walk, its own quantiles as its band) and `ensemble_lear_lstm` (the mean of
//! the two points).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use hcp_datasets::WriteOptions;
use hcp_models::forecast::demand::{FALLBACK_MARGIN, SELECTION_DAYS};
pub use hcp_models::forecast::demand::{Fallback, HORIZONS, LOOKBACK, LearDemand};
use hcp_models::forecast::lasso::PathConfig;
use hcp_models::forecast::{Accumulator, ErrorBands, Scores};
use serde::Serialize;

use crate::forecast_rows::{Forecast, RowLabels};
use crate::walk::{best_by_mae, by_mae, fit_blocks, write_outputs};
use crate::{Error, Result};

const HOUR_US: i64 = 3_600_000_000;
/// `hcp.time_basis` of forecasts on a trace whose times count from its own start (the epoch).
pub const TRACE_TIME_BASIS: &str = "trace_time_from_start";

/// One hourly demand series.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandSeries {
    pub name: String,
    /// Start of hour 0 (UTC µs; 0 for the traces, whose times count from their start).
    pub start_us: i64,
    pub values: Vec<f64>,
}

/// Reads the demand series a file holds: the v2023 pod list (`name,cpu_milli,...`) or the
/// spot-GPU trace's `spot_hourly.csv` (`hour,gpus_requested_active,...`). `series` picks one by
/// name; the first of the file's is the default.
pub fn read_demand(input: &Path, series: Option<&str>) -> Result<DemandSeries> {
    let header = first_line(input)?;
    let all = if header.starts_with("hour,") {
        read_spot_hourly(input)?
    } else if header.starts_with("name,") {
        pods_series(&crate::classifier::read_pods(&[input.to_path_buf()])?)
    } else {
        return Err(Error::Invalid(format!(
            "{}: not a demand file: expected the v2023 pod list (`name,cpu_milli,...`) or spot_hourly.csv (`hour,gpus_requested_active,...`); the header is `{header}`",
            input.display()
        )));
    };
    match series {
        None => Ok(all.into_iter().next().expect("every reader returns a series")),
        Some(name) => {
            let names: Vec<String> = all.iter().map(|s| s.name.clone()).collect();
            all.into_iter().find(|s| s.name == name).ok_or_else(|| {
                Error::Invalid(format!("series `{name}`: {} holds {}", input.display(), names.join(", ")))
            })
        }
    }
}

fn first_line(path: &Path) -> Result<String> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let mut line = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut line)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    Ok(line.trim_end().to_string())
}

/// `spot_hourly.csv`: hours must run 0, 1, 2, … without a gap; every value must be a finite
/// number of GPUs, not negative. Errors name the line and column.
fn read_spot_hourly(path: &Path) -> Result<Vec<DemandSeries>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let wanted = ["gpus_requested_active", "gpus_submitted"];
    let cols: Vec<usize> = wanted
        .iter()
        .map(|w| {
            header
                .iter()
                .position(|h| h == w)
                .ok_or_else(|| Error::Invalid(format!("{}: no `{w}` column in `{}`", path.display(), header.join(","))))
        })
        .collect::<Result<_>>()?;
    let mut values = vec![Vec::new(); wanted.len()];
    for (i, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let at = |what: &str| format!("{}:{}: {what}", path.display(), i + 2);
        let hour: usize =
            fields[0].parse().map_err(|_| Error::Invalid(at(&format!("hour `{}` is not an hour index", fields[0]))))?;
        if hour != i {
            return Err(Error::Invalid(at(&format!("hour {hour} where {i} was expected (hours must be consecutive)"))));
        }
        for (k, &c) in cols.iter().enumerate() {
            let raw = fields.get(c).copied().unwrap_or("");
            let v: f64 = raw
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| Error::Invalid(at(&format!("{} `{raw}` is not a finite number", wanted[k]))))?;
            if v < 0.0 {
                return Err(Error::Invalid(at(&format!("{} `{raw}` is negative: it counts GPUs", wanted[k]))));
            }
            values[k].push(v);
        }
    }
    Ok(wanted
        .iter()
        .zip(values)
        .map(|(n, v)| DemandSeries { name: (*n).to_string(), start_us: 0, values: v })
        .collect())
}

/// The hourly series of a pod list; see the module documentation. Hour 0 is the hour of the
/// first creation (the trace start for the Alibaba lists).
pub fn pods_series(pods: &[hcp_datasets::rows::JobRow]) -> Vec<DemandSeries> {
    let created: Vec<i64> = pods.iter().filter_map(|p| p.creation_time_us).collect();
    let start_us = created.iter().min().map_or(0, |t| t.div_euclid(HOUR_US) * HOUR_US);
    let last = created.iter().max().copied().unwrap_or(start_us);
    let hours = ((last - start_us) / HOUR_US + 1) as usize;
    let end_us = start_us + hours as i64 * HOUR_US;
    let hour_of = |t: i64| ((t - start_us) / HOUR_US) as usize;
    let mut held = vec![0.0; hours];
    let mut arriving = vec![0.0; hours];
    for p in pods {
        let gpus = f64::from(p.num_gpu) * f64::from(p.gpu_milli) / 1000.0;
        let Some(created) = p.creation_time_us else { continue };
        if gpus <= 0.0 {
            continue;
        }
        // Alibaba marks pods that predate the trace with creation time 0: not arrivals.
        if created > 0 {
            arriving[hour_of(created)] += gpus;
        }
        let until = p.deletion_time_us.unwrap_or(end_us).min(end_us);
        let mut t = created;
        while t < until {
            let hour = hour_of(t);
            let next = (start_us + (hour as i64 + 1) * HOUR_US).min(until);
            held[hour] += gpus * (next - t) as f64 / HOUR_US as f64;
            t = next;
        }
    }
    vec![
        DemandSeries { name: "gpus_held".into(), start_us, values: held },
        DemandSeries { name: "gpus_arriving".into(), start_us, values: arriving },
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    Persistence,
    WeeklyNaive,
    Lear,
    Lstm,
    Ensemble,
}

impl Model {
    const ALL: [Model; 3] = [Model::Persistence, Model::WeeklyNaive, Model::Lear];

    fn id(self) -> &'static str {
        match self {
            Model::Persistence => "persistence",
            Model::WeeklyNaive => "seasonal_naive_weekly",
            Model::Lear => "lear_demand",
            Model::Lstm => "lstm_demand",
            Model::Ensemble => "ensemble_lear_lstm",
        }
    }
}

/// What `hcp evaluate demand` runs.
#[derive(Debug, Clone)]
pub struct DemandConfig {
    pub input: PathBuf,
    pub series: Option<String>,
    /// Seconds from the trace start where the test begins (rounded up to an issue day).
    pub test_start_s: i64,
    pub test_end_s: Option<i64>,
    pub recalibrate_every: usize,
    pub band_days: usize,
    pub threads: usize,
    pub path: PathConfig,
    /// Train `lstm_demand` (saved in `out/lstm_demand/`) and score it and `ensemble_lear_lstm`.
    pub lstm: Option<hcp_lstm::LstmConfig>,
    pub out: PathBuf,
    pub run_id: String,
}

impl DemandConfig {
    pub fn new(input: PathBuf, test_start_s: i64, out: PathBuf) -> DemandConfig {
        DemandConfig {
            input,
            series: None,
            test_start_s,
            test_end_s: None,
            recalibrate_every: 7,
            band_days: 28,
            threads: crate::walk::default_threads(),
            path: PathConfig::default(),
            lstm: None,
            out,
            run_id: "evaluate".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DemandScores {
    #[serde(flatten)]
    pub scores: Scores,
    pub rmae: f64,
    /// MAE by day ahead (horizons 1-24, 25-48, …).
    pub mae_by_day: Vec<f64>,
}

/// `metrics.json` of a demand evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct DemandReport {
    pub protocol: &'static str,
    pub input: String,
    pub series: String,
    pub series_hours: usize,
    pub series_mean: f64,
    pub test_start_hour: usize,
    pub test_end_hour: usize,
    pub issues: usize,
    pub recalibrate_every_days: usize,
    pub recalibrations: usize,
    pub band_days: usize,
    pub models: BTreeMap<String, DemandScores>,
    pub best_model: String,
    /// Over the recalibrations, how many days ahead each forecaster of `lear_demand` had (its
    /// lasso, or the naive rule that beat it before the calibration).
    pub lear_demand_fallbacks: BTreeMap<Fallback, usize>,
    /// `lstm_demand`'s training, when it ran.
    pub lstm_training: Option<hcp_lstm::DemandTrainReport>,
    pub elapsed_s: f64,
}

/// Runs the walk-forward evaluation and writes `forecasts.parquet`, `metrics.json` and
/// `report.md` under `cfg.out`. `progress` reports recalibrations done of all, `lstm_progress`
/// the LSTM's training.
pub fn evaluate_demand(
    cfg: &DemandConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
    lstm_progress: &mut dyn FnMut(&hcp_lstm::Progress),
) -> Result<DemandReport> {
    let started = Instant::now();
    crate::walk::check_counts(cfg.recalibrate_every, cfg.band_days, cfg.threads)?;
    if let Some(end) = cfg.test_end_s.filter(|&end| end < cfg.test_start_s) {
        return Err(Error::Invalid(format!("--test-end {end} s is before --test-start {} s", cfg.test_start_s)));
    }
    let series = read_demand(&cfg.input, cfg.series.as_deref())?;
    let y = &series.values;
    let n = y.len();
    let day_at_or_after = |s: i64| (s.max(0) as usize).div_ceil(3600).div_ceil(24) * 24;
    let test_first = day_at_or_after(cfg.test_start_s);
    // The last issue whose whole week is in the series.
    let last_possible = (n.saturating_sub(HORIZONS) / 24) * 24;
    let test_last = match cfg.test_end_s {
        Some(s) => (day_at_or_after(s)).min(last_possible),
        None => last_possible,
    };
    let walk_first = test_first.saturating_sub(cfg.band_days * 24);
    let needed = LOOKBACK + HORIZONS + 24 * 7;
    if test_first > last_possible {
        return Err(Error::Invalid(format!(
            "--test-start {} s (hour {test_first}) leaves no issue: the series `{}` has {n} hours, and the last issue with a whole week after it is at hour {last_possible}",
            cfg.test_start_s, series.name
        )));
    }
    // The end is not before the start (above), so an issue at `test_first` is in the walk.
    if walk_first < needed {
        return Err(Error::Invalid(format!(
            "--test-start {} s (hour {test_first}) with {} band days: the walk would start at hour {walk_first}; issues need {needed} hours of history before the walk",
            cfg.test_start_s, cfg.band_days
        )));
    }
    let issues: Vec<usize> = (walk_first..=test_last).step_by(24).collect();
    let recalibrations: Vec<usize> = issues.iter().copied().step_by(cfg.recalibrate_every).collect();

    // lear_demand per issue, fitted in parallel by recalibration block.
    let blocks = fit_blocks(&recalibrations, cfg.threads, progress, |k0| {
        let model = LearDemand::fit(y, k0, &cfg.path)?;
        let forecasts = issues
            .iter()
            .filter(|&&k| k >= k0 && k < k0 + 24 * cfg.recalibrate_every)
            .map(|&k| (k, (1..=HORIZONS).map(|h| model.forecast(y, k, h)).collect()))
            .collect::<Vec<_>>();
        Ok((forecasts, model.fallbacks()))
    })?;
    let mut lear_demand_fallbacks: BTreeMap<Fallback, usize> = Fallback::ALL.iter().map(|f| (*f, 0)).collect();
    for fallback in blocks.iter().flat_map(|(_, fallbacks)| fallbacks) {
        *lear_demand_fallbacks.entry(*fallback).or_default() += 1;
    }
    let lear: BTreeMap<usize, Vec<f64>> = blocks.into_iter().flat_map(|(forecasts, _)| forecasts).collect();

    // lstm_demand: trained once on every target before the walk, then run on every issue.
    let mut all_models = Model::ALL.to_vec();
    let mut lstm_training = None;
    let mut lstm: BTreeMap<usize, Vec<[f64; 3]>> = BTreeMap::new();
    if let Some(lstm_cfg) = &cfg.lstm {
        let checkpoints = cfg.out.join("lstm_demand/checkpoints");
        let s = hcp_lstm::Series { name: &series.name, values: y, start_us: series.start_us };
        let trained = hcp_lstm::train_demand(s, 0, walk_first, lstm_cfg, Some(&checkpoints), lstm_progress)?;
        trained.save(&cfg.out.join("lstm_demand"), &cfg.input.display().to_string())?;
        let model = trained.model()?;
        let scaler = model.spec.scaler;
        for chunk in issues.chunks(64) {
            for (&k, q) in chunk.iter().zip(model.quantiles_z(y, series.start_us, chunk)?) {
                let q = q.ok_or_else(|| {
                    Error::Invalid(format!("lstm_demand: issue at hour {k} of `{}` lacks its inputs", series.name))
                })?;
                lstm.insert(k, q.iter().map(|z| z.map(|v| scaler.inverse(f64::from(v)))).collect());
            }
        }
        lstm_training = Some(trained.report);
        all_models.extend([Model::Lstm, Model::Ensemble]);
    }

    let names: Vec<Arc<str>> = all_models.iter().map(|m| Arc::from(m.id())).collect();
    let labels = RowLabels::new(&series.name, "cluster", env!("CARGO_PKG_VERSION"), &cfg.run_id);
    let mut bands: Vec<ErrorBands> = all_models.iter().map(|_| ErrorBands::new(HORIZONS, cfg.band_days)).collect();
    let mut pending: std::collections::VecDeque<(usize, usize, usize, f64)> = Default::default();
    let mut totals = vec![Accumulator::default(); all_models.len()];
    let mut by_day = vec![vec![Accumulator::default(); 7]; all_models.len()];
    let mut rows = Vec::new();
    for &k in &issues {
        // Errors whose target hour is over by this issue.
        let (ready, waiting): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(known_at, ..)| *known_at <= k);
        pending.extend(waiting);
        for (_, m, h, e) in ready {
            bands[m].record(h - 1, e);
        }
        let offsets: Vec<Vec<[f64; 3]>> = bands.iter().map(|b| (0..HORIZONS).map(|h| b.offsets(h)).collect()).collect();
        for h in 1..=HORIZONS {
            let j = k + h - 1;
            let actual = y[j];
            for (m, model) in all_models.iter().enumerate() {
                let point = match model {
                    Model::Persistence => y[k - 1],
                    Model::WeeklyNaive => y[j - 168],
                    Model::Lear => lear[&k][h - 1],
                    Model::Lstm => lstm[&k][h - 1][1],
                    Model::Ensemble => 0.5 * (lear[&k][h - 1] + lstm[&k][h - 1][1]),
                };
                pending.push_back((j + 1, m, h, actual - point));
                if k < test_first {
                    continue;
                }
                let q = match model {
                    Model::Lstm => lstm[&k][h - 1],
                    _ => offsets[m][h - 1].map(|o| point + o),
                };
                totals[m].add(actual, point, &q);
                by_day[m][(h - 1) / 24].add(actual, point, &q);
                let (issue_us, target_us) =
                    (series.start_us + k as i64 * HOUR_US, series.start_us + j as i64 * HOUR_US);
                labels.push(&mut rows, &names[m], Forecast { issue_us, target_us, mean: point, quantiles: q });
            }
        }
    }
    let weekly_mae = totals[1].mae();
    let models: BTreeMap<String, DemandScores> = all_models
        .iter()
        .enumerate()
        .map(|(m, model)| {
            let scores = totals[m].scores();
            let rmae = if weekly_mae > 0.0 { scores.mae / weekly_mae } else { f64::NAN };
            (
                model.id().to_string(),
                DemandScores { scores, rmae, mae_by_day: by_day[m].iter().map(Accumulator::mae).collect() },
            )
        })
        .collect();
    let best_model = best_by_mae(&models, |m| &m.scores);
    let report = DemandReport {
        protocol: "issued daily at hour 0 of the index, horizons 1..168 h; trains on hours before the issue",
        input: cfg.input.display().to_string(),
        series: series.name.clone(),
        series_hours: n,
        series_mean: y.iter().sum::<f64>() / n as f64,
        test_start_hour: test_first,
        test_end_hour: test_last,
        issues: issues.iter().filter(|&&k| k >= test_first).count(),
        recalibrate_every_days: cfg.recalibrate_every,
        recalibrations: recalibrations.len(),
        band_days: cfg.band_days,
        models,
        best_model,
        lear_demand_fallbacks,
        lstm_training,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    let mut opts = WriteOptions::new(cfg.run_id.clone(), format!("hcp evaluate demand {}", cfg.input.display()));
    if series.start_us == 0 {
        opts = opts.with_time_basis(TRACE_TIME_BASIS);
    }
    write_outputs(&cfg.out, &opts, &rows, &report, &report.markdown())?;
    Ok(report)
}

impl DemandReport {
    /// `report.md`: what the run did and every model's scores, best first.
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "# GPU demand forecasts: {} ({})\n\n{} hours in the series (mean {:.1}); test issues {} from hour {} to {}, 168 h ahead each.\n\n\
         | model | MAE | rMAE | sMAPE % | pinball | 80% coverage | MAE day 1 | MAE day 7 |\n|---|---|---|---|---|---|---|---|\n",
            self.series,
            self.input,
            self.series_hours,
            self.series_mean,
            self.issues,
            self.test_start_hour,
            self.test_end_hour
        );
        for (id, m) in by_mae(&self.models, |m| &m.scores) {
            md += &format!(
                "| {id} | {:.2} | {:.3} | {:.2} | {:.2} | {:.3} | {:.2} | {:.2} |\n",
                m.scores.mae,
                m.rmae,
                m.scores.smape_percent,
                m.scores.pinball,
                m.scores.coverage_80,
                m.mae_by_day[0],
                m.mae_by_day[6]
            );
        }
        let count = |f: Fallback| self.lear_demand_fallbacks.get(&f).copied().unwrap_or(0);
        md += &format!(
            "\nlear_demand's days ahead over the {} recalibrations: {} by the lasso, {} by the last value, {} by the week-before value \
             (a naive rule replaces the lasso where it did better by more than {:.0} % over the {} days before the calibration).\n",
            self.recalibrations,
            count(Fallback::Lasso),
            count(Fallback::Persistence),
            count(Fallback::WeeklyNaive),
            FALLBACK_MARGIN * 100.0,
            SELECTION_DAYS
        );
        if let Some(t) = &self.lstm_training {
            md += &format!(
                "\nlstm_demand: trained before the walk on {} issues ({} validation), {} epochs (best {}), \
                 validation MAE {:.2} (weekly naive {:.2}), {:.0} windows/s, {:.0} s; its band is its own quantiles.\n",
                t.fit.train_issues,
                t.fit.valid_issues,
                t.fit.epochs_run,
                t.fit.best_epoch,
                t.valid_mae,
                t.valid_weekly_naive_mae,
                t.fit.windows_per_s,
                t.fit.elapsed_s
            );
        }
        md += &format!("\n{} recalibrations in {:.1} s.\n", self.recalibrations, self.elapsed_s);
        md
    }
}
