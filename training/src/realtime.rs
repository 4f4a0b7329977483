//! Real-time price forecasts issued every hour for the next 24 hours, on ERCOT settlement
//! points, with only what was known at the issue time.
//!
//! At an issue time T (the top of an hour):
//! - the real-time price of an hour is known once the hour is over (hours ending at or before T);
//! - ERCOT publishes day-ahead results around 13:30 Central on the day before delivery: the
//!   day-ahead price of a target hour is known only when its day's results are out by T;
//!   before that, the latest day-ahead price for that hour of day is the previous day's.
//!
//! Horizon h (1..24) is the hour that ends h hours after T: its interval starts at
//! T + (h − 1) h. Models: persistence (the last real-time hour), the same hour yesterday, the
//! weekly seasonal naive, the latest published day-ahead price, and `lear_rt`: one lasso per
//! horizon and hour of day of the issue (penalty by AIC, as LEAR; 576 models) in the
//! benchmark's invariant (asinh) space over the latest day-ahead price (split by whether it is
//! the target's own), the last 24 real-time hours, the last three day-ahead hours, the target's
//! hour yesterday and last week, and calendar dummies (see `hcp_models::forecast::realtime`).
//! With an LSTM configuration, also `lstm_rt` (`hcp-lstm`: trained on everything before the
//! walk, optionally fine-tuned at each recalibration; its median the point forecast, its own
//! quantiles the band, recalibrated by conformal quantile regression over the last `band_days`
//! of scores) and `ensemble_lear_lstm`, the mean of the two point forecasts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{NaiveDate, NaiveTime, TimeZone};
use chrono_tz::America::Chicago;
use hcp_datasets::ingest::{Format, parse};
use hcp_datasets::rows::price_rows;
use hcp_datasets::{Table, WriteOptions};
use hcp_models::forecast::lasso::PathConfig;
pub use hcp_models::forecast::realtime::{HORIZONS, HourlyPrices, LearRt, MAX_LOOKBACK};
use hcp_models::forecast::{Accumulator, ErrorBands, Scores};
use serde::Serialize;

use crate::forecast_rows::{Forecast, RowLabels};
use crate::walk::{best_by_mae, by_mae, fit_blocks, write_outputs};
use crate::{Error, Result};

/// Real-time prices above this are spikes in the report.
pub const SPIKE_USD_PER_MWH: f64 = 100.0;

pub use hcp_datasets::time::ercot_calendar as calendar;

/// Reads one settlement point from the ERCOT DAM/RTM file. Hours the file lacks (ERCOT's gap
/// after each March clock change) and its NaN prices stay NaN on the grid: they are counted in
/// the report, not filled.
pub fn read_ercot_point(input: &Path, point: &str) -> Result<HourlyPrices> {
    let parsed = parse(Format::Ercot, &[input.to_path_buf()])?;
    if let Some(r) = parsed.rejections.first() {
        return Err(Error::Invalid(format!("{} rows rejected; the first: {r}", parsed.rejections.len())));
    }
    let mut rows = Vec::new();
    for batch in parsed.batches(Table::Prices) {
        rows.extend(price_rows(batch)?);
    }
    hourly_grid(&rows, point, &input.display().to_string())
}

