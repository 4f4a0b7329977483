//! Policies: what each yardstick and the optimiser decide from an observation.
//!
//! Every policy respects the site cap in its own plan; the engine keeps it during transitions.
//! - `always_on`: mining never curtailed for price: jobs first come, first served, then every
//!   group hashes at its configured target with as many devices as the cap leaves.
//! - `threshold`: what miners do today: a group sleeps while the last published price is above
//!   its breakeven (hashprice × hashrate / power) and hashes at its configured target
//!   otherwise; jobs first come, first served, ahead of the ASICs, which keep as many devices
//!   awake at their target as the rest of the cap allows.
//! - `optimiser`: over a rolling horizon of hourly price expectations, a genetic algorithm
//!   picks when queued best-effort jobs start (latency-sensitive work is placed at once and
//!   never preempted for mining), and argmin sets each group's power target and awake count for
//!   the current hour within the power the GPUs leave.

use std::collections::BTreeMap;

use hcp_sim::workload::JobClass;

use crate::economics::{AsicEconomics, BudgetTable, GroupSlot, Setting, allocate};
use crate::error::{Error, Result};
use crate::ga::{Candidate, GaConfig, SiteHorizon, plan};
use crate::observe::{JobView, Observation, SiteView};
use crate::outlook::PriceOutlook;

/// What a policy decided for one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Per site, per group.
    pub settings: Vec<Vec<Setting>>,
    /// (job, pool) placements.
    pub place: Vec<(String, String)>,
    pub preempt: Vec<String>,
}

/// A scheduling policy.
pub trait Policy {
    fn name(&self) -> &str;
    fn decide(&mut self, obs: &Observation) -> Result<Decision>;
}

/// Each group's configured target (the fleet file's, else the model's stock point).
pub type Targets = BTreeMap<String, f64>;

/// GPUs and power still free while a step's placements are decided.
struct Room {
    free: Vec<Vec<usize>>,
    /// Power left for new GPU work per site, W.
    power_left_w: Vec<f64>,
    /// Worst-case GPU power the placements add per site, W.
    added_w: Vec<f64>,
}

impl Room {
    fn new(obs: &Observation, power_left_w: Vec<f64>) -> Room {
        Room {
            free: obs.sites.iter().map(|s| s.pools.iter().map(|p| p.free_whole_gpus).collect()).collect(),
            power_left_w,
            added_w: vec![0.0; obs.sites.len()],
        }
    }

    /// First come, first served: each job (in the order given) goes to the first pool with
    /// enough whole GPUs free and power left.
    fn first_come<'a>(&mut self, obs: &Observation, jobs: impl Iterator<Item = &'a JobView>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for j in jobs {
            'sites: for (s, site) in obs.sites.iter().enumerate() {
                for (p, pool) in site.pools.iter().enumerate() {
                    let add = j.num_gpu as f64 * (pool.tdp_w - pool.idle_w);
                    if self.free[s][p] >= j.num_gpu as usize && self.power_left_w[s] >= add {
                        self.free[s][p] -= j.num_gpu as usize;
                        self.power_left_w[s] -= add;
                        self.added_w[s] += add;
                        out.push((j.id.clone(), pool.id.clone()));
                        break 'sites;
                    }
                }
            }
        }
        out
    }
}

/// The groups' draw asleep, W.
fn asleep_w(site: &SiteView) -> f64 {
    site.groups.iter().map(|g| g.devices as f64 * hcp_sim::asic::SLEEP_POWER_W).sum()
}

/// Fills `budget_w` with the groups, most efficient first: each keeps as many of the devices
/// `want` has awake as fit (the operator's rule: curtail just enough devices).
fn fill(site: &SiteView, want: &[Setting], budget_w: f64) -> Vec<Setting> {
    let mut left = budget_w - asleep_w(site);
    let mut out: Vec<Setting> = want.iter().map(|w| Setting::asleep(w.target_w)).collect();
    let mut order: Vec<usize> = (0..site.groups.len()).collect();
    order.sort_by(|&a, &b| {
        let e = |i: usize| site.groups[i].model.stock.hashrate_ths / site.groups[i].model.stock.power_w;
        e(b).total_cmp(&e(a))
    });
    for i in order {
        let extra = want[i].target_w - hcp_sim::asic::SLEEP_POWER_W;
        let k = ((left.max(0.0) / extra).floor() as usize).min(want[i].awake);
        out[i].awake = k;
        left -= k as f64 * extra;
    }
    out
}

