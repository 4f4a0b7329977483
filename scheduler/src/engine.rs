//! The switching engine: turns a decision into device commands and job placements, sheds
//! before it adds so a site's cap holds during every transition, verifies from telemetry,
//! retries and gives up loudly.
//!
//! Cap safety: while a group moves from one draw to another its power can be anywhere between
//! the two, so an increase is only sent when the site's worst case stays under the cap: every
//! settled group at what it was told, any other at the largest of what telemetry last showed,
//! what it was told and what a command still on its way could leave it at; every busy GPU at
//! its TDP; a group whose telemetry row is missing at its maximum draw. Decreases go first; the
//! increases they make room for follow once the group is settled: telemetry shows its last
//! command in effect (counts, and the targets the devices report) and no older command can
//! still land and combine with the newer one.

use std::collections::BTreeMap;

use hcp_datasets::rows::DecisionRow;
use hcp_sim::world::{Command, World};

use crate::economics::Setting;
use crate::observe::Observation;
use crate::policy::Decision;

/// Where the engine's actions go: the simulated world in a backtest; the site's miners and GPU
/// control API over the network in the daemon.
pub trait Actuator {
    /// Sends a group command (it may be lost or late: the engine verifies from telemetry).
    fn submit(&mut self, command: Command);
    /// Places a queued job on a pool; `false` when it could not.
    fn place(&mut self, job: &str, pool: &str) -> bool;
    /// Preempts a placed job; `false` when no pool runs it.
    fn preempt(&mut self, job: &str) -> bool;
}

impl Actuator for World {
    fn submit(&mut self, command: Command) {
        World::submit(self, command)
    }
    fn place(&mut self, job: &str, pool: &str) -> bool {
        World::place(self, job, pool).is_ok()
    }
    fn preempt(&mut self, job: &str) -> bool {
        World::preempt(self, job)
    }
}

/// Engine settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Steps to wait before checking a command took effect.
    pub verify_after_steps: u64,
    /// Resends before giving up on a group (until the plan changes it again).
    pub max_retries: u32,
    /// Telemetry reads can be low by measurement noise: an observed draw counts this much
    /// higher in the worst case (the simulated meters' noise is 1 %).
    pub telemetry_margin: f64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { verify_after_steps: 2, max_retries: 3, telemetry_margin: 0.02 }
    }
}

#[derive(Debug, Clone, Copy)]
struct Commanded {
    setting: Setting,
    /// The most (awake count and target, each the largest) any command sent since the group
    /// last settled could leave it at: a command still on its way can land after a newer one
    /// was sent (which the devices then refuse only if the newer one landed first).
    pending: Setting,
    sent_step: u64,
    /// When `setting` was first sent (resends keep it), until telemetry shows it in effect.
    sent_us: Option<i64>,
    retries: u32,
    given_up: bool,
}

/// What the engine did over a run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct EngineCounters {
    pub commands: u64,
    pub retries: u64,
    pub given_up: u64,
    /// Increases held back a step because the worst case would have passed the cap.
    pub deferred_increases: u64,
    pub placements: u64,
    pub placements_deferred: u64,
    pub preemptions: u64,
    /// Wake and sleep transitions commanded, in devices (wear).
    pub device_switches: u64,
    /// Group settings telemetry showed in effect, and how long after they were first sent
    /// (seconds, at the resolution of the observations: a step); a setting resent because it
    /// drifted after showing (a repaired device back running) counts again, from the resend.
    pub applied: u64,
    pub applied_after_s_p50: f64,
    pub applied_after_s_p99: f64,
    pub applied_after_s_max: f64,
    /// Settings replaced by a newer one before telemetry showed them in effect.
    pub superseded: u64,
}

/// The engine of one run.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    commanded: BTreeMap<String, Commanded>,
    counters: EngineCounters,
    /// How many settings telemetry showed in effect how long after they were first sent (whole
    /// seconds: a count per duration, so a daemon running for months holds a few hundred keys,
    /// not a number per setting).
    applied_after_s: BTreeMap<u64, u64>,
    /// The same, of the step applied last, one number each.
    shown_last_step_s: Vec<f64>,
    /// The observation time of the step being applied.
    now_us: i64,
}

