//! GPU workloads: arrivals and job specs sampled from distributions fitted on the Alibaba
//! traces (v2023 pods, v2025 DLRM inference instances), with each job's class, GPU count and
//! share, duration, value per GPU-hour and SLA or deadline.
//!
//! Fitted, per trace: the arrival rate by hour of the week (trace hour 0 taken as Monday 00:00:
//! the traces give offsets, not dates), the share of each QoS class, the joint distribution of
//! (GPUs, GPU share) per class, CPU per job and memory per CPU (log-normal), and the duration
//! distribution per class by Kaplan-Meier, so pods still running at the trace's end count as
//! censored, not as short jobs and not dropped. Value per GPU-hour, SLAs and deadlines are not
//! in the traces: they are scenario parameters.

use std::collections::BTreeMap;

use hcp_datasets::rows::JobRow;
use hcp_datasets::time::{MICROS_PER_HOUR, MICROS_PER_SECOND};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::Rng;

/// Scheduling class derived from the trace's QoS: LS (latency-sensitive) and Guaranteed pods are
/// served and never preempted for mining; BE (best-effort) and Burstable pods are preemptible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobClass {
    LatencySensitive,
    BestEffort,
}

impl JobClass {
    pub fn from_qos(qos: &str) -> JobClass {
        match qos {
            "LS" | "Guaranteed" => JobClass::LatencySensitive,
            _ => JobClass::BestEffort,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            JobClass::LatencySensitive => "latency_sensitive",
            JobClass::BestEffort => "best_effort",
        }
    }
}

/// Per-QoS distributions of one trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QosProfile {
    pub qos: String,
    pub share: f64,
    /// (GPUs, GPU share in milli, probability).
    pub gpu_shapes: Vec<(i32, i32, f64)>,
    /// Log-normal CPU per job, milli-cores: mean and sd of the log.
    pub cpu_log_mean: f64,
    pub cpu_log_sd: f64,
    /// Log-normal memory per CPU core, MiB.
    pub mem_per_core_log_mean: f64,
    pub mem_per_core_log_sd: f64,
    /// Kaplan-Meier duration quantiles, seconds, at `DURATION_LEVELS`; `None` past the level
    /// the estimate reaches (censoring), where the longest observed duration is used.
    pub duration_quantiles_s: Vec<Option<f64>>,
    pub longest_observed_s: f64,
    pub jobs: usize,
    pub censored: usize,
}

pub const DURATION_LEVELS: [f64; 19] =
    [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95];

/// One trace's fitted workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceWorkload {
    pub source: String,
    /// GPUs in the trace's cluster, so that arrival rates scale to a simulated fleet.
    pub trace_gpus: u64,
    pub trace_hours: f64,
    /// Mean GPU-job arrivals per hour by hour of the week (168 values).
    pub arrivals_per_hour: Vec<f64>,
    pub qos: Vec<QosProfile>,
    /// Jobs left out of the fit and why (CPU-only jobs, jobs that existed before the trace).
    pub excluded: BTreeMap<String, usize>,
}

/// The workload calibration file, `sim/calibration/alibaba_workloads.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadCalibration {
    pub command: String,
    pub traces: Vec<TraceWorkload>,
}

const BUILTIN: &str = include_str!("../calibration/alibaba_workloads.json");

impl WorkloadCalibration {
    pub fn builtin() -> WorkloadCalibration {
        serde_json::from_str(BUILTIN).expect("built-in workload calibration parses")
    }

    pub fn trace(&self, source: &str) -> Result<&TraceWorkload> {
        self.traces.iter().find(|t| t.source == source).ok_or_else(|| {
            let names: Vec<_> = self.traces.iter().map(|t| t.source.as_str()).collect();
            Error::Config(format!("unknown workload trace `{source}`; known: {}", names.join(", ")))
        })
    }
}