/// The yardsticks' shape: jobs first come, first served, then each site's groups get what
/// `want` asks (per site) in the power the jobs leave.
fn jobs_then_asics(obs: &Observation, want: impl Fn(&SiteView) -> Vec<Setting>) -> Decision {
    let mut room = Room::new(obs, obs.sites.iter().map(|s| s.cap_w - s.gpu_worst_w() - asleep_w(s)).collect());
    let place = room.first_come(obs, obs.queue.iter());
    let settings = obs
        .sites
        .iter()
        .zip(&room.added_w)
        .map(|(s, add)| fill(s, &want(s), s.cap_w - s.gpu_worst_w() - add))
        .collect();
    Decision { settings, place, preempt: Vec::new() }
}

/// Mining at the configured targets, always.
#[derive(Debug)]
pub struct AlwaysOn {
    pub targets: Targets,
}

impl Policy for AlwaysOn {
    fn name(&self) -> &str {
        "always_on"
    }

    fn decide(&mut self, obs: &Observation) -> Result<Decision> {
        Ok(jobs_then_asics(obs, |s| s.groups.iter().map(|g| Setting::all(self.targets[&g.id], g.devices)).collect()))
    }
}

/// Strike-price curtailment on the last published price, jobs first come, first served.
#[derive(Debug)]
pub struct Threshold {
    pub targets: Targets,
    economics: BTreeMap<String, AsicEconomics>,
}

impl Threshold {
    pub fn new(targets: Targets, economics: BTreeMap<String, AsicEconomics>) -> Threshold {
        Threshold { targets, economics }
    }
}

impl Policy for Threshold {
    fn name(&self) -> &str {
        "threshold"
    }

    fn decide(&mut self, obs: &Observation) -> Result<Decision> {
        Ok(jobs_then_asics(obs, |s| {
            let price = obs.last_known_price.get(&s.node).copied();
            s.groups
                .iter()
                .map(|g| {
                    let w = self.targets[&g.id];
                    let breakeven = self.economics[&g.model.name].breakeven_usd_per_mwh(w, obs.hashprice);
                    match price {
                        Some(p) if p > breakeven => Setting::asleep(w),
                        _ => Setting::all(w, g.devices),
                    }
                })
                .collect()
        }))
    }
}

/// The longest planning horizon, hours (a week). The GA's genes hold start hours as `u16`.
pub const MAX_HORIZON_HOURS: usize = 168;

/// Optimiser settings.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimiserConfig {
    /// Hours planned over, 1 to [`MAX_HORIZON_HOURS`].
    pub horizon_hours: usize,
    pub ga: GaConfig,
    /// Best-effort work done after its deadline forfeits this share of its value.
    pub late_penalty_share: f64,
    /// Wear cost of one device's wake or sleep, USD: a group only switches when the hour's
    /// gain pays for it.
    pub switch_cost_usd_per_device: f64,
    /// Power kept free for this many GPUs of latency-sensitive work arriving before the next
    /// step (it is placed at once instead of waiting for the miners to shed).
    pub serving_reserve_gpus: usize,
}

impl Default for OptimiserConfig {
    fn default() -> Self {
        OptimiserConfig {
            horizon_hours: 24,
            ga: GaConfig::default(),
            late_penalty_share: 0.25,
            switch_cost_usd_per_device: 0.02,
            serving_reserve_gpus: 16,
        }
    }
}

/// The GA + argmin optimiser over a price outlook.
pub struct Optimiser {
    name: String,
    cfg: OptimiserConfig,
    outlook: Box<dyn PriceOutlook>,
    economics: BTreeMap<String, AsicEconomics>,
    /// Mining tables by (site, hour start): rebuilt when the hour or the outlook changes.
    tables: BTreeMap<(usize, i64), (Vec<f64>, Vec<BudgetTable>)>,
    /// Previous plan's genes by job id and the hour they were planned at.
    warm: BTreeMap<String, u16>,
    warm_hour: i64,
    last: Vec<Vec<Setting>>,
    /// Generations the GA ran, per call (for the report).
    pub ga_generations: Vec<usize>,
}

impl std::fmt::Debug for Optimiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Optimiser").field("name", &self.name).field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

const HOUR_US: i64 = 3_600_000_000;

