//! Backtests: every policy drives its own copy of the simulated world (same seed, so the
//! same prices, jobs and failures) through the switching engine; profit is booked from what
//! the simulators report, step by step; the perfect-foresight LP bounds them all.

use std::collections::BTreeMap;
use std::time::Instant;

use hcp_datasets::rows::{DecisionRow, TelemetryRow};
use hcp_datasets::time::MICROS_PER_HOUR;
use hcp_sim::fleet::FleetConfig;
use hcp_sim::workload::JobClass;
use hcp_sim::world::World;

use crate::bound::{Bound, BoundInput, BoundJob, BoundSite, solve};
use crate::classify::{Believed, JobClassifier};
use crate::economics::AsicEconomics;
use crate::engine::{Engine, EngineConfig, EngineCounters, initial};
use crate::error::{Error, Result};
use crate::observe::observe;
use crate::outlook::{Forecast, Perfect};
use crate::policy::{AlwaysOn, Optimiser, OptimiserConfig, Policy, Targets, Threshold};

/// Money lost to broken promises.
#[derive(Debug, Clone, PartialEq)]
pub struct Penalties {
    /// Each GPU-hour a latency-sensitive job waits for GPUs costs this multiple of its value.
    pub sla_value_multiple: f64,
    /// A best-effort job that finishes after its deadline, or not at all with its deadline
    /// passed, forfeits this share of its full value.
    pub late_share: f64,
    /// Wear cost of one device's wake or sleep, USD.
    pub wear_usd_per_device_switch: f64,
}

impl Default for Penalties {
    fn default() -> Self {
        Penalties { sla_value_multiple: 2.0, late_share: 0.25, wear_usd_per_device_switch: 0.02 }
    }
}

/// A backtest.
#[derive(Debug)]
pub struct BacktestConfig {
    pub fleet: FleetConfig,
    pub days: u32,
    pub seed: u64,
    pub optimiser: OptimiserConfig,
    pub engine: EngineConfig,
    pub penalties: Penalties,
    /// hcp's forecaster per node; without it the `optimiser_hcp` policy is not run.
    pub forecast: Option<Forecast>,
    /// Where the policies start (UTC µs); the world's days before it are history only.
    pub from_us: Option<i64>,
    /// hcp's workload classifier: with it (and `forecast`), `optimiser_hcp_classified` plans on
    /// the classes it gives the jobs' specs instead of the trace's labels.
    pub classifier: Option<JobClassifier>,
}

/// What one policy earned and how it behaved.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PolicyResult {
    pub policy: String,
    pub profit_usd: f64,
    pub mining_revenue_usd: f64,
    pub gpu_revenue_usd: f64,
    pub energy_cost_usd: f64,
    pub sla_penalty_usd: f64,
    pub late_penalty_usd: f64,
    pub wear_cost_usd: f64,
    /// Profit as a percentage of the perfect-foresight bound.
    pub percent_of_optimum: f64,
    /// Site-steps whose power ended above the cap.
    pub cap_violations: u64,
    pub max_cap_ratio: f64,
    /// Latency-sensitive job-steps spent waiting for GPUs.
    pub sla_violations: u64,
    /// Jobs the policy took for the wrong class (a classifier's policy only): latency-sensitive
    /// taken for best-effort, best-effort for latency-sensitive.
    pub ls_taken_for_be: u64,
    pub be_taken_for_ls: u64,
    pub late_jobs: u64,
    pub jobs_finished: u64,
    pub switch_count: u64,
    pub engine: EngineCounters,
    pub decision_latency_ms_p50: f64,
    pub decision_latency_ms_p99: f64,
    pub decision_latency_ms_max: f64,
    /// Profit per calendar month (UTC), `YYYY-MM`.
    pub monthly_profit_usd: BTreeMap<String, f64>,
}

/// A backtest's summary (`summary.json`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    pub fleet: String,
    pub start_us: i64,
    pub days: u32,
    pub steps: u64,
    pub step_minutes: u32,
    pub seed: u64,
    pub hours_without_price: u64,
    pub jobs_arrived: usize,
    pub perfect_foresight: Bound,
    pub policies: Vec<PolicyResult>,
}

/// The `q` quantile of sorted values (nearest rank; 0 when empty).
pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn month_of(us: i64) -> String {
    let days = us.div_euclid(86_400_000_000);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}")
}

/// Each group's configured target: the fleet file's, else its model's stock power.
pub fn targets(world: &World) -> Targets {
    world.sites.iter().flat_map(|s| s.groups.iter()).map(|g| (g.id.clone(), g.configured_target_w())).collect()
}