/// Fits one trace's workload from its job rows and its cluster's GPU count.
pub fn fit_trace(source: &str, jobs: &[JobRow], trace_gpus: u64) -> Result<TraceWorkload> {
    let mut excluded: BTreeMap<String, usize> = BTreeMap::new();
    let mut kept: Vec<&JobRow> = Vec::new();
    let end_us = jobs.iter().filter_map(|j| j.deletion_time_us.max(j.creation_time_us)).max().unwrap_or(0);
    for j in jobs {
        if j.num_gpu == 0 {
            *excluded.entry("cpu_only".into()).or_default() += 1;
        } else if j.creation_time_us.unwrap_or(0) == 0 {
            // Created at or before the trace start: present at start, not an arrival.
            *excluded.entry("present_at_trace_start".into()).or_default() += 1;
        } else {
            kept.push(j);
        }
    }
    if kept.len() < 50 {
        return Err(Error::Calibration(format!("{source}: {} GPU jobs with a creation time; need 50", kept.len())));
    }
    let trace_hours = end_us as f64 / MICROS_PER_HOUR as f64;
    let mut counts = [0.0f64; 168];
    let mut exposure = [0.0f64; 168];
    for h in 0..trace_hours.floor() as usize {
        exposure[h % 168] += 1.0;
    }
    for j in &kept {
        let h = (j.creation_time_us.unwrap_or(0) / MICROS_PER_HOUR) as usize;
        counts[h % 168] += 1.0;
    }
    let arrivals_per_hour = (0..168).map(|h| round4(counts[h] / exposure[h].max(1.0))).collect();

    let mut by_qos: BTreeMap<String, Vec<&JobRow>> = BTreeMap::new();
    for j in &kept {
        by_qos.entry(j.qos.clone().unwrap_or_else(|| "unknown".into())).or_default().push(j);
    }
    let qos = by_qos
        .into_iter()
        .map(|(qos, jobs)| {
            let mut shapes: BTreeMap<(i32, i32), usize> = BTreeMap::new();
            for j in &jobs {
                *shapes.entry((j.num_gpu, j.gpu_milli)).or_default() += 1;
            }
            let n = jobs.len() as f64;
            let (cpu_log_mean, cpu_log_sd) = log_moments(jobs.iter().map(|j| j.cpu_milli as f64));
            let (mem_mean, mem_sd) = log_moments(
                jobs.iter().filter(|j| j.cpu_milli > 0).map(|j| j.memory_mib as f64 / (j.cpu_milli as f64 / 1000.0)),
            );
            let durations: Vec<(f64, bool)> = jobs
                .iter()
                .map(|j| {
                    let created = j.creation_time_us.unwrap_or(0);
                    match (j.duration_s, j.duration_censored) {
                        (Some(d), censored) => (d as f64, !censored),
                        (None, _) => ((end_us - created) as f64 / MICROS_PER_SECOND as f64, false),
                    }
                })
                .collect();
            let (duration_quantiles_s, longest) = kaplan_meier_quantiles(&durations);
            QosProfile {
                share: round6(n / kept.len() as f64),
                gpu_shapes: shapes.into_iter().map(|((g, m), c)| (g, m, round6(c as f64 / n))).collect(),
                cpu_log_mean: round6(cpu_log_mean),
                cpu_log_sd: round6(cpu_log_sd),
                mem_per_core_log_mean: round6(mem_mean),
                mem_per_core_log_sd: round6(mem_sd),
                duration_quantiles_s,
                longest_observed_s: longest,
                censored: durations.iter().filter(|d| !d.1).count(),
                jobs: jobs.len(),
                qos,
            }
        })
        .collect();
    Ok(TraceWorkload {
        source: source.to_string(),
        trace_gpus,
        trace_hours: round4(trace_hours),
        arrivals_per_hour,
        qos,
        excluded,
    })
}

fn log_moments(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let logs: Vec<f64> = values.filter(|v| *v > 0.0).map(f64::ln).collect();
    if logs.is_empty() {
        return (0.0, 0.0);
    }
    let m = logs.iter().sum::<f64>() / logs.len() as f64;
    (m, (logs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / logs.len() as f64).sqrt())
}