impl Optimiser {
    /// Refuses a horizon outside 1..=[`MAX_HORIZON_HOURS`].
    pub fn new(
        name: &str,
        cfg: OptimiserConfig,
        outlook: Box<dyn PriceOutlook>,
        economics: BTreeMap<String, AsicEconomics>,
        initial: Vec<Vec<Setting>>,
    ) -> Result<Optimiser> {
        if !(1..=MAX_HORIZON_HOURS).contains(&cfg.horizon_hours) {
            return Err(Error::Config(format!(
                "optimiser {name}: horizon of {} hours; 1 to {MAX_HORIZON_HOURS}",
                cfg.horizon_hours
            )));
        }
        Ok(Optimiser {
            name: name.to_string(),
            cfg,
            outlook,
            economics,
            tables: BTreeMap::new(),
            warm: BTreeMap::new(),
            warm_hour: 0,
            last: initial,
            ga_generations: Vec::new(),
        })
    }

    fn slots<'a>(&'a self, site: &SiteView) -> Vec<GroupSlot<'a>> {
        // Every device, failed ones included: the engine books a device that is not awake at
        // its sleep draw, and a failed one draws nothing, so the plan errs on the safe side.
        site.groups
            .iter()
            .map(|g| GroupSlot { economics: &self.economics[&g.model.name], devices: g.devices })
            .collect()
    }
}

impl Policy for Optimiser {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, obs: &Observation) -> Result<Decision> {
        let hour = obs.now_us.div_euclid(HOUR_US) * HOUR_US;
        let horizon = self.cfg.horizon_hours;
        self.tables.retain(|(_, h), _| *h == hour);
        for (s, site) in obs.sites.iter().enumerate() {
            if self.tables.contains_key(&(s, hour)) {
                continue;
            }
            let prices = self.outlook.hourly(&site.node, hour, horizon);
            let slots = self.slots(site);
            let tables = prices.iter().map(|&p| BudgetTable::build(&slots, p, obs.hashprice)).collect();
            self.tables.insert((s, hour), (prices, tables));
        }
        let into_hour = (obs.now_us - hour) as f64 / HOUR_US as f64;

        // Latency-sensitive work first, wherever it fits.
        let mut room = Room::new(obs, obs.sites.iter().map(|s| s.cap_w - s.gpu_worst_w() - asleep_w(s)).collect());
        let mut place = room.first_come(obs, obs.queue.iter().filter(|j| j.class == JobClass::LatencySensitive));

        // Best-effort work: when to start, by the GA over the horizon.
        let queued: Vec<&JobView> = obs.queue.iter().filter(|j| j.class == JobClass::BestEffort).collect();
        let mut preempt = Vec::new();
        if !queued.is_empty() && obs.sites.iter().any(|s| !s.pools.is_empty()) {
            let (horizons, pool_of) = self.horizons(obs, &room, horizon, into_hour);
            let cands: Vec<Candidate> = queued
                .iter()
                .map(|j| {
                    let pool = &obs.sites[pool_of.0].pools[pool_of.1];
                    let gpus = j.gpu_equivalents();
                    Candidate {
                        gpus,
                        hours: j.remaining_s / 3600.0,
                        value_usd_per_hour: j.value_usd_per_gpu_hour * gpus,
                        deadline_h: j.deadline_us.map(|d| (d - obs.now_us) as f64 / HOUR_US as f64),
                        late_penalty_usd: self.cfg.late_penalty_share * j.value_usd_per_gpu_hour * gpus * j.remaining_s
                            / 3600.0,
                        run_w: gpus * (pool.batch_w - pool.idle_w),
                        reserve_w: j.num_gpu as f64 * (pool.tdp_w - pool.idle_w),
                    }
                })
                .collect();
            let shift = ((hour - self.warm_hour) / HOUR_US).max(0) as u16;
            let warm: Vec<u16> =
                queued.iter().map(|j| self.warm.get(&j.id).map_or(0, |g| g.saturating_sub(shift))).collect();
            let schedule = plan(&horizons, &cands, &self.cfg.ga, Some(&warm));
            self.ga_generations.push(schedule.generations);
            self.warm = queued.iter().zip(&schedule.genes).map(|(j, g)| (j.id.clone(), *g)).collect();
            self.warm_hour = hour;
            // Start now what the plan starts this hour, first come first served among them.
            let now_ids: std::collections::BTreeSet<&str> = queued
                .iter()
                .zip(&schedule.starts)
                .filter(|(_, s)| matches!(s, Some((_, 0))))
                .map(|(j, _)| j.id.as_str())
                .collect();
            place.extend(room.first_come(obs, obs.queue.iter().filter(|j| now_ids.contains(j.id.as_str()))));
        }
        // Running best-effort work that loses money at this hour's expected price, with
        // time to spare before its deadline, is checkpointed and waits.
        for (s, site) in obs.sites.iter().enumerate() {
            let price = self.tables[&(s, hour)].0[0];
            for j in site.running.iter().filter(|j| j.class == JobClass::BestEffort) {
                let Some(pool) = site.pools.iter().find(|p| Some(&p.id) == j.pool.as_ref()) else { continue };
                let cost = price * j.gpu_equivalents() * (pool.batch_w - pool.idle_w) / 1e6;
                let slack_h = j.deadline_us.map_or(f64::INFINITY, |d| (d - obs.now_us) as f64 / HOUR_US as f64);
                if cost > j.value_usd_per_gpu_hour * j.gpu_equivalents() && slack_h > j.remaining_s / 3600.0 + 2.0 {
                    preempt.push(j.id.clone());
                }
            }
        }
        // Continuous targets for this hour (argmin), in what the GPUs leave.
        let mut settings = Vec::with_capacity(obs.sites.len());
        for (s, site) in obs.sites.iter().enumerate() {
            let price = self.tables[&(s, hour)].0[0];
            let reserve: f64 = site
                .pools
                .iter()
                .enumerate()
                .map(|(p, pool)| room.free[s][p].min(self.cfg.serving_reserve_gpus) as f64 * (pool.tdp_w - pool.idle_w))
                .fold(0.0, f64::max);
            // A watt under the cap: the plan fills its budget exactly, and float rounding must
            // not turn that into an increase the engine refuses.
            let budget = (site.cap_w - site.gpu_worst_w() - room.added_w[s] - reserve - 1.0).max(asleep_w(site));
            let slots = self.slots(site);
            let mut chosen = allocate(&slots, price, obs.hashprice, budget)?;
            // Waking a device wears it: only wake when what is left of the hour pays for it
            // (keeping devices asleep never raises the draw).
            for (i, g) in slots.iter().enumerate() {
                let Some(prev) = self.last.get(s).and_then(|l| l.get(i)).copied() else { continue };
                if chosen[i].awake > prev.awake {
                    let gain = (g.economics.device_profit(Some(chosen[i].target_w), price, obs.hashprice)
                        - g.economics.device_profit(None, price, obs.hashprice))
                        * (1.0 - into_hour);
                    if gain < self.cfg.switch_cost_usd_per_device {
                        chosen[i].awake = prev.awake;
                    }
                }
            }
            settings.push(chosen);
        }
        self.last = settings.clone();
        Ok(Decision { settings, place, preempt })
    }
}