fn economics(world: &World) -> BTreeMap<String, AsicEconomics> {
    world
        .sites
        .iter()
        .flat_map(|s| s.groups.iter())
        .map(|g| (g.model.name.clone(), AsicEconomics::new(g.model.clone())))
        .collect()
}

fn new_world(cfg: &BacktestConfig) -> Result<World> {
    let mut world = World::new(cfg.fleet.clone(), cfg.days, cfg.seed)?;
    if let Some(from) = cfg.from_us {
        world.skip_to(from)?;
    }
    world.hand_over();
    world.record_telemetry = true;
    Ok(world)
}

/// The realised hourly prices per node over the whole world (`None` where the market has none).
fn realised(world: &World) -> Perfect {
    let hours = cfg_hours(world);
    let mut prices = BTreeMap::new();
    for site in &world.sites {
        if prices.contains_key(&site.node) {
            continue;
        }
        let series: Vec<Option<f64>> =
            (0..hours).map(|h| world.true_price(&site.node, world.start_us + h as i64 * MICROS_PER_HOUR)).collect();
        prices.insert(site.node.clone(), series);
    }
    Perfect { start_us: world.start_us, prices }
}

/// Hours from the world's start to its end (the realised series cover them all).
fn cfg_hours(world: &World) -> usize {
    ((world.end_us() - world.start_us) / MICROS_PER_HOUR) as usize
}

/// The first backtest hour's index from the world's start.
fn first_hour(world: &World) -> usize {
    ((world.now_us - world.start_us) / MICROS_PER_HOUR) as usize
}