/// Kaplan-Meier quantiles at [`DURATION_LEVELS`] from (time, event observed) pairs, and the
/// longest time seen (event or censoring).
pub fn kaplan_meier_quantiles(data: &[(f64, bool)]) -> (Vec<Option<f64>>, f64) {
    let mut d: Vec<(f64, bool)> = data.to_vec();
    // Events before censorings at the same time (the usual convention).
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut at_risk = d.len() as f64;
    let mut survival = 1.0;
    let mut out = vec![None; DURATION_LEVELS.len()];
    let mut i = 0;
    while i < d.len() {
        let t = d[i].0;
        let (mut events, mut leaving) = (0.0, 0.0);
        while i < d.len() && d[i].0 == t {
            events += d[i].1 as u8 as f64;
            leaving += 1.0;
            i += 1;
        }
        if events > 0.0 {
            survival *= 1.0 - events / at_risk;
            for (k, level) in DURATION_LEVELS.iter().enumerate() {
                if out[k].is_none() && 1.0 - survival >= level - 1e-12 {
                    out[k] = Some(t);
                }
            }
        }
        at_risk -= leaving;
    }
    (out, d.last().map(|x| x.0).unwrap_or(0.0))
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Scenario economics: what jobs earn and what they promise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobEconomics {
    /// Revenue of latency-sensitive serving per GPU-hour, USD.
    pub latency_sensitive_usd_per_gpu_hour: f64,
    /// Revenue of best-effort batch work per GPU-hour, USD.
    pub best_effort_usd_per_gpu_hour: f64,
    /// Relative spread of job values (log-normal sd).
    pub value_spread: f64,
    /// Latency objective of serving jobs, ms.
    pub sla_latency_ms: i32,
    /// Best-effort deadline = creation + slack × duration.
    pub deadline_slack: f64,
}

impl Default for JobEconomics {
    fn default() -> Self {
        JobEconomics {
            latency_sensitive_usd_per_gpu_hour: 2.5,
            best_effort_usd_per_gpu_hour: 1.2,
            value_spread: 0.25,
            sla_latency_ms: 200,
            deadline_slack: 3.0,
        }
    }
}

/// A simulated job as the GPU fleet and the scheduler see it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimJob {
    pub id: String,
    pub source: String,
    pub qos: String,
    pub class: JobClass,
    pub num_gpu: u32,
    /// Share of each GPU, milli (1000 = whole GPU).
    pub gpu_milli: u32,
    pub cpu_milli: i64,
    pub memory_mib: i64,
    pub created_us: i64,
    pub duration_s: f64,
    pub value_usd_per_gpu_hour: f64,
    pub deadline_us: Option<i64>,
    pub sla_latency_ms: Option<i32>,
}

impl SimJob {
    /// GPU-equivalents the job occupies.
    pub fn gpu_equivalents(&self) -> f64 {
        self.num_gpu as f64 * self.gpu_milli as f64 / 1000.0
    }

    pub fn to_row(&self, finished_us: Option<i64>) -> JobRow {
        JobRow {
            source: self.source.clone(),
            job_id: self.id.clone(),
            cpu_milli: self.cpu_milli,
            memory_mib: self.memory_mib,
            num_gpu: self.num_gpu as i32,
            gpu_milli: self.gpu_milli as i32,
            qos: Some(self.qos.clone()),
            phase: Some(if finished_us.is_some() { "Succeeded" } else { "Running" }.into()),
            creation_time_us: Some(self.created_us),
            deletion_time_us: finished_us,
            duration_s: Some(self.duration_s.round() as i64),
            duration_censored: false,
            job_class: Some(self.class.name().into()),
            value_usd_per_gpu_hour: Some(self.value_usd_per_gpu_hour),
            deadline_time_us: self.deadline_us,
            sla_latency_ms: self.sla_latency_ms,
            ..JobRow::default()
        }
    }
}

/// Draws arrivals of one trace's workload, scaled to a fleet.
#[derive(Debug, Clone)]
pub struct WorkloadGenerator {
    trace: TraceWorkload,
    /// Arrival-rate multiplier (simulated GPUs / trace GPUs, times any load factor).
    scale: f64,
    economics: JobEconomics,
    source: String,
    next_id: u64,
}