fn draw_w(setting: Setting, devices: usize) -> f64 {
    setting.draw_w(devices)
}

/// Each group's setting when a world starts, per site: every device awake at its configured
/// target.
pub fn initial(world: &World) -> Vec<Vec<Setting>> {
    let at_start = |g: &hcp_sim::asic::AsicGroup| Setting::all(g.configured_target_w(), g.len());
    world.sites.iter().map(|s| s.groups.iter().map(at_start).collect()).collect()
}

impl Engine {
    /// An engine taking over `world` as it starts.
    pub fn at_start(cfg: EngineConfig, world: &World) -> Engine {
        let ids = world.sites.iter().flat_map(|s| s.groups.iter()).map(|g| g.id.clone());
        Engine::new(cfg, ids.zip(initial(world).into_iter().flatten()))
    }

    /// `initial`: each group's setting when the run starts.
    pub fn new(cfg: EngineConfig, initial: impl IntoIterator<Item = (String, Setting)>) -> Engine {
        let commanded = initial
            .into_iter()
            .map(|(g, setting)| {
                (g, Commanded { setting, pending: setting, sent_step: 0, sent_us: None, retries: 0, given_up: false })
            })
            .collect();
        Engine {
            cfg,
            commanded,
            counters: EngineCounters::default(),
            applied_after_s: BTreeMap::new(),
            shown_last_step_s: Vec::new(),
            now_us: 0,
        }
    }

    /// What the engine did so far, with the percentiles of how long settings took to apply.
    pub fn counters(&self) -> EngineCounters {
        let applied = self.applied_after_s.values().sum();
        EngineCounters {
            applied,
            applied_after_s_p50: counted_percentile(&self.applied_after_s, applied, 0.5),
            applied_after_s_p99: counted_percentile(&self.applied_after_s, applied, 0.99),
            applied_after_s_max: self.applied_after_s.keys().next_back().map_or(0.0, |&s| s as f64),
            ..self.counters.clone()
        }
    }

    /// What each group was last told (what the engine counts it at once it is in effect).
    pub fn told(&self) -> impl Iterator<Item = (&str, Setting)> {
        self.commanded.iter().map(|(g, c)| (g.as_str(), c.setting))
    }

    /// Seconds from first send to the telemetry showing it, of each setting shown in the step
    /// applied last (whole seconds, as the counters have them).
    pub fn shown_last_step_s(&self) -> &[f64] {
        &self.shown_last_step_s
    }

    /// How long ago (seconds, at `now_us`) the oldest setting not yet shown was first sent; 0
    /// when every setting sent has shown.
    pub fn oldest_pending_s(&self, now_us: i64) -> f64 {
        let oldest = self.commanded.values().filter_map(|c| c.sent_us).min();
        oldest.map_or(0.0, |sent| (now_us - sent).max(0) as f64 / 1e6)
    }