/// Runs one policy on `world` (a copy of the backtest's start); returns its result (percent of
/// optimum filled in later), its actions and the world at the end. With `classifier`, the policy
/// and the engine see the classes it gives the jobs; penalties follow the true classes.
fn run_policy(
    cfg: &BacktestConfig,
    policy: &mut dyn Policy,
    prices: &Perfect,
    mut world: World,
    classifier: Option<&JobClassifier>,
) -> Result<(PolicyResult, Vec<DecisionRow>, World)> {
    let mut believed = classifier.map(Believed::new);
    let mut engine = Engine::at_start(cfg.engine.clone(), &world);
    let mut telemetry: Vec<TelemetryRow> = Vec::new();
    let mut rows = Vec::new();
    let mut latencies = Vec::new();
    let mut r = PolicyResult {
        policy: policy.name().to_string(),
        profit_usd: 0.0,
        mining_revenue_usd: 0.0,
        gpu_revenue_usd: 0.0,
        energy_cost_usd: 0.0,
        sla_penalty_usd: 0.0,
        late_penalty_usd: 0.0,
        wear_cost_usd: 0.0,
        percent_of_optimum: 0.0,
        cap_violations: 0,
        max_cap_ratio: 0.0,
        sla_violations: 0,
        ls_taken_for_be: 0,
        be_taken_for_ls: 0,
        late_jobs: 0,
        jobs_finished: 0,
        switch_count: 0,
        engine: EngineCounters::default(),
        decision_latency_ms_p50: 0.0,
        decision_latency_ms_p99: 0.0,
        decision_latency_ms_max: 0.0,
        monthly_profit_usd: BTreeMap::new(),
    };
    let mut step = 0u64;
    let mut prev_price: BTreeMap<String, f64> = BTreeMap::new();
    while !world.is_done() {
        let truth = observe(&world, &telemetry);
        let relabelled = match believed.as_mut() {
            Some(b) => Some(b.relabel(truth.clone(), &world)?),
            None => None,
        };
        let obs = relabelled.as_ref().unwrap_or(&truth);
        let t0 = Instant::now();
        let decision = policy.decide(obs)?;
        let actions = engine.apply(&mut world, obs, &decision, policy.name(), step);
        latencies.push(t0.elapsed().as_secs_f64() * 1e3);
        rows.extend(actions);
        let dt_h = world.step_s / 3600.0;
        let hp = world.hashprice(world.now_us);
        let now = world.now_us;
        let waiting_ls: f64 = truth
            .queue
            .iter()
            .filter(|j| j.class == JobClass::LatencySensitive)
            .map(|j| {
                r.sla_violations += 1;
                j.gpu_equivalents() * j.value_usd_per_gpu_hour
            })
            .sum();
        let report = world.step()?;
        telemetry = std::mem::take(&mut world.telemetry);
        let mut step_profit = -waiting_ls * cfg.penalties.sla_value_multiple * dt_h;
        r.sla_penalty_usd += waiting_ls * cfg.penalties.sla_value_multiple * dt_h;
        for (site, s) in world.sites.iter().zip(&report.sites) {
            let hour = ((now - world.start_us) / MICROS_PER_HOUR) as usize;
            let price = prices.prices[&site.node].get(hour).copied().flatten();
            let price = match price {
                Some(p) => {
                    prev_price.insert(site.node.clone(), p);
                    p
                }
                None => prev_price.get(&site.node).copied().unwrap_or(0.0),
            };
            let mining = s.hashrate_ths * hp * world.step_s / 86_400.0;
            let energy = s.power_w * price * world.step_s / 3.6e9;
            r.mining_revenue_usd += mining;
            r.gpu_revenue_usd += s.gpu_value_usd;
            r.energy_cost_usd += energy;
            step_profit += mining + s.gpu_value_usd - energy;
            let ratio = s.power_w / site.power_cap_w;
            r.max_cap_ratio = r.max_cap_ratio.max(ratio);
            if ratio > 1.0 + 1e-9 {
                r.cap_violations += 1;
            }
        }
        *r.monthly_profit_usd.entry(month_of(now)).or_default() += step_profit;
        step += 1;
    }
    let end = world.end_us();
    for (job, finished) in world.jobs.values() {
        if job.class != JobClass::BestEffort {
            continue;
        }
        if finished.is_some() {
            r.jobs_finished += 1;
        }
        let Some(deadline) = job.deadline_us else { continue };
        let late = match finished {
            Some(f) => *f > deadline,
            None => deadline < end,
        };
        if late {
            r.late_jobs += 1;
            let p =
                cfg.penalties.late_share * job.value_usd_per_gpu_hour * job.gpu_equivalents() * job.duration_s / 3600.0;
            r.late_penalty_usd += p;
            *r.monthly_profit_usd.entry(month_of(deadline.min(end - 1))).or_default() -= p;
        }
    }
    if let Some(b) = &believed {
        (r.ls_taken_for_be, r.be_taken_for_ls) = (b.ls_as_be, b.be_as_ls);
    }
    r.engine = engine.counters();
    r.switch_count = r.engine.device_switches;
    r.wear_cost_usd = r.engine.device_switches as f64 * cfg.penalties.wear_usd_per_device_switch;
    if let Some(last) = r.monthly_profit_usd.values_mut().last() {
        *last -= r.wear_cost_usd;
    }
    r.profit_usd = r.mining_revenue_usd + r.gpu_revenue_usd
        - r.energy_cost_usd
        - r.sla_penalty_usd
        - r.late_penalty_usd
        - r.wear_cost_usd;
    latencies.sort_by(f64::total_cmp);
    r.decision_latency_ms_p50 = percentile(&latencies, 0.5);
    r.decision_latency_ms_p99 = percentile(&latencies, 0.99);
    r.decision_latency_ms_max = latencies.last().copied().unwrap_or(0.0);
    Ok((r, rows, world))
}

/// The bound's view of the world over the backtest hours `first..` (the jobs that arrived).
fn bound_input(world: &World, prices: &Perfect, first: usize) -> BoundInput {
    let hours = cfg_hours(world) - first;
    let begin_us = world.start_us + first as i64 * MICROS_PER_HOUR;
    let hashprice = (0..hours).map(|h| world.hashprice(begin_us + h as i64 * MICROS_PER_HOUR)).collect();
    let sites = world
        .sites
        .iter()
        .map(|site| {
            let series = &prices.prices[&site.node];
            let mut last = series[..first].iter().rev().find_map(|p| *p).unwrap_or(0.0);
            let price = series[first..]
                .iter()
                .map(|p| {
                    if let Some(p) = p {
                        last = *p;
                    }
                    last
                })
                .collect();
            let gpus: f64 = site.pools.iter().map(|p| p.len() as f64).sum();
            let (idle, batch_extra, serving_extra) = match site.pools.first() {
                Some(p) => {
                    let idle = p.model.idle_w;
                    let serving: Vec<f64> = (0..hours)
                        .map(|h| {
                            let t = begin_us + h as i64 * MICROS_PER_HOUR;
                            let local =
                                ((t.rem_euclid(86_400_000_000) / MICROS_PER_HOUR) as f64 - 6.0).rem_euclid(24.0);
                            let load = 1.0 + 0.3 * (std::f64::consts::TAU * (local - 14.0) / 24.0).cos();
                            p.gpu_power_at((p.physics.serving_util * load).clamp(0.0, 1.0)) - idle
                        })
                        .collect();
                    (idle, p.gpu_power_at(p.physics.batch_util) - idle, serving)
                }
                None => (0.0, 0.0, vec![0.0; hours]),
            };
            BoundSite {
                cap_w: site.power_cap_w,
                price,
                groups: site.groups.iter().map(|g| (g.model.clone(), g.len())).collect(),
                gpus,
                gpu_idle_w: idle,
                batch_extra_w: batch_extra,
                serving_extra_w: serving_extra,
            }
        })
        .collect();
    let jobs = world
        .jobs
        .values()
        .map(|(j, _)| BoundJob {
            class: j.class,
            arrival_us: j.created_us,
            duration_s: j.duration_s,
            gpus: j.gpu_equivalents(),
            value_usd_per_gpu_hour: j.value_usd_per_gpu_hour,
            deadline_us: j.deadline_us,
        })
        .collect();
    BoundInput { start_us: begin_us, hours, hashprice, sites, jobs }
}