impl WorkloadGenerator {
    pub fn new(trace: TraceWorkload, scale: f64, economics: JobEconomics, source: &str) -> Result<Self> {
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(Error::Config(format!("workload `{}`: arrival scale {scale} is not >= 0", trace.source)));
        }
        Ok(WorkloadGenerator { trace, scale, economics, source: source.to_string(), next_id: 0 })
    }

    /// Expected arrivals per hour at `time_us` (hour of the week from the Unix epoch, which
    /// began on a Thursday: 1970-01-05 was the first Monday).
    pub fn rate_per_hour(&self, time_us: i64) -> f64 {
        let monday = 4 * 24 * MICROS_PER_HOUR;
        let how = ((time_us - monday).rem_euclid(168 * MICROS_PER_HOUR) / MICROS_PER_HOUR) as usize;
        self.trace.arrivals_per_hour[how] * self.scale
    }

    /// Jobs created in [from_us, from_us + dt_s).
    pub fn arrivals(&mut self, from_us: i64, dt_s: f64, rng: &mut Rng) -> Vec<SimJob> {
        let n = rng.poisson(self.rate_per_hour(from_us) * dt_s / 3600.0);
        let mut jobs: Vec<SimJob> =
            (0..n).map(|_| self.sample(from_us + (rng.uniform() * dt_s * 1e6) as i64, rng)).collect();
        jobs.sort_by_key(|j| j.created_us);
        jobs
    }

    fn sample(&mut self, created_us: i64, rng: &mut Rng) -> SimJob {
        let q = pick(&self.trace.qos, |q| q.share, rng);
        let &(num_gpu, gpu_milli, _) = pick(&q.gpu_shapes, |s| s.2, rng);
        let cpu_milli = (q.cpu_log_mean + q.cpu_log_sd * rng.normal()).exp().round().max(100.0);
        let mem = cpu_milli / 1000.0 * (q.mem_per_core_log_mean + q.mem_per_core_log_sd * rng.normal()).exp();
        let duration_s = sample_duration(q, rng.uniform());
        let class = JobClass::from_qos(&q.qos);
        let e = &self.economics;
        let base = match class {
            JobClass::LatencySensitive => e.latency_sensitive_usd_per_gpu_hour,
            JobClass::BestEffort => e.best_effort_usd_per_gpu_hour,
        };
        let value = base * (e.value_spread * rng.normal() - e.value_spread.powi(2) / 2.0).exp();
        self.next_id += 1;
        SimJob {
            id: format!("{}-{:08}", self.source, self.next_id),
            source: self.source.clone(),
            qos: q.qos.clone(),
            class,
            num_gpu: num_gpu as u32,
            gpu_milli: gpu_milli as u32,
            cpu_milli: cpu_milli as i64,
            memory_mib: mem.round() as i64,
            created_us,
            duration_s,
            value_usd_per_gpu_hour: (value * 1e4).round() / 1e4,
            deadline_us: (class == JobClass::BestEffort)
                .then(|| created_us + (e.deadline_slack * duration_s * MICROS_PER_SECOND as f64) as i64),
            sla_latency_ms: (class == JobClass::LatencySensitive).then_some(e.sla_latency_ms),
        }
    }
}

fn pick<'a, T>(items: &'a [T], weight: impl Fn(&T) -> f64, rng: &mut Rng) -> &'a T {
    let total: f64 = items.iter().map(&weight).sum();
    let mut u = rng.uniform() * total;
    for item in items {
        u -= weight(item);
        if u < 0.0 {
            return item;
        }
    }
    items.last().expect("non-empty distribution")
}