    /// Applies `decision` (made on `obs`) through `world` at plan step `step`; returns the
    /// actions sent, one row each.
    pub fn apply(
        &mut self,
        world: &mut dyn Actuator,
        obs: &Observation,
        decision: &Decision,
        policy: &str,
        step: u64,
    ) -> Vec<DecisionRow> {
        let plan_id = format!("{policy}-{step}");
        self.now_us = obs.now_us;
        self.shown_last_step_s.clear();
        let mut rows = Vec::new();
        let row =
            |site: &str, device: &str, action: &'static str, target: Option<f64>, job: Option<&str>| DecisionRow {
                decision_time_us: obs.now_us,
                effective_time_us: obs.now_us,
                site_id: site.to_string(),
                plan_id: plan_id.clone(),
                step: step as i32,
                device_id: device.to_string(),
                action,
                power_target_w: target,
                job_id: job.map(str::to_string),
                policy: policy.to_string(),
                // One action of a kind per device (or job) per plan: the key names all four.
                idempotency_key: format!("{site}/{}/{action}/{plan_id}", job.unwrap_or(device)),
            };
        for job in &decision.preempt {
            if world.preempt(job) {
                self.counters.preemptions += 1;
                let site = obs.sites.iter().find(|s| s.running.iter().any(|j| &j.id == job)).map_or("", |s| &s.id);
                rows.push(row(site, "", "preempt_job", None, Some(job)));
            }
        }
        for (s, site) in obs.sites.iter().enumerate() {
            let wanted = &decision.settings[s];
            // Worst case now: a settled group (telemetry shows what it was last told, and no
            // other command can still land) draws at most that (targets cap power); any other at
            // the largest of what telemetry showed (plus the meter's noise), what it was told
            // and what a command still on its way could leave it at; one whose row is missing at
            // its maximum.
            let mut worst = Vec::with_capacity(site.groups.len());
            for g in &site.groups {
                let Some(c) = self.commanded.get(&g.id).copied() else {
                    worst.push(g.max_draw_w());
                    continue;
                };
                let told = draw_w(c.setting, g.devices);
                let c = match c.sent_us {
                    Some(sent) if in_effect(g, c.setting, self.cfg.telemetry_margin) == Some((true, true)) => {
                        let seconds = ((obs.now_us - sent).max(0) as f64 / 1e6).round() as u64;
                        *self.applied_after_s.entry(seconds).or_default() += 1;
                        self.shown_last_step_s.push(seconds as f64);
                        let c = Commanded { sent_us: None, ..c };
                        self.commanded.insert(g.id.clone(), c);
                        c
                    }
                    _ => c,
                };
                worst.push(if self.settled(g, c, step) {
                    self.commanded.insert(g.id.clone(), Commanded { pending: c.setting, ..c });
                    told
                } else {
                    match g.observed_power_w {
                        Some(o) => (o * (1.0 + self.cfg.telemetry_margin)).max(told).max(draw_w(c.pending, g.devices)),
                        None => g.max_draw_w(),
                    }
                });
            }
            let mut gpu_worst = site.gpu_worst_w();
            let total = |worst: &[f64], gpu: f64| worst.iter().sum::<f64>() + gpu;
            // Over the cap by telemetry (a lost command left a group above what it was told):
            // resend at once rather than after the usual wait.
            let over = site.groups.iter().filter_map(|g| g.observed_power_w).sum::<f64>() + gpu_worst > site.cap_w;
            // Decreases first.
            let mut increases = Vec::new();
            for (i, g) in site.groups.iter().enumerate() {
                let Some(prev) = self.commanded.get(&g.id).copied() else { continue };
                let next = wanted[i];
                if next == prev.setting {
                    self.verify(world, &mut rows, &row, site, g, prev, step, over);
                    continue;
                }
                // A change that lowers one part and raises the other (fewer devices at a higher
                // target, or more at a lower one) is split: the lowering part now, the rest as
                // an increase once telemetry shows it, so no command order can overshoot.
                let low = Setting {
                    target_w: next.target_w.min(prev.setting.target_w),
                    awake: next.awake.min(prev.setting.awake),
                };
                if low != prev.setting && low != next {
                    self.send(world, &mut rows, &row, &site.id, &g.id, g.devices, prev.setting, low, step);
                } else if draw_w(next, g.devices) < draw_w(prev.setting, g.devices) {
                    self.send(world, &mut rows, &row, &site.id, &g.id, g.devices, prev.setting, next, step);
                } else {
                    increases.push(i);
                }
            }
            // Placements, then increases, while the worst case stays under the cap.
            for (job, pool_id) in decision.place.iter().filter(|(_, p)| site.pools.iter().any(|q| &q.id == p)) {
                let (Some(j), Some(pool)) =
                    (obs.queue.iter().find(|j| &j.id == job), site.pools.iter().find(|p| &p.id == pool_id))
                else {
                    continue;
                };
                let add = j.num_gpu as f64 * (pool.tdp_w - pool.idle_w);
                if total(&worst, gpu_worst) + add > site.cap_w {
                    self.counters.placements_deferred += 1;
                    continue;
                }
                if world.place(job, pool_id) {
                    gpu_worst += add;
                    self.counters.placements += 1;
                    rows.push(row(&site.id, pool_id, "place_job", None, Some(job)));
                } else {
                    self.counters.placements_deferred += 1;
                }
            }
            for i in increases {
                let g = &site.groups[i];
                let prev = self.commanded[&g.id].setting;
                // Only a settled group may rise: a command still on its way could land after this
                // one and combine with it.
                if !self.settled(g, self.commanded[&g.id], step) {
                    self.counters.deferred_increases += 1;
                    // A command that did not take (lost) would otherwise hold the group here
                    // for as long as the plan wants more: resend it when due.
                    let c = self.commanded[&g.id];
                    self.verify(world, &mut rows, &row, site, g, c, step, over);
                    continue;
                }
                // Settled: its devices run at no more than their target (within the meter's
                // noise), so the new setting's draw is what it will draw.
                let next_draw = draw_w(wanted[i], g.devices);
                let after = total(&worst, gpu_worst) - worst[i] + next_draw.max(worst[i]);
                if after > site.cap_w {
                    self.counters.deferred_increases += 1;
                    continue;
                }
                worst[i] = next_draw.max(worst[i]);
                self.send(world, &mut rows, &row, &site.id, &g.id, g.devices, prev, wanted[i], step);
            }
        }
        rows
    }

    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        world: &mut dyn Actuator,
        rows: &mut Vec<DecisionRow>,
        row: &impl Fn(&str, &str, &'static str, Option<f64>, Option<&str>) -> DecisionRow,
        site: &str,
        group: &str,
        devices: usize,
        prev: Setting,
        next: Setting,
        step: u64,
    ) {
        for (action, command) in commands(group, prev, next) {
            self.counters.commands += 1;
            let target = command_value(&command);
            world.submit(command);
            rows.push(row(site, group, action, target, None));
        }
        self.counters.device_switches += next.awake.min(devices).abs_diff(prev.awake.min(devices)) as u64;
        let before = self.commanded.get(group).copied();
        if before.is_some_and(|c| c.sent_us.is_some()) {
            self.counters.superseded += 1;
        }
        let before = before.map_or(next, |c| c.pending);
        let pending = Setting { target_w: before.target_w.max(next.target_w), awake: before.awake.max(next.awake) };
        self.commanded.insert(
            group.to_string(),
            Commanded {
                setting: next,
                pending,
                sent_step: step,
                sent_us: Some(self.now_us),
                retries: 0,
                given_up: false,
            },
        );
    }

    /// Whether `g` is settled at what it was last told: telemetry shows it in effect, and no
    /// other command can still land: none was sent since the group last settled, or the last
    /// one went out `verify_after_steps` ago (a command later than that is taken as lost: the
    /// simulated link delays by at most 400 s, under two 5-minute steps).
    fn settled(&self, g: &crate::observe::GroupView, c: Commanded, step: u64) -> bool {
        in_effect(g, c.setting, self.cfg.telemetry_margin) == Some((true, true))
            && (c.pending == c.setting || step >= c.sent_step + self.cfg.verify_after_steps)
    }

    /// Resends a command telemetry shows did not take (lost on the way), up to the retry limit.
    #[allow(clippy::too_many_arguments)]
    fn verify(
        &mut self,
        world: &mut dyn Actuator,
        rows: &mut Vec<DecisionRow>,
        row: &impl Fn(&str, &str, &'static str, Option<f64>, Option<&str>) -> DecisionRow,
        site: &crate::observe::SiteView,
        g: &crate::observe::GroupView,
        c: Commanded,
        step: u64,
        urgent: bool,
    ) {
        if c.given_up || (step < c.sent_step + self.cfg.verify_after_steps && !urgent) {
            return;
        }
        let Some((awake_holds, target_holds)) = in_effect(g, c.setting, self.cfg.telemetry_margin) else { return };
        if awake_holds && target_holds {
            return;
        }
        if c.retries >= self.cfg.max_retries {
            self.counters.given_up += 1;
            rows.push(row(&site.id, &g.id, "give_up", None, None));
            self.commanded.insert(g.id.clone(), Commanded { given_up: true, sent_us: None, ..c });
            return;
        }
        self.counters.retries += 1;
        let from = Setting {
            awake: if awake_holds { c.setting.awake } else { usize::MAX },
            target_w: if target_holds { c.setting.target_w } else { f64::INFINITY },
        };
        for (action, command) in commands(&g.id, from, c.setting) {
            self.counters.commands += 1;
            let value = command_value(&command);
            world.submit(command);
            rows.push(row(&site.id, &g.id, action, value, None));
        }
        // A setting that had shown and drifted (a repaired device back running) is timed again.
        let sent_us = c.sent_us.or(Some(self.now_us));
        self.commanded.insert(g.id.clone(), Commanded { sent_step: step, sent_us, retries: c.retries + 1, ..c });
    }
}

