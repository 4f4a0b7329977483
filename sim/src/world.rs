//! The whole simulated world of a fleet file, stepped in fixed steps: prices and Bitcoin
//! network drawn up front, workloads arriving, GPU jobs placed first-fit, ASIC groups run by the
//! configured mining policy, commands passing through a faulty link, telemetry sampled at the
//! end of each step.
//!
//! A scheduler (hcp-scheduler) takes over with [`World::hand_over`] and drives the world
//! through [`World::submit`], [`World::place`] and [`World::preempt`]: in process in its
//! backtests, over the network through [`crate::site_server`] in its daemon. A group's telemetry
//! row says `running=N;sleeping=N;transitioning=N;failed=N;target_w=W` (W: the highest target
//! a device holds, as the firmware reports it).

use std::collections::{BTreeMap, VecDeque};

use hcp_datasets::rows::{BtcNetworkRow, PriceRow, TelemetryRow};
use hcp_datasets::time::{MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_SECOND, format_micros};

use crate::asic::{AsicCatalog, AsicGroup, GroupTotals};
use crate::btc::{BtcCalibration, simulate_network, simulate_rental};
use crate::error::{Error, Result};
use crate::faults::{CommandLink, price_gaps};
use crate::fleet::FleetConfig;
use crate::gpu::{GpuPool, gpu_model};
use crate::price::{PriceCalibration, PriceModel, PriceSource};
use crate::rng::Rng;
use crate::workload::{JobClass, SimJob, WorkloadCalibration, WorkloadGenerator};

/// A command to a device group.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    SetPowerTarget {
        group: String,
        power_w: f64,
    },
    Sleep {
        group: String,
    },
    Wake {
        group: String,
    },
    /// Keeps the group's first `count` devices awake and puts the rest to sleep.
    SetAwake {
        group: String,
        count: usize,
    },
}

impl Command {
    pub fn group(&self) -> &str {
        match self {
            Command::SetPowerTarget { group, .. }
            | Command::Sleep { group }
            | Command::Wake { group }
            | Command::SetAwake { group, .. } => group,
        }
    }
}

/// One site's devices.
#[derive(Debug, Clone)]
pub struct Site {
    pub id: String,
    pub node: String,
    pub power_cap_w: f64,
    pub groups: Vec<AsicGroup>,
    pub pools: Vec<GpuPool>,
    ambient: (f64, f64, f64),
}

impl Site {
    /// Ambient temperature at `time_us`: annual cycle peaking in mid-July, daily cycle peaking
    /// at 15:00 Central (21:00 UTC).
    pub fn ambient_c(&self, time_us: i64) -> f64 {
        let (mean, daily, annual) = self.ambient;
        let day = (time_us.rem_euclid(365 * MICROS_PER_DAY)) as f64 / MICROS_PER_DAY as f64;
        let hour = (time_us.rem_euclid(MICROS_PER_DAY)) as f64 / MICROS_PER_HOUR as f64;
        mean + annual * (std::f64::consts::TAU * (day - 196.0) / 365.0).cos()
            + daily * (std::f64::consts::TAU * (hour - 21.0) / 24.0).cos()
    }
}

/// Totals of one step, per site.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteStep {
    pub power_w: f64,
    pub asic_power_w: f64,
    pub gpu_power_w: f64,
    pub hashrate_ths: f64,
    pub gpu_hours: f64,
    /// What the GPU work done earned (job value × GPU-hours), USD.
    pub gpu_value_usd: f64,
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepReport {
    pub time_us: i64,
    pub sites: Vec<SiteStep>,
    pub device_steps: u64,
}

/// A pending command delivery.
#[derive(Debug, Clone)]
struct Pending {
    at_us: i64,
    seq: u64,
    command: Command,
}

#[derive(Debug, Clone)]
struct Queued {
    job: SimJob,
    remaining_s: Option<f64>,
    warm: bool,
}