/// The policy that plans on hcp's forecasts and on the classes hcp's classifier gives the jobs.
pub const CLASSIFIED: &str = "optimiser_hcp_classified";

/// Runs every policy and the bound.
pub fn run(cfg: &BacktestConfig, progress: &dyn Fn(&str)) -> Result<(Summary, Vec<DecisionRow>)> {
    if cfg.days == 0 {
        return Err(Error::Config("backtest: the period is empty (--to must be after --from)".into()));
    }
    // Built once (a replayed market parses its file here) and copied for every policy, so all
    // of them start from the same prices, jobs and device draws.
    let start = new_world(cfg)?;
    let first = first_hour(&start);
    let begin_us = start.now_us;
    let prices = realised(&start);
    let hours_without_price = prices.prices.values().flat_map(|s| &s[first..]).filter(|p| p.is_none()).count() as u64;
    let targets = targets(&start);
    let economics = economics(&start);
    let initial = initial(&start);
    let mut policies: Vec<Box<dyn Policy>> = vec![
        Box::new(AlwaysOn { targets: targets.clone() }),
        Box::new(Threshold::new(targets.clone(), economics.clone())),
        Box::new(Optimiser::new(
            "optimiser_perfect",
            cfg.optimiser.clone(),
            Box::new(prices.clone()),
            economics.clone(),
            initial.clone(),
        )?),
    ];
    if let Some(f) = &cfg.forecast {
        policies.push(Box::new(Optimiser::new(
            "optimiser_hcp",
            cfg.optimiser.clone(),
            Box::new(f.clone()),
            economics.clone(),
            initial.clone(),
        )?));
        if cfg.classifier.is_some() {
            policies.push(Box::new(Optimiser::new(
                CLASSIFIED,
                cfg.optimiser.clone(),
                Box::new(f.clone()),
                economics.clone(),
                initial.clone(),
            )?));
        }
    }
    let mut results = Vec::new();
    let mut all_rows = Vec::new();
    let mut last_world = None;
    for policy in &mut policies {
        progress(policy.name());
        let classifier = if policy.name() == CLASSIFIED { cfg.classifier.as_ref() } else { None };
        let (r, rows, world) = run_policy(cfg, policy.as_mut(), &prices, start.clone(), classifier)?;
        results.push(r);
        all_rows.extend(rows);
        last_world = Some(world);
    }
    let world = last_world.expect("at least one policy");
    progress("perfect_foresight");
    let bound = solve(&bound_input(&world, &prices, first))?;
    for r in &mut results {
        r.percent_of_optimum =
            if bound.profit_usd.abs() > 1e-9 { 100.0 * r.profit_usd / bound.profit_usd } else { 0.0 };
    }
    let summary = Summary {
        fleet: cfg.fleet.name.clone(),
        start_us: begin_us,
        days: ((world.end_us() - begin_us) / (24 * MICROS_PER_HOUR)) as u32,
        steps: world.counters().steps,
        step_minutes: cfg.fleet.step_minutes,
        seed: cfg.seed,
        hours_without_price,
        jobs_arrived: world.jobs.len(),
        perfect_foresight: bound,
        policies: results,
    };
    Ok((summary, all_rows))
}