/// The `q` quantile of values held as a count per value, by the nearest rank of
/// [`crate::backtest::percentile`] over the same values sorted (0 when there are none).
fn counted_percentile(counts: &BTreeMap<u64, u64>, total: u64, q: f64) -> f64 {
    let Some(last) = total.checked_sub(1) else { return 0.0 };
    let rank = (last as f64 * q).round() as u64;
    let mut below = 0;
    let at_rank = counts.iter().find(|&(_, &n)| {
        below += n;
        below > rank
    });
    at_rank.map_or(0.0, |(&value, _)| value as f64)
}

/// Whether telemetry shows `setting` in effect: (the awake count, the target); `None` without
/// telemetry. Failed devices neither run nor sleep, so only too many of either is a miss. The
/// target holds when no device reports a higher one (exact); telemetry without reported targets
/// falls back on the draw: running devices draw at most their target (less when hot), within
/// the meter's noise, which cannot tell a lost decrease smaller than that noise.
fn in_effect(g: &crate::observe::GroupView, setting: Setting, margin: f64) -> Option<(bool, bool)> {
    let (running, sleeping, power) = (g.running?, g.sleeping?, g.observed_power_w?);
    let awake = running <= setting.awake && sleeping <= g.devices.saturating_sub(setting.awake);
    let target = match g.reported_target_w {
        Some(reported) => reported <= setting.target_w + 1e-3,
        None => {
            let hashing_w = power - sleeping as f64 * hcp_sim::asic::SLEEP_POWER_W;
            running == 0 || hashing_w / running as f64 <= setting.target_w * (1.0 + margin) + 1.0
        }
    };
    Some((awake, target))
}