/// Counters of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunCounters {
    pub steps: u64,
    pub device_steps: u64,
    pub jobs_arrived: u64,
    pub jobs_finished: u64,
    pub jobs_evicted: u64,
    pub commands_sent: u64,
    pub commands_lost: u64,
    pub commands_duplicated: u64,
    pub commands_delayed: u64,
    pub telemetry_dropped: u64,
    /// Delayed commands a group refused because it had applied a newer one.
    pub commands_stale: u64,
    /// Highest site power over its cap seen at any step (must stay at or below 1).
    pub max_cap_ratio: f64,
}

/// The simulated world. A clone continues exactly as the original would (same draws).
#[derive(Debug, Clone)]
pub struct World {
    pub cfg: FleetConfig,
    pub start_us: i64,
    pub step_s: f64,
    pub now_us: i64,
    pub sites: Vec<Site>,
    /// True hourly prices per node (what the site pays).
    true_rtm: BTreeMap<String, Vec<Option<f64>>>,
    /// The price feed as observed (gaps injected), per node.
    pub feed: Vec<PriceRow>,
    feed_rtm: BTreeMap<String, Vec<Option<f64>>>,
    pub btc: Vec<BtcNetworkRow>,
    pub rental: Vec<(i64, String, f64)>,
    generators: Vec<WorkloadGenerator>,
    queue: VecDeque<Queued>,
    pending: Vec<Pending>,
    seq: u64,
    /// Sequence number of the last command each group applied.
    applied: BTreeMap<String, u64>,
    link: CommandLink,
    rng: Rng,
    policy_breakeven: bool,
    /// Set by [`World::hand_over`]: a scheduler places jobs and runs the ASIC groups.
    external: bool,
    /// Every job that arrived, with its finish time once done.
    pub jobs: BTreeMap<String, (SimJob, Option<i64>)>,
    pub telemetry: Vec<TelemetryRow>,
    pub record_telemetry: bool,
    /// What the run counted itself; the command link counts its own (see [`World::counters`]).
    counters: RunCounters,
    hours: usize,
}

/// Refuses a replay file whose prices of some node start after `start_us` or end before
/// `end_us`: the world would carry the last price known across the hours it lacks and book
/// money on it. Gaps inside the file's span (the clock change's repeated hour) are the
/// file's own, counted where the world reports hours without a price.
fn replay_covers(
    rows: &[PriceRow],
    nodes: &[String],
    start_us: i64,
    end_us: i64,
    file: &std::path::Path,
) -> Result<()> {
    for node in nodes {
        let times = rows.iter().filter(|r| &*r.node == node.as_str()).map(|r| r.interval_start_us);
        let Some((first, last)) =
            times.fold(None, |span: Option<(i64, i64)>, t| Some(span.map_or((t, t), |(a, b)| (a.min(t), b.max(t)))))
        else {
            return Err(Error::Config(format!("`market.replay_file` {}: no prices of node `{node}`", file.display())));
        };
        if first > start_us || last + MICROS_PER_HOUR < end_us {
            return Err(Error::Config(format!(
                "`market.replay_file` {}: the prices of `{node}` run {} .. {}, which does not cover the simulated {} .. {}",
                file.display(),
                format_micros(first),
                format_micros(last + MICROS_PER_HOUR),
                format_micros(start_us),
                format_micros(end_us)
            )));
        }
    }
    Ok(())
}