impl Summary {
    /// The short human report (`report.md`).
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "# Backtest: {} from {} for {} days ({} steps of {} min, seed {})\n\n",
            self.fleet,
            hcp_datasets::time::format_micros(self.start_us),
            self.days,
            self.steps,
            self.step_minutes,
            self.seed
        );
        let b = &self.perfect_foresight;
        s += &format!(
            "Perfect-foresight bound (HiGHS LP, {} columns, {} rows, {:.1} s): profit ${:.0} (mining ${:.0}, GPU ${:.0}, energy ${:.0}). {} jobs arrived; {} hours had no price (the previous hour's was used).\n\n",
            b.columns,
            b.rows,
            b.solve_s,
            b.profit_usd,
            b.mining_revenue_usd,
            b.gpu_revenue_usd,
            b.energy_cost_usd,
            self.jobs_arrived,
            self.hours_without_price
        );
        s += "| policy | profit $ | % of optimum | mining $ | GPU $ | energy $ | SLA $ | late $ | wear $ | cap violations | max power/cap | SLA job-steps | late jobs | switches | decision p50 / p99 ms |\n";
        s += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        for p in &self.policies {
            s += &format!(
                "| {} | {:.0} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {:.4} | {} | {} | {} | {:.2} / {:.2} |\n",
                p.policy,
                p.profit_usd,
                p.percent_of_optimum,
                p.mining_revenue_usd,
                p.gpu_revenue_usd,
                p.energy_cost_usd,
                p.sla_penalty_usd,
                p.late_penalty_usd,
                p.wear_cost_usd,
                p.cap_violations,
                p.max_cap_ratio,
                p.sla_violations,
                p.late_jobs,
                p.switch_count,
                p.decision_latency_ms_p50,
                p.decision_latency_ms_p99
            );
        }
        s += "\nThe switching engine: group settings sent and how long until telemetry showed them in effect (from the first send, in whole steps: lost commands are resent two steps on).\n\n";
        s += "| policy | commands | retries | given up | settings applied | applied after p50 / p99 / max min | superseded before applied | increases deferred (cap) | placements / deferred |\n";
        s += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        for p in &self.policies {
            let e = &p.engine;
            s += &format!(
                "| {} | {} | {} | {} | {} | {:.0} / {:.0} / {:.0} | {} | {} | {} / {} |\n",
                p.policy,
                e.commands,
                e.retries,
                e.given_up,
                e.applied,
                e.applied_after_s_p50 / 60.0,
                e.applied_after_s_p99 / 60.0,
                e.applied_after_s_max / 60.0,
                e.superseded,
                e.deferred_increases,
                e.placements,
                e.placements_deferred
            );
        }
        if let Some(p) = self.policies.iter().find(|p| p.policy == CLASSIFIED) {
            s += &format!(
                "\n`{CLASSIFIED}` planned on the classes hcp's workload classifier gave the jobs' specs: {} latency-sensitive jobs taken for best-effort, {} best-effort taken for latency-sensitive (penalties follow the true classes).\n",
                p.ls_taken_for_be, p.be_taken_for_ls
            );
        }
        let months: std::collections::BTreeSet<&String> =
            self.policies.iter().flat_map(|p| p.monthly_profit_usd.keys()).collect();
        if months.len() > 1 {
            s += "\nProfit by month (USD):\n\n| month |";
            for p in &self.policies {
                s += &format!(" {} |", p.policy);
            }
            s += "\n|---|";
            s += &"---:|".repeat(self.policies.len());
            s += "\n";
            for m in months {
                s += &format!("| {m} |");
                for p in &self.policies {
                    s += &format!(" {:.0} |", p.monthly_profit_usd.get(m).copied().unwrap_or(0.0));
                }
                s += "\n";
            }
        }
        s
    }
}

/// Writes `summary.json`, `decisions.parquet` and `report.md` into `out`.
pub fn write_outputs(out: &std::path::Path, summary: &Summary, rows: &[DecisionRow], run_id: &str) -> Result<()> {
    use hcp_datasets::writer::write_bytes_atomically;
    let mut keys = std::collections::BTreeSet::new();
    if let Some(dup) = rows.iter().find(|r| !keys.insert(r.idempotency_key.as_str())) {
        return Err(Error::Config(format!("two actions share the idempotency key `{}`", dup.idempotency_key)));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let opts = hcp_datasets::WriteOptions::new(run_id, "hcp backtest");
    hcp_datasets::write_parquet_file(
        &out.join("decisions.parquet"),
        hcp_datasets::Table::Decisions,
        &hcp_datasets::rows::decisions_batch(rows),
        &opts,
    )?;
    let json = serde_json::to_vec_pretty(summary).map_err(|e| Error::Config(e.to_string()))?;
    write_bytes_atomically(&out.join("summary.json"), &json)?;
    write_bytes_atomically(&out.join("report.md"), summary.markdown().as_bytes())?;
    Ok(())
}