/// One node's prices (ERCOT rules: day-ahead published 13:30 Central the day before) on a
/// dense hourly UTC grid; `source` names where the rows came from in errors.
pub fn hourly_grid(all: &[hcp_datasets::rows::PriceRow], point: &str, source: &str) -> Result<HourlyPrices> {
    let mut nodes = std::collections::BTreeSet::new();
    let mut rows = Vec::new();
    for r in all {
        if &*r.node == point {
            rows.push(r.clone());
        } else {
            nodes.insert(r.node.to_string());
        }
    }
    if rows.is_empty() {
        return Err(Error::Invalid(format!(
            "{source}: no prices for --point {point}; there are {}",
            nodes.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    if let Some(r) = rows.iter().find(|r| r.interval_minutes != 60) {
        return Err(Error::Invalid(format!(
            "{source}: {point} has {}-minute intervals (at {}); hourly prices are needed",
            r.interval_minutes,
            hcp_datasets::time::format_micros(r.interval_start_us)
        )));
    }
    let hours: Vec<(i64, f64, f64)> = rows
        .iter()
        .map(|r| {
            let price = |p: Option<f64>| p.unwrap_or(f64::NAN);
            (r.interval_start_us, price(r.rtm_price_per_mwh), price(r.dam_price_per_mwh))
        })
        .collect();
    Ok(HourlyPrices::from_hours(point, &hours, calendar).expect("rows is not empty"))
}

/// The forecasters compared, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    Persistence,
    SameHourYesterday,
    WeeklyNaive,
    LatestDayAhead,
    LearRt,
    LstmRt,
    Ensemble,
}

impl Model {
    const BASE: [Model; 5] =
        [Model::Persistence, Model::SameHourYesterday, Model::WeeklyNaive, Model::LatestDayAhead, Model::LearRt];

    fn id(self) -> &'static str {
        match self {
            Model::Persistence => "persistence",
            Model::SameHourYesterday => "same_hour_yesterday",
            Model::WeeklyNaive => "seasonal_naive_weekly",
            Model::LatestDayAhead => "dam_latest",
            Model::LearRt => "lear_rt",
            Model::LstmRt => "lstm_rt",
            Model::Ensemble => "ensemble_lear_lstm",
        }
    }
}

/// The coverage lstm_rt's recalibrated band aims at: the 0.1 and 0.9 quantiles' 80 %.
const CQR_LEVEL: f64 = 0.8;

/// A baseline's forecast of target `j` at issue `k`, from what is known at `k` only.
fn baseline(p: &HourlyPrices, model: Model, k: usize, j: usize) -> Option<f64> {
    let v = match model {
        Model::Persistence => p.rt[k.checked_sub(1)?],
        Model::SameHourYesterday => p.rt[j.checked_sub(24)?],
        Model::WeeklyNaive => p.rt[j.checked_sub(168)?],
        Model::LatestDayAhead => p.latest_da(k, j)?.0,
        Model::LearRt | Model::LstmRt | Model::Ensemble => unreachable!("not a baseline"),
    };
    v.is_finite().then_some(v)
}

/// What `hcp evaluate price --format ercot` runs.
#[derive(Debug, Clone)]
pub struct RealTimeConfig {
    pub input: PathBuf,
    pub point: String,
    /// First and last (inclusive) test days, Central dates.
    pub test_start: NaiveDate,
    pub test_end: Option<NaiveDate>,
    pub recalibrate_every: usize,
    /// Days of training history for each calibration (everything before it when `None`).
    pub train_days: Option<usize>,
    pub band_days: usize,
    pub threads: usize,
    pub path: PathConfig,
    /// Train and score `lstm_rt` (and the LEAR + LSTM ensemble) too.
    pub lstm: Option<hcp_lstm::LstmConfig>,
    /// With `lstm`: at each recalibration after the first, fine-tune the LSTM from its last
    /// weights for at most this many epochs on everything before it (0: trained once).
    pub lstm_finetune_epochs: usize,
    pub out: PathBuf,
    pub run_id: String,
}

impl RealTimeConfig {
    pub fn new(input: PathBuf, point: String, test_start: NaiveDate, out: PathBuf) -> RealTimeConfig {
        RealTimeConfig {
            input,
            point,
            test_start,
            test_end: None,
            recalibrate_every: 7,
            train_days: None,
            band_days: 28,
            threads: crate::walk::default_threads(),
            path: PathConfig::default(),
            lstm: None,
            lstm_finetune_epochs: 0,
            out,
            run_id: "evaluate".into(),
        }
    }
}

/// One model's scores over all scored (issue, horizon) pairs and by subset.
#[derive(Debug, Clone, Serialize)]
pub struct RealTimeScores {
    #[serde(flatten)]
    pub scores: Scores,
    /// MAE over the weekly seasonal naive's on the same pairs.
    pub rmae: f64,
    /// MAE over the latest day-ahead price's: below 0.9 beats it by 10 %.
    pub mae_vs_dam_latest: f64,
    pub mae_by_horizon: Vec<f64>,
    pub mae_vs_dam_latest_by_horizon: Vec<f64>,
    /// Targets whose real-time price was above the spike threshold.
    pub spike_hours: Scores,
    pub negative_hours: Scores,
}

/// `metrics.json` of a real-time evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct RealTimeReport {
    pub protocol: &'static str,
    pub input: String,
    pub point: String,
    pub test_start: String,
    pub test_end: String,
    pub issues: usize,
    /// (issue, horizon) pairs every model forecast and whose price is known: the scored set.
    pub scored_pairs: usize,
    /// Pairs left out of the scores, by reason (missing actual, a model without input).
    pub unscored_pairs: BTreeMap<String, usize>,
    pub recalibrate_every_days: usize,
    pub recalibrations: usize,
    pub band_days: usize,
    pub spike_threshold_usd_per_mwh: f64,
    pub models: BTreeMap<String, RealTimeScores>,
    pub best_model: String,
    pub threads: usize,
    /// `lstm_rt`'s training, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lstm_training: Option<hcp_lstm::TrainReport>,
    /// Each fine-tuning of `lstm_rt` (`lstm_finetune_epochs`), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lstm_finetunes: Vec<hcp_lstm::TrainReport>,
    pub elapsed_s: f64,
}

fn central_midnight_us(date: NaiveDate) -> i64 {
    Chicago.from_local_datetime(&date.and_time(NaiveTime::MIN)).earliest().expect("midnight exists").timestamp_micros()
}

/// Runs the hourly walk-forward evaluation and writes `forecasts.parquet`, `metrics.json` and
/// `report.md` under `cfg.out` (and, with an LSTM, its artifact under `cfg.out/lstm_rt`).
/// `progress` reports recalibrations done of all, `lstm_progress` the LSTM's training.
pub fn evaluate_real_time(
    cfg: &RealTimeConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
    lstm_progress: &mut dyn FnMut(&hcp_lstm::Progress),
) -> Result<RealTimeReport> {
    let started = Instant::now();
    crate::walk::check_counts(cfg.recalibrate_every, cfg.band_days, cfg.threads)?;
    if let Some(end) = cfg.test_end.filter(|&end| end < cfg.test_start) {
        return Err(Error::Invalid(format!("--test-end {end} is before --test-start {}", cfg.test_start)));
    }
    let p = read_ercot_point(&cfg.input, &cfg.point)?;
    let last_issue = p.len() - 1;
    let test_first = p.index_at(central_midnight_us(cfg.test_start));
    let test_last = match cfg.test_end {
        Some(d) => p.index_at(central_midnight_us(d.succ_opt().expect("a next day"))).saturating_sub(1),
        None => last_issue,
    }
    .min(last_issue);
    let data_range = || {
        format!(
            "{} .. {}",
            hcp_datasets::time::format_micros(p.start_us),
            hcp_datasets::time::format_micros(p.time(last_issue))
        )
    };
    if test_first >= test_last {
        return Err(Error::Invalid(format!("the test period is empty or outside the data ({})", data_range())));
    }
    let walk_first = test_first.saturating_sub(cfg.band_days * 24);
    if walk_first < MAX_LOOKBACK + 24 * 28 {
        return Err(Error::Invalid(format!(
            "--test-start {} leaves too little history ({}): lear_rt needs 8 days of lags and 28 days of training, plus {} band days",
            cfg.test_start,
            data_range(),
            cfg.band_days
        )));
    }
    let step = cfg.recalibrate_every * 24;
    let blocks: Vec<usize> = (walk_first..=test_last).step_by(step).collect();

    // lstm_rt: trained on the hours before the walk, then run over every issue of it; with
    // fine-tuning, retrained from its last weights at each recalibration on the hours before it.
    let mut lstm_training = None;
    let mut lstm_finetunes = Vec::new();
    let mut lstm: Vec<[Option<[f64; 3]>; HORIZONS]> = Vec::new();
    if let Some(lstm_cfg) = &cfg.lstm {
        let mut trained =
            hcp_lstm::train(&p, 0, walk_first, lstm_cfg, Some(&cfg.out.join("lstm_rt/checkpoints")), lstm_progress)?;
        lstm_training = Some(trained.report.clone());
        let mut run_over = |t: &hcp_lstm::Trained, issues: std::ops::Range<usize>| -> Result<()> {
            let f = t.forecaster()?;
            for chunk in issues.collect::<Vec<_>>().chunks(256) {
                for q in f.quantiles_z(&p, chunk)? {
                    lstm.push(std::array::from_fn(|h| q.map(|q| q[h].map(|z| f.spec.scaler.inverse(f64::from(z))))));
                }
            }
            Ok(())
        };
        if cfg.lstm_finetune_epochs == 0 {
            run_over(&trained, walk_first..test_last + 1)?;
        } else {
            let tune = hcp_lstm::LstmConfig { max_epochs: cfg.lstm_finetune_epochs, ..lstm_cfg.clone() };
            for (i, &k0) in blocks.iter().enumerate() {
                if i > 0 {
                    trained = hcp_lstm::train_from(&p, 0, k0, &tune, Some(&trained), None, lstm_progress)?;
                    lstm_finetunes.push(trained.report.clone());
                }
                run_over(&trained, k0..(k0 + step).min(test_last + 1))?;
            }
        }
        trained.save(&cfg.out.join("lstm_rt"), &cfg.input.display().to_string())?;
    }
    let models: Vec<Model> = if cfg.lstm.is_some() {
        Model::BASE.iter().copied().chain([Model::LstmRt, Model::Ensemble]).collect()
    } else {
        Model::BASE.to_vec()
    };

    // lear_rt forecasts by issue offset and horizon: each block fitted on the hours before it.
    let lear: Vec<[Option<f64>; HORIZONS]> = fit_blocks(&blocks, cfg.threads, progress, |k0| {
        let first = cfg.train_days.map_or(0, |d| k0.saturating_sub(d * 24));
        let model = LearRt::fit(&p, first, k0, &cfg.path)?;
        Ok((k0..(k0 + step).min(test_last + 1))
            .map(|k| std::array::from_fn(|h| model.forecast(&p, k, h + 1)))
            .collect::<Vec<_>>())
    })?
    .into_iter()
    .flatten()
    .collect();

    // The point forecast, and the model's own quantiles where it has them (else the band of
    // its past errors).
    let forecast = |m: Model, k: usize, h: usize| -> Option<(f64, Option<[f64; 3]>)> {
        match m {
            Model::LearRt => lear[k - walk_first][h - 1].map(|v| (v, None)),
            Model::LstmRt => lstm[k - walk_first][h - 1].map(|q| (q[1], Some(q))),
            Model::Ensemble => {
                let (a, b) = (lear[k - walk_first][h - 1]?, lstm[k - walk_first][h - 1]?[1]);
                Some((0.5 * (a + b), None))
            }
            _ => baseline(&p, m, k, k + h - 1).map(|v| (v, None)),
        }
    };
    let n_models = models.len();
    let names: Vec<Arc<str>> = models.iter().map(|m| Arc::from(m.id())).collect();
    let labels = RowLabels::new("rtm_price_per_mwh", &p.node, env!("CARGO_PKG_VERSION"), &cfg.run_id);
    let mut bands: Vec<ErrorBands> = (0..n_models).map(|_| ErrorBands::new(HORIZONS, cfg.band_days * 24)).collect();
    let mut offsets = vec![[[0.0; 3]; HORIZONS]; n_models];
    // lstm_rt's band: its own quantiles, recalibrated by split-conformal quantile regression (CQR)
    // on its last `band_days` of scores max(q10 - y, y - q90), each known once its hour is over.
    let mut lstm_scores = ErrorBands::new(HORIZONS, cfg.band_days * 24);
    let mut lstm_widen = [0.0; HORIZONS];
    // Errors (and lstm_rt's scores) wait here until their target hour is over.
    let mut pending: std::collections::VecDeque<(usize, usize, usize, f64, Option<f64>)> = Default::default();
    let mut totals = vec![Accumulator::default(); n_models];
    let mut spikes = vec![Accumulator::default(); n_models];
    let mut negatives = vec![Accumulator::default(); n_models];
    let mut by_h = vec![vec![Accumulator::default(); HORIZONS]; n_models];
    let mut unscored: BTreeMap<String, usize> = BTreeMap::new();
    let mut rows = Vec::new();
    for k in walk_first..=test_last {
        while let Some(&(known_at, m, h, e, score)) = pending.front() {
            if known_at > k {
                break;
            }
            bands[m].record(h - 1, e);
            if let Some(score) = score {
                lstm_scores.record(h - 1, score);
            }
            pending.pop_front();
        }
        if (k - walk_first) % 24 == 0 {
            for (model_offsets, model_bands) in offsets.iter_mut().zip(&bands) {
                for (h, o) in model_offsets.iter_mut().enumerate() {
                    *o = model_bands.offsets(h);
                }
            }
            for (h, w) in lstm_widen.iter_mut().enumerate() {
                *w = lstm_scores.conformal(h, CQR_LEVEL);
            }
        }
        let issue = p.time(k);
        for h in 1..=HORIZONS {
            let j = k + h - 1;
            if j >= p.len() {
                break;
            }
            let actual = p.rt[j];
            let points: Vec<Option<(f64, Option<[f64; 3]>)>> = models.iter().map(|&m| forecast(m, k, h)).collect();
            for (m, point) in points.iter().enumerate() {
                if let Some((v, own)) = *point
                    && actual.is_finite()
                {
                    // Only lstm_rt has its own quantiles: its score against them.
                    let score = own.map(|q| (q[0] - actual).max(actual - q[2]));
                    pending.push_back((j + 1, m, h, actual - v, score));
                }
            }
            if k < test_first {
                continue;
            }
            let scored = actual.is_finite() && points.iter().all(Option::is_some);
            if !actual.is_finite() {
                *unscored.entry("real-time price missing".into()).or_insert(0) += 1;
            } else if let Some(m) = points.iter().position(Option::is_none) {
                *unscored.entry(format!("{} had no input", models[m].id())).or_insert(0) += 1;
            }
            for (m, point) in points.iter().enumerate() {
                let Some((v, own)) = *point else { continue };
                let q = match own {
                    // Widened (or narrowed) by the conformal score; never past the median.
                    Some(q) => {
                        let w = lstm_widen[h - 1];
                        [(q[0] - w).min(q[1]), q[1], (q[2] + w).max(q[1])]
                    }
                    None => offsets[m][h - 1].map(|o| v + o),
                };
                if scored {
                    totals[m].add(actual, v, &q);
                    by_h[m][h - 1].add(actual, v, &q);
                    if actual > SPIKE_USD_PER_MWH {
                        spikes[m].add(actual, v, &q);
                    }
                    if actual < 0.0 {
                        negatives[m].add(actual, v, &q);
                    }
                }
                labels.push(
                    &mut rows,
                    &names[m],
                    Forecast { issue_us: issue, target_us: p.time(j), mean: v, quantiles: q },
                );
            }
        }
    }

    let idx = |m: Model| models.iter().position(|x| *x == m).expect("listed");
    let weekly_mae = totals[idx(Model::WeeklyNaive)].mae();
    let dam = idx(Model::LatestDayAhead);
    let scores: BTreeMap<String, RealTimeScores> = models
        .iter()
        .enumerate()
        .map(|(m, model)| {
            let scores = totals[m].scores();
            let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
            (
                model.id().to_string(),
                RealTimeScores {
                    rmae: ratio(scores.mae, weekly_mae),
                    mae_vs_dam_latest: ratio(scores.mae, totals[dam].mae()),
                    mae_by_horizon: by_h[m].iter().map(Accumulator::mae).collect(),
                    mae_vs_dam_latest_by_horizon: (0..HORIZONS)
                        .map(|h| ratio(by_h[m][h].mae(), by_h[dam][h].mae()))
                        .collect(),
                    spike_hours: spikes[m].scores(),
                    negative_hours: negatives[m].scores(),
                    scores,
                },
            )
        })
        .collect();
    let best_model = best_by_mae(&scores, |m| &m.scores);
    let report = RealTimeReport {
        protocol: "ERCOT real-time, issued hourly, horizons 1..24 h; day-ahead prices known from 13:30 Central the day before",
        input: cfg.input.display().to_string(),
        point: cfg.point.clone(),
        test_start: hcp_datasets::time::format_micros(p.time(test_first)),
        test_end: hcp_datasets::time::format_micros(p.time(test_last)),
        issues: test_last + 1 - test_first,
        scored_pairs: totals[0].scores().n,
        unscored_pairs: unscored,
        recalibrate_every_days: cfg.recalibrate_every,
        recalibrations: blocks.len(),
        band_days: cfg.band_days,
        spike_threshold_usd_per_mwh: SPIKE_USD_PER_MWH,
        models: scores,
        best_model,
        threads: cfg.threads,
        lstm_training,
        lstm_finetunes,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    let opts =
        WriteOptions::new(cfg.run_id.clone(), format!("hcp evaluate price --format ercot {}", cfg.input.display()));
    write_outputs(&cfg.out, &opts, &rows, &report, &report.markdown())?;
    Ok(report)
}

impl RealTimeReport {
    /// `report.md`: what the run did and every model's scores, best first.
    pub fn markdown(&self) -> String {
        let r = self;
        let mut s = format!(
            "# Real-time price forecasts: ERCOT {}\n\nIssued hourly {} .. {} ({} issues, {} scored issue-horizon pairs), \
         horizons 1..24 h; recalibrated every {} days.\n\n\
         | model | MAE | vs dam_latest | worst horizon vs dam_latest | RMSE | pinball | 80% coverage | MAE > ${} | MAE < $0 |\n\
         |---|---|---|---|---|---|---|---|---|\n",
            r.point,
            r.test_start,
            r.test_end,
            r.issues,
            r.scored_pairs,
            r.recalibrate_every_days,
            r.spike_threshold_usd_per_mwh
        );
        for (id, m) in by_mae(&r.models, |m| &m.scores) {
            let worst = m.mae_vs_dam_latest_by_horizon.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            s += &format!(
                "| {id} | {:.2} | {:.3} | {:.3} | {:.2} | {:.2} | {:.3} | {:.1} | {:.2} |\n",
                m.scores.mae,
                m.mae_vs_dam_latest,
                worst,
                m.scores.rmse,
                m.scores.pinball,
                m.scores.coverage_80,
                m.spike_hours.mae,
                m.negative_hours.mae
            );
        }
        if !r.unscored_pairs.is_empty() {
            let reasons: Vec<String> = r.unscored_pairs.iter().map(|(why, n)| format!("{why}: {n}")).collect();
            s += &format!("\nLeft out of the scores (issue-horizon pairs): {}.\n", reasons.join("; "));
        }
        if let Some(t) = &r.lstm_training {
            s += &format!(
                "\nlstm_rt: trained before the walk on {} issues ({} validation), {} epochs (best {}), \
                 validation MAE {:.2} $/MWh, {:.0} windows/s, {:.0} s; its band is its own quantiles, \
                 recalibrated by conformal quantile regression on its last band days of scores.\n",
                t.fit.train_issues,
                t.fit.valid_issues,
                t.fit.epochs_run,
                t.fit.best_epoch,
                t.valid_mae_usd_per_mwh,
                t.fit.windows_per_s,
                t.fit.elapsed_s
            );
            if !r.lstm_finetunes.is_empty() {
                let kept = r.lstm_finetunes.iter().filter(|f| f.fit.best_epoch == 0).count();
                let secs: f64 = r.lstm_finetunes.iter().map(|f| f.fit.elapsed_s).sum();
                s += &format!(
                    "Fine-tuned at {} recalibrations ({kept} kept the previous weights), {secs:.0} s in all.\n",
                    r.lstm_finetunes.len()
                );
            }
        }
        s += &format!("\n{} recalibrations on {} threads in {:.1} s.\n", r.recalibrations, r.threads, r.elapsed_s);
        s
    }
}