impl World {
    /// Builds the world for `days` days from the fleet file's start.
    pub fn new(cfg: FleetConfig, days: u32, seed: u64) -> Result<World> {
        cfg.validate()?;
        let root = Rng::new(seed);
        let start_us = cfg.start_us()?;
        let hours = days as usize * 24;
        let nodes: Vec<String> = cfg.nodes().into_iter().map(str::to_string).collect();
        let source = match cfg.market.source.as_str() {
            "replay" => {
                let file = cfg.market.replay_file.clone().expect("validated");
                let parsed =
                    hcp_datasets::ingest::parse(hcp_datasets::ingest::Format::Ercot, std::slice::from_ref(&file))?;
                let mut rows = Vec::new();
                for batch in parsed.batches(hcp_datasets::Table::Prices) {
                    rows.extend(
                        hcp_datasets::rows::price_rows(batch)?
                            .into_iter()
                            .filter(|r| nodes.contains(&r.node.to_string())),
                    );
                }
                replay_covers(&rows, &nodes, start_us, start_us + hours as i64 * MICROS_PER_HOUR, &file)?;
                PriceSource::Replay(rows)
            }
            _ => {
                let mut models = Vec::new();
                for node in &nodes {
                    let name = cfg
                        .market
                        .calibrations
                        .get(node)
                        .cloned()
                        .or_else(|| PriceCalibration::builtin_for_node(node).map(str::to_string))
                        .ok_or_else(|| {
                            Error::Config(format!(
                                "`market.calibrations`: no calibration for node `{node}` (built-in: HB_WEST, LZ_WEST; fit one with `hcp sim calibrate --node {node}`)"
                            ))
                        })?;
                    models.push(PriceModel::new(PriceCalibration::load(&name)?)?);
                }
                PriceSource::Synthetic { models, shock_correlation: cfg.market.shock_correlation }
            }
        };
        let prices = source.rows(start_us, hours, &root.fork(1));
        let mut true_rtm: BTreeMap<String, Vec<Option<f64>>> =
            nodes.iter().map(|n| (n.clone(), vec![None; hours])).collect();
        for r in &prices {
            let h = ((r.interval_start_us - start_us) / MICROS_PER_HOUR) as usize;
            if let Some(series) = true_rtm.get_mut(&*r.node)
                && h < hours
            {
                series[h] = r.rtm_price_per_mwh;
            }
        }
        if let Some((node, _)) = true_rtm.iter().find(|(_, s)| s.iter().all(Option::is_none)) {
            return Err(Error::Config(format!("no prices for node `{node}` in the simulated period")));
        }
        let mut gap_rng = root.fork(2);
        let mut feed = Vec::with_capacity(prices.len());
        let mut feed_rtm = true_rtm.clone();
        for node in &nodes {
            let silent = price_gaps(&cfg.faults, hours, &mut gap_rng);
            let series = feed_rtm.get_mut(node).expect("node");
            for (h, s) in silent.iter().enumerate() {
                if *s {
                    series[h] = None;
                }
            }
            feed.extend(prices.iter().filter(|r| &*r.node == node.as_str()).map(|r| {
                let h = ((r.interval_start_us - start_us) / MICROS_PER_HOUR) as usize;
                let mut r = r.clone();
                if silent.get(h).copied().unwrap_or(false) {
                    r.rtm_price_per_mwh = None;
                    r.dam_price_per_mwh = None;
                }
                r
            }));
        }
        let btc =
            simulate_network(&BtcCalibration::builtin(), &cfg.bitcoin, start_us, days as usize, &mut root.fork(3));
        let rental = simulate_rental(&cfg.rental, start_us, days as usize, &mut root.fork(4));

        let catalog = AsicCatalog::builtin();
        let mut sites = Vec::new();
        let mut total_gpus = 0u64;
        for (s, sc) in cfg.sites.iter().enumerate() {
            let mut groups = Vec::new();
            for (g, gc) in sc.asic_groups.iter().enumerate() {
                let model = catalog.get(&gc.model)?.clone();
                let target = gc.power_target_w.unwrap_or(model.stock.power_w);
                let mut group = AsicGroup::new(
                    &gc.id,
                    model,
                    gc.physics.clone(),
                    gc.count,
                    target,
                    root.fork(1000 + s as u64 * 100 + g as u64),
                )?;
                group.extra_failures_per_year =
                    gc.physics.failures_per_year * (cfg.faults.failure_rate_multiplier - 1.0);
                groups.push(group);
            }
            let mut pools = Vec::new();
            for (p, pc) in sc.gpu_pools.iter().enumerate() {
                let mut pool = GpuPool::new(
                    &pc.id,
                    gpu_model(&pc.model)?,
                    pc.physics.clone(),
                    pc.nodes,
                    pc.gpus_per_node,
                    root.fork(2000 + s as u64 * 100 + p as u64),
                );
                pool.extra_failures_per_year =
                    pc.physics.failures_per_year * (cfg.faults.failure_rate_multiplier - 1.0);
                total_gpus += pool.len() as u64;
                pools.push(pool);
            }
            sites.push(Site {
                id: sc.id.clone(),
                node: sc.node.clone(),
                power_cap_w: sc.power_cap_mw * 1e6,
                groups,
                pools,
                ambient: (sc.ambient_mean_c, sc.ambient_daily_amplitude_c, sc.ambient_annual_amplitude_c),
            });
        }
        let workloads = WorkloadCalibration::builtin();
        let mut generators = Vec::new();
        if total_gpus > 0 {
            for name in &cfg.workload.traces {
                let trace =
                    workloads.trace(name).map_err(|e| Error::Config(format!("`workload.traces`: {e}")))?.clone();
                let scale = total_gpus as f64 / trace.trace_gpus.max(1) as f64 * cfg.workload.load_factor;
                let short = name.trim_start_matches("alibaba_");
                generators.push(WorkloadGenerator::new(
                    trace,
                    scale,
                    cfg.workload.economics.clone(),
                    &format!("sim_{short}"),
                )?);
            }
        }
        let step_s = cfg.step_minutes as f64 * 60.0;
        let link = CommandLink::new(&cfg.faults, root.fork(5));
        let policy_breakeven = cfg.policy.mining == "breakeven";
        Ok(World {
            start_us,
            step_s,
            now_us: start_us,
            sites,
            true_rtm,
            feed,
            feed_rtm,
            btc,
            rental,
            generators,
            queue: VecDeque::new(),
            pending: Vec::new(),
            seq: 0,
            applied: BTreeMap::new(),
            link,
            rng: root.fork(6),
            policy_breakeven,
            external: cfg.policy.mining == "scheduler",
            jobs: BTreeMap::new(),
            telemetry: Vec::new(),
            record_telemetry: true,
            counters: RunCounters::default(),
            hours,
            cfg,
        })
    }