/// Inverse of the Kaplan-Meier CDF at `u`, linear between stored levels, from 60 s at level 0;
/// past the last level the estimate reaches, the longest observed duration (a lower bound).
fn sample_duration(q: &QosProfile, u: f64) -> f64 {
    let mut prev = (0.0, 60.0);
    for (level, value) in DURATION_LEVELS.iter().zip(&q.duration_quantiles_s) {
        let Some(v) = value else { return q.longest_observed_s.max(prev.1) };
        if u <= *level {
            return prev.1 + (u - prev.0) / (level - prev.0) * (v - prev.1);
        }
        prev = (*level, *v);
    }
    // Above the 95 % level: between it and the longest observed duration.
    prev.1 + (u - prev.0) / (1.0 - prev.0) * (q.longest_observed_s - prev.1).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: times 1,2,3(censored),4,5; S = 0.8, 0.6, 0.6, 0.3, 0 → CDF 0.2 at 1,
    /// 0.4 at 2, 0.7 at 4, 1 at 5.
    #[test]
    fn kaplan_meier_handles_censoring() {
        let data = [(1.0, true), (2.0, true), (3.0, false), (4.0, true), (5.0, true)];
        let (q, longest) = kaplan_meier_quantiles(&data);
        let at = |l: f64| q[DURATION_LEVELS.iter().position(|x| (*x - l).abs() < 1e-9).unwrap()];
        assert_eq!(at(0.2), Some(1.0));
        assert_eq!(at(0.25), Some(2.0));
        assert_eq!(at(0.4), Some(2.0));
        assert_eq!(at(0.45), Some(4.0));
        assert_eq!(at(0.7), Some(4.0));
        assert_eq!(at(0.95), Some(5.0));
        assert_eq!(longest, 5.0);
        // Everything censored after the first event: the estimate stops at 0.2.
        let (q, _) = kaplan_meier_quantiles(&[(1.0, true), (2.0, false), (3.0, false), (4.0, false), (5.0, false)]);
        assert_eq!(q[3], Some(1.0));
        assert_eq!(q[4], None);
    }

    #[test]
    fn builtin_generator_draws_classes_shapes_and_economics() {
        let cal = WorkloadCalibration::builtin();
        let trace = cal.trace("alibaba_v2023_default").unwrap().clone();
        let mut g = WorkloadGenerator::new(trace.clone(), 10.0, JobEconomics::default(), "sim").unwrap();
        let mut rng = Rng::new(5);
        let mut jobs = Vec::new();
        let start = 1_735_689_600_000_000; // 2025-01-01
        for h in 0..24 * 14 {
            jobs.extend(g.arrivals(start + h * MICROS_PER_HOUR, 3600.0, &mut rng));
        }
        let expected: f64 = (0..24 * 14).map(|h| g.rate_per_hour(start + h * MICROS_PER_HOUR)).sum();
        let n = jobs.len() as f64;
        assert!((n - expected).abs() < 4.0 * expected.sqrt(), "{n} vs {expected}");
        let ls = jobs.iter().filter(|j| j.class == JobClass::LatencySensitive).count() as f64 / n;
        let ls_share: f64 = trace
            .qos
            .iter()
            .filter(|q| JobClass::from_qos(&q.qos) == JobClass::LatencySensitive)
            .map(|q| q.share)
            .sum();
        assert!((ls - ls_share).abs() < 0.05, "{ls} vs {ls_share}");
        // The weekly pattern: arrivals by hour of week over 40 weeks follow the fitted rates.
        let mut counts = vec![0.0; 168];
        let weeks = 40;
        for h in 0..168 * weeks {
            let t = start + h as i64 * MICROS_PER_HOUR;
            counts[(h % 168) as usize] += g.arrivals(t, 3600.0, &mut rng).len() as f64;
        }
        let expected: Vec<f64> =
            (0..168).map(|h| g.rate_per_hour(start + h * MICROS_PER_HOUR) * weeks as f64).collect();
        let pairs: Vec<(f64, f64)> = counts.iter().copied().zip(expected.iter().copied()).collect();
        let r = crate::stats::correlation(&pairs);
        assert!(r > 0.8, "hour-of-week counts vs fitted rates: r = {r}");
        for j in &jobs {
            assert!(j.num_gpu >= 1 && (1..=1000).contains(&j.gpu_milli) && j.duration_s > 0.0);
            match j.class {
                JobClass::LatencySensitive => assert!(j.sla_latency_ms.is_some() && j.deadline_us.is_none()),
                JobClass::BestEffort => assert!(j.deadline_us.unwrap() > j.created_us),
            }
        }
    }
}