/// The value a command carries: the power target (W) or the awake count.
fn command_value(command: &Command) -> Option<f64> {
    match command {
        Command::SetPowerTarget { power_w, .. } => Some(*power_w),
        Command::SetAwake { count, .. } => Some(*count as f64),
        _ => None,
    }
}

/// The device commands that move a group from `prev` to `next`, the one that lowers the draw
/// first (fewer awake before a higher target; a lower target before more awake).
fn commands(group: &str, prev: Setting, next: Setting) -> Vec<(&'static str, Command)> {
    let g = group.to_string();
    let target = (next.target_w != prev.target_w)
        .then(|| ("set_power_target", Command::SetPowerTarget { group: g.clone(), power_w: next.target_w }));
    let awake = (next.awake != prev.awake).then_some(("set_awake", Command::SetAwake { group: g, count: next.awake }));
    if next.awake < prev.awake {
        awake.into_iter().chain(target).collect()
    } else {
        target.into_iter().chain(awake).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Counting the timings per value loses none of what sorting them all gave.
        #[test]
        fn counted_percentiles_are_those_of_the_sorted_values(
            values in proptest::collection::vec(0u64..5_000, 0..300),
            q in 0.0f64..=1.0,
        ) {
            let mut counts = BTreeMap::<u64, u64>::new();
            for &v in &values {
                *counts.entry(v).or_default() += 1;
            }
            let mut sorted: Vec<f64> = values.iter().map(|&v| v as f64).collect();
            sorted.sort_by(f64::total_cmp);
            let total = values.len() as u64;
            prop_assert_eq!(counted_percentile(&counts, total, q), crate::backtest::percentile(&sorted, q));
        }
    }
}