    /// The run's counters so far, the command link's included.
    pub fn counters(&self) -> RunCounters {
        RunCounters {
            commands_sent: self.link.sent,
            commands_lost: self.link.lost,
            commands_duplicated: self.link.duplicated,
            commands_delayed: self.link.delayed,
            ..self.counters.clone()
        }
    }

    pub fn end_us(&self) -> i64 {
        self.start_us + self.hours as i64 * MICROS_PER_HOUR
    }
    pub fn is_done(&self) -> bool {
        self.now_us >= self.end_us()
    }

    fn hour_index(&self, time_us: i64) -> usize {
        (((time_us - self.start_us) / MICROS_PER_HOUR) as usize).min(self.hours.saturating_sub(1))
    }

    /// The real-time price the site pays at `time_us`, USD/MWh.
    pub fn true_price(&self, node: &str, time_us: i64) -> Option<f64> {
        self.true_rtm.get(node)?[self.hour_index(time_us)]
    }

    /// The latest price the feed has published at or before `time_us` (hourly prices are
    /// published after their hour: the current hour is not known yet).
    pub fn last_known_price(&self, node: &str, time_us: i64) -> Option<f64> {
        let series = self.feed_rtm.get(node)?;
        let current = (time_us - self.start_us) / MICROS_PER_HOUR;
        (0..current).rev().take(24 * 7).find_map(|h| series.get(h as usize).copied().flatten())
    }

    /// Hashprice of the day, USD per TH/s per day.
    pub fn hashprice(&self, time_us: i64) -> f64 {
        let d = ((time_us - self.start_us) / MICROS_PER_DAY).clamp(0, self.btc.len() as i64 - 1) as usize;
        self.btc[d].hashprice_usd_per_ths_day.unwrap_or(0.0)
    }

    /// Sends a command through the (possibly faulty) link. Each command carries a sequence
    /// number; a group applies a command only if it is not older than the last one it applied,
    /// so a delayed command never undoes a newer one and a duplicate changes nothing.
    pub fn submit(&mut self, command: Command) {
        let fate = self.link.send();
        self.seq += 1;
        for delay in fate.deliveries {
            self.pending.push(Pending {
                at_us: self.now_us + (delay * MICROS_PER_SECOND as f64) as i64,
                seq: self.seq,
                command: command.clone(),
            });
        }
    }