impl Optimiser {
    /// The GA's view of every site over the horizon, and the pool whose GPUs set the
    /// candidates' power (the first pool of the fleet).
    fn horizons(
        &self,
        obs: &Observation,
        room: &Room,
        horizon: usize,
        into_hour: f64,
    ) -> (Vec<SiteHorizon>, (usize, usize)) {
        let mut first_pool = None;
        let mut out = Vec::new();
        for (s, site) in obs.sites.iter().enumerate() {
            if first_pool.is_none() && !site.pools.is_empty() {
                first_pool = Some((s, 0));
            }
            let (prices, tables) = &self.tables[&(s, obs.now_us.div_euclid(HOUR_US) * HOUR_US)];
            // Running jobs hold their GPUs (and worst-case power) until they finish.
            let total_gpus: f64 = site.pools.iter().map(|p| p.gpus as f64).sum();
            let idle: f64 = site.pools.iter().map(|p| p.gpus as f64 * p.idle_w).sum();
            // This step's placements hold their GPUs for the first hour at least.
            let placed_now: f64 =
                site.pools.iter().enumerate().map(|(p, pool)| (pool.free_whole_gpus - room.free[s][p]) as f64).sum();
            let mut gpu_free = vec![total_gpus; horizon];
            gpu_free[0] -= placed_now;
            let mut gpu_w = vec![idle + room.added_w[s]; horizon];
            for j in &site.running {
                let pool = site.pools.iter().find(|p| Some(&p.id) == j.pool.as_ref());
                let reserve = pool.map_or(0.0, |p| j.num_gpu as f64 * (p.tdp_w - p.idle_w));
                let hours = (j.remaining_s / 3600.0 + into_hour).ceil() as usize;
                for h in 0..hours.min(horizon) {
                    gpu_free[h] -= j.gpu_equivalents();
                    gpu_w[h] += reserve;
                }
            }
            out.push(SiteHorizon {
                gpu_free: gpu_free.into_iter().map(|g| g.max(0.0)).collect(),
                asic_budget_w: gpu_w.iter().map(|w| site.cap_w - w).collect(),
                asic_floor_w: asleep_w(site),
                price: prices.clone(),
                mining: tables.clone(),
            });
        }
        (out, first_pool.unwrap_or((0, 0)))
    }
}