    fn apply(&mut self, command: &Command) -> Result<()> {
        let group = self
            .sites
            .iter_mut()
            .flat_map(|s| s.groups.iter_mut())
            .find(|g| g.id == command.group())
            .ok_or_else(|| Error::Refused(format!("command for unknown group `{}`", command.group())))?;
        let n = group.len();
        match command {
            Command::SetPowerTarget { power_w, .. } => group.set_target(0..n, *power_w)?,
            Command::Sleep { .. } => {
                group.sleep(0..n);
            }
            Command::Wake { .. } => {
                group.wake(0..n);
            }
            Command::SetAwake { count, .. } => {
                let k = (*count).min(n);
                group.sleep(k..n);
                group.wake(0..k);
            }
        }
        Ok(())
    }

    /// Breakeven electricity price of a group at its current target, USD/MWh: hashprice ×
    /// hashrate per device / power per device.
    pub fn breakeven_usd_per_mwh(&self, group: &AsicGroup, time_us: i64) -> f64 {
        let target = group.target_w(0);
        let per_day = self.hashprice(time_us) * group.model.hashrate_at(target);
        per_day / 24.0 / (target / 1e6)
    }

    fn run_policy(&mut self) {
        if !self.policy_breakeven || self.external {
            return;
        }
        let mut commands = Vec::new();
        for site in &self.sites {
            let Some(price) = self.last_known_price(&site.node, self.now_us) else { continue };
            for g in &site.groups {
                let breakeven = self.breakeven_usd_per_mwh(g, self.now_us);
                // From the last step's totals: a lost command is simply sent again.
                let last = g.last_totals();
                let (awake, asleep) = (last.running > 0, last.sleeping > 0);
                if price > breakeven && awake {
                    commands.push(Command::Sleep { group: g.id.clone() });
                } else if price <= breakeven && asleep {
                    commands.push(Command::Wake { group: g.id.clone() });
                }
            }
        }
        for c in commands {
            self.submit(c);
        }
    }

    fn place_queued(&mut self) {
        if self.external {
            return;
        }
        let mut still = VecDeque::new();
        while let Some(q) = self.queue.pop_front() {
            let mut placed = false;
            'sites: for site in &mut self.sites {
                for pool in &mut site.pools {
                    if pool.place(q.job.clone(), None, q.warm, q.remaining_s).is_ok() {
                        placed = true;
                        break 'sites;
                    }
                }
            }
            if !placed {
                still.push_back(q);
            }
        }
        self.queue = still;
    }

    /// Advances one step.
    pub fn step(&mut self) -> Result<StepReport> {
        let t = self.now_us;
        let dt = self.step_s;
        let step_end = t + (dt * MICROS_PER_SECOND as f64) as i64;
        // Scheduled failures inside this step.
        let hours_in = (t - self.start_us) as f64 / MICROS_PER_HOUR as f64;
        let hours_out = hours_in + dt / 3600.0;
        for f in self.cfg.faults.failures.clone() {
            if f.at_hour >= hours_in && f.at_hour < hours_out {
                self.inject_failures(&f.target, f.count)?;
            }
        }
        self.run_policy();
        self.pending.sort_by_key(|p| (p.at_us, p.seq));
        let due: Vec<Pending> = {
            let split = self.pending.partition_point(|p| p.at_us <= t);
            self.pending.drain(..split).collect()
        };
        for p in due {
            let last = self.applied.entry(p.command.group().to_string()).or_insert(0);
            if p.seq < *last {
                self.counters.commands_stale += 1;
                continue;
            }
            *last = p.seq;
            self.apply(&p.command)?;
        }
        for g in 0..self.generators.len() {
            let jobs = self.generators[g].arrivals(t, dt, &mut self.rng);
            for job in jobs {
                self.counters.jobs_arrived += 1;
                self.jobs.insert(job.id.clone(), (job.clone(), None));
                self.queue.push_back(Queued { job, remaining_s: None, warm: false });
            }
        }
        self.place_queued();
        let hour_local = ((t.rem_euclid(MICROS_PER_DAY) / MICROS_PER_HOUR) as f64 - 6.0).rem_euclid(24.0);
        let serving_load = 1.0 + 0.3 * (std::f64::consts::TAU * (hour_local - 14.0) / 24.0).cos();
        let mut report = StepReport { time_us: step_end, sites: Vec::with_capacity(self.sites.len()), device_steps: 0 };
        let mut requeue = Vec::new();
        let mut rows = Vec::new();
        for site in &mut self.sites {
            let ambient = site.ambient_c(t);
            let mut s = SiteStep::default();
            for g in &mut site.groups {
                let totals = g.step(dt, ambient);
                report.device_steps += g.len() as u64;
                s.asic_power_w += totals.power_w;
                s.hashrate_ths += totals.hashrate_ths;
                if self.record_telemetry {
                    rows.push(group_row(g, &totals, step_end));
                }
            }
            for pool in &mut site.pools {
                let ps = pool.step(dt, serving_load);
                report.device_steps += pool.len() as u64;
                s.gpu_power_w += ps.power_w;
                s.gpu_hours += ps.gpu_hours.values().sum::<f64>();
                s.gpu_value_usd += ps.value_usd;
                for (job, at) in ps.finished {
                    self.counters.jobs_finished += 1;
                    if let Some(entry) = self.jobs.get_mut(&job.id) {
                        entry.1 = Some(t + (at * MICROS_PER_SECOND as f64) as i64);
                    }
                }
                for (job, remaining) in ps.evicted {
                    self.counters.jobs_evicted += 1;
                    let warm = job.class == JobClass::LatencySensitive;
                    requeue.push(Queued { job, remaining_s: Some(remaining), warm });
                }
                if self.record_telemetry {
                    let model = &pool.model;
                    rows.push(TelemetryRow {
                        source: "sim".into(),
                        device_id: pool.id.clone(),
                        time_us: step_end,
                        power_w: Some(round1(ps.power_w)),
                        hashrate_ths: None,
                        utilization_ratio: Some(round4(ps.mean_utilization)),
                        gpu_memory_used_bytes: None,
                        temperature_c: Some(round1(
                            ambient + 45.0 * ps.power_w / (model.tdp_w * pool.len().max(1) as f64),
                        )),
                        state: Some(format!("busy={};failed={}", ps.busy_gpus, ps.failed_gpus)),
                    });
                }
            }
            s.power_w = s.asic_power_w + s.gpu_power_w;
            self.counters.max_cap_ratio = self.counters.max_cap_ratio.max(s.power_w / site.power_cap_w);
            if self.record_telemetry {
                rows.push(TelemetryRow {
                    source: "sim".into(),
                    device_id: format!("site:{}", site.id),
                    time_us: step_end,
                    power_w: Some(round1(s.power_w)),
                    hashrate_ths: Some(round4(s.hashrate_ths)),
                    utilization_ratio: None,
                    gpu_memory_used_bytes: None,
                    temperature_c: Some(round1(ambient)),
                    state: None,
                });
            }
            report.sites.push(s);
        }
        for q in requeue.into_iter().rev() {
            self.queue.push_front(q);
        }
        for row in rows {
            if self.cfg.faults.telemetry_dropout > 0.0 && self.rng.uniform() < self.cfg.faults.telemetry_dropout {
                self.counters.telemetry_dropped += 1;
            } else {
                self.telemetry.push(row);
            }
        }
        self.counters.steps += 1;
        self.counters.device_steps += report.device_steps;
        self.now_us = step_end;
        Ok(report)
    }

    fn inject_failures(&mut self, target: &str, count: usize) -> Result<()> {
        for site in &mut self.sites {
            if let Some(g) = site.groups.iter_mut().find(|g| g.id == target) {
                let n = g.len();
                (0..n)
                    .filter(|&i| g.state(i) == crate::asic::DeviceState::Running)
                    .take(count)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .for_each(|i| g.fail(i));
                return Ok(());
            }
            if let Some(p) = site.pools.iter_mut().find(|p| p.id == target) {
                let n = p.len();
                (0..n.min(count)).for_each(|i| p.fail(i));
                return Ok(());
            }
        }
        Err(Error::Config(format!("`faults.failures.target`: no group or pool `{target}`")))
    }

    /// Moves the clock forward to `time_us` without stepping (a backtest that starts after
    /// the world's first days, whose prices it still knows as history). Only before the
    /// first step.
    pub fn skip_to(&mut self, time_us: i64) -> Result<()> {
        if self.counters.steps > 0 || time_us < self.now_us || time_us >= self.end_us() {
            return Err(Error::Config(format!(
                "skip_to: {time_us} is not between the start {} and the end {} of an unstepped world",
                self.now_us,
                self.end_us()
            )));
        }
        self.now_us = self.start_us
            + (time_us - self.start_us) / (self.step_s as i64 * MICROS_PER_SECOND)
                * (self.step_s as i64 * MICROS_PER_SECOND);
        Ok(())
    }

    /// Hands control to a scheduler: from now on the world neither runs its mining policy nor
    /// places queued jobs; the scheduler does both through [`World::submit`],
    /// [`World::place`] and [`World::preempt`].
    pub fn hand_over(&mut self) {
        self.external = true;
    }

    /// Jobs waiting for GPUs, oldest first, with the work they have left (s) when they were
    /// evicted or preempted before.
    pub fn queued(&self) -> impl Iterator<Item = (&SimJob, Option<f64>)> {
        self.queue.iter().map(|q| (&q.job, q.remaining_s))
    }

    /// Places queued job `job_id` on pool `pool_id` (first fit inside the pool).
    pub fn place(&mut self, job_id: &str, pool_id: &str) -> Result<()> {
        let at = self
            .queue
            .iter()
            .position(|q| q.job.id == job_id)
            .ok_or_else(|| Error::Refused(format!("place: job `{job_id}` is not queued")))?;
        let pool = self
            .sites
            .iter_mut()
            .flat_map(|s| s.pools.iter_mut())
            .find(|p| p.id == pool_id)
            .ok_or_else(|| Error::Refused(format!("place: no pool `{pool_id}`")))?;
        let q = self.queue.remove(at).expect("found");
        match pool.place(q.job.clone(), None, q.warm, q.remaining_s) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.queue.insert(at, q);
                Err(Error::Refused(format!("place: {e}")))
            }
        }
    }

    /// Preempts a placed job: stopped work goes back to the queue's front with what it has
    /// left; a best-effort job first writes a checkpoint and comes back when it is written.
    /// `false`: no pool holds the job.
    pub fn preempt(&mut self, job_id: &str) -> bool {
        for pool in self.sites.iter_mut().flat_map(|s| s.pools.iter_mut()) {
            match pool.preempt(job_id) {
                Some(crate::gpu::Preempted::Checkpointing) => return true,
                Some(crate::gpu::Preempted::Stopped { job, remaining_work_s }) => {
                    let warm = job.class == JobClass::LatencySensitive;
                    self.queue.push_front(Queued { job, remaining_s: Some(remaining_work_s), warm });
                    return true;
                }
                None => {}
            }
        }
        false
    }

    /// Every group, for scheduler access.
    pub fn group(&self, id: &str) -> Option<&AsicGroup> {
        self.sites.iter().flat_map(|s| s.groups.iter()).find(|g| g.id == id)
    }

    /// A group to drive device by device (the miners of a simulated site).
    pub fn group_mut(&mut self, id: &str) -> Option<&mut AsicGroup> {
        self.sites.iter_mut().flat_map(|s| s.groups.iter_mut()).find(|g| g.id == id)
    }
}

fn group_row(g: &mut AsicGroup, t: &GroupTotals, time_us: i64) -> TelemetryRow {
    let n = t.running.max(1);
    let power = g.read_total(t.power_w, n);
    let hash = g.read_total(t.hashrate_ths, n);
    TelemetryRow {
        source: "sim".into(),
        device_id: g.id.clone(),
        time_us,
        power_w: Some(round1(power)),
        hashrate_ths: Some(round4(hash)),
        utilization_ratio: None,
        gpu_memory_used_bytes: None,
        temperature_c: Some(round1(t.mean_chip_temp_c)),
        // The firmware reports each device's configured target exactly (a LuxOS `config`
        // names its profile); the group's row carries the highest.
        state: Some(format!(
            "running={};sleeping={};transitioning={};failed={};target_w={}",
            t.running,
            t.sleeping,
            t.transitioning,
            t.failed,
            g.max_target_w()
        )),
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}
