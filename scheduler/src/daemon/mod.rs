//! The scheduler daemon: live allocation for one site.
//!
//! Every site step (read from the site's clock) it reads the site (control API) and every
//! miner (miner TCP API), builds the observation the backtests use, lets the optimiser decide
//! (over hcp's trained price model and the prices the site has published, where it has a
//! model; over the latest published price where not), snaps each group's target to the highest firmware profile at or below it, and hands the plan
//! to the switching engine, whose actions are journaled (synced) *before* they are sent: over
//! the miner API to each device whose reading differs from what the action asks, and over the
//! control API for job placements and preemptions.
//!
//! Logs: one JSON line per event on stderr (the binary installs `tracing`'s JSON formatter); each
//! step runs in a `decide` span with its own W3C-format trace id, ending in one `decided` event
//! (actions sent, skipped, failed, duration); failed actions, forecast scoring and lost contact
//! with the site are events of their own.
//!
//! Restart: the engine starts from what the miners report (their profile and sleep state), not
//! from memory, and the journal refuses any action key it already holds; a step the last run
//! already decided is not decided again. So after `kill -9` the daemon converges on the next
//! step's plan from the devices' real state and never repeats an action.

pub mod forecast_error;
pub mod http;
pub mod journal;
pub mod site;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hcp_models::forecast::price::PriceModel;
use hcp_models::forecast::realtime::HourlyPrices;
use hcp_sim::asic::{AsicCatalog, AsicModel};
use hcp_sim::fleet::FleetConfig;
use hcp_sim::site_server::{SiteClock, SiteStatus};
use hcp_sim::world::Command;

use crate::economics::{AsicEconomics, Setting};
use crate::engine::{Actuator, Engine, EngineConfig, EngineCounters};
use crate::error::{Error, Result};
use crate::observe::{GroupView, Observation, PoolView, SiteView};
use crate::outlook::{Forecast, Live};
use crate::policy::{Decision, Optimiser, OptimiserConfig, Policy};
use journal::{Entry, Journal, Plan, PlannedGroup};
use site::{ControlApi, Miners, Reading, profile_at_most};

/// How often the daemon looks at the site's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Every second: a site on wall-clock time.
    Real,
    /// Every 10 ms: a simulated site running faster than wall-clock time.
    Accelerated,
}

impl Clock {
    fn poll(self) -> Duration {
        match self {
            Clock::Real => Duration::from_secs(1),
            Clock::Accelerated => Duration::from_millis(10),
        }
    }
}

/// Daemon settings.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The operator's fleet file: the sites, their caps (authoritative) and the groups the site
    /// must have.
    pub fleet: FleetConfig,
    /// The site's control API.
    pub site: SocketAddr,
    pub state_dir: PathBuf,
    /// `/health` and `/metrics`.
    pub listen: SocketAddr,
    pub clock: Clock,
    /// Stop after deciding this many steps (this run).
    pub max_steps: Option<u64>,
    pub optimiser: OptimiserConfig,
    pub engine: EngineConfig,
    /// Per request to the site or a miner.
    pub timeout: Duration,
    /// Miner requests in flight at once.
    pub concurrency: usize,
    /// No decision for this long (wall clock) makes `/health` answer 503.
    pub stale_after: Duration,
    /// How long to wait for the site at start.
    pub connect_for: Duration,
    /// hcp's trained real-time price forecasters (`hcp train price`), one per node at most;
    /// nodes without one plan on their latest published price.
    pub forecasters: Vec<PriceModel>,
    /// Each forecaster's holdout MAE (its manifest's), USD/MWh, by node: exported beside the
    /// live error of its forecasts, for the forecast-drift alert.
    pub validation_mae: BTreeMap<String, f64>,
}

/// What one run of the daemon did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RunSummary {
    pub first_step: Option<u64>,
    pub last_step: Option<u64>,
    pub decisions: u64,
    pub actions_sent: u64,
    pub duplicates_skipped: u64,
    /// Journal keys an earlier run wrote as intent with no outcome (it died in between).
    pub unfinished_at_start: usize,
    pub device_commands_ok: u64,
    pub device_commands_failed: u64,
    pub decision_ms_p50: f64,
    pub decision_ms_p99: f64,
    /// The switching engine's counts: retries, give-ups, settings applied and how long they
    /// took to show in the miners' readings.
    pub engine: EngineCounters,
    /// The site's own record when the run ended.
    pub site_cap_violations: u64,
    pub site_max_cap_ratio: f64,
    pub listen: Option<SocketAddr>,
}

/// Actions the engine asks for, collected to be journaled before they are sent.
#[derive(Debug, Default)]
struct Outbox {
    actions: Vec<Action>,
}

#[derive(Debug, Clone)]
enum Action {
    Group(Command),
    Place { job: String, pool: String },
    Preempt { job: String },
}

impl Actuator for Outbox {
    fn submit(&mut self, command: Command) {
        self.actions.push(Action::Group(command));
    }
    fn place(&mut self, job: &str, pool: &str) -> bool {
        self.actions.push(Action::Place { job: job.into(), pool: pool.into() });
        true
    }
    fn preempt(&mut self, job: &str) -> bool {
        self.actions.push(Action::Preempt { job: job.into() });
        true
    }
}

/// One group as the daemon drives it.
#[derive(Debug, Clone)]
struct Group {
    site: usize,
    id: String,
    model: AsicModel,
    miners: Vec<SocketAddr>,
    /// The firmware's profiles, (name, watts), lowest first.
    profiles: Vec<(String, f64)>,
}

impl Group {
    /// The watts of the profile a miner names (`None`: a name the firmware did not offer).
    fn watts(&self, profile: &str) -> Option<f64> {
        self.profiles.iter().find(|p| p.0 == profile).map(|p| p.1)
    }
}

/// Checks that the site has what the fleet file says, by id, model and device count, and that
/// no site's cap in the fleet file is above the cap the site reports: planning to it would draw
/// more than the site may. A lower one is the operator's to choose (a demand-response
/// commitment, headroom) and is planned to.
fn check_site(fleet: &FleetConfig, status: &SiteStatus) -> Result<()> {
    let bad = |what: String| Err(Error::Config(format!("site does not match the fleet file `{}`: {what}", fleet.name)));
    if fleet.sites.len() != status.sites.len() {
        return bad(format!("{} sites, the fleet file has {}", status.sites.len(), fleet.sites.len()));
    }
    for (f, s) in fleet.sites.iter().zip(&status.sites) {
        if f.id != s.id {
            return bad(format!("site `{}` where the fleet file has `{}`", s.id, f.id));
        }
        let cap_w = f.power_cap_mw * 1e6;
        if cap_w > s.cap_w * (1.0 + 1e-9) {
            return bad(format!(
                "site `{}` reports a cap of {} MW, below the fleet file's {} MW: planning to the fleet file's would draw more than the site may",
                s.id,
                s.cap_w / 1e6,
                f.power_cap_mw
            ));
        }
        if f.asic_groups.len() != s.groups.len() {
            return bad(format!(
                "site `{}` has {} ASIC groups, the fleet file {}",
                s.id,
                s.groups.len(),
                f.asic_groups.len()
            ));
        }
        for (fg, sg) in f.asic_groups.iter().zip(&s.groups) {
            if fg.id != sg.id || fg.model != sg.model || fg.count != sg.miners.len() {
                return bad(format!(
                    "group `{}` ({} × {}) where the fleet file has `{}` ({} × {})",
                    sg.id,
                    sg.miners.len(),
                    sg.model,
                    fg.id,
                    fg.count,
                    fg.model
                ));
            }
        }
    }
    Ok(())
}

/// The observation the policies read, from the site's status and the miners' readings.
fn observe(status: &SiteStatus, caps: &[f64], groups: &[Group], readings: &[Vec<Option<Reading>>]) -> Observation {
    let mut sites = Vec::with_capacity(status.sites.len());
    for (s, site) in status.sites.iter().enumerate() {
        let mut views = Vec::new();
        for (g, r) in groups.iter().zip(readings).filter(|(g, _)| g.site == s) {
            let all: Option<Vec<&Reading>> = r.iter().map(Option::as_ref).collect();
            views.push(GroupView {
                id: g.id.clone(),
                model: g.model.clone(),
                devices: g.miners.len(),
                observed_power_w: all.as_ref().map(|a| a.iter().map(|r| r.power_w).sum()),
                running: all.as_ref().map(|a| a.iter().filter(|r| r.curtail == "None" && r.ghs > 0.0).count()),
                sleeping: all.as_ref().map(|a| a.iter().filter(|r| r.asleep()).count()),
                // Each miner names its profile: the highest one's watts, exactly.
                reported_target_w: all.as_ref().and_then(|a| {
                    a.iter().map(|r| g.watts(&r.profile)).try_fold(f64::NEG_INFINITY, |m, w| w.map(|w| m.max(w)))
                }),
            });
        }
        sites.push(SiteView {
            id: site.id.clone(),
            node: site.node.clone(),
            cap_w: caps[s],
            groups: views,
            pools: site
                .pools
                .iter()
                .map(|p| PoolView {
                    id: p.id.clone(),
                    gpus: p.gpus,
                    free_whole_gpus: p.free_whole_gpus,
                    idle_w: p.idle_w,
                    tdp_w: p.tdp_w,
                    batch_w: p.batch_w,
                })
                .collect(),
            running: site.running.clone(),
        });
    }
    Observation {
        now_us: status.now_us,
        step_s: status.step_s,
        hashprice: status.hashprice,
        sites,
        queue: status.queue.clone(),
        last_known_price: status.last_known_price.clone(),
    }
}

/// What the miners run now, as engine settings: the devices not asleep (an unread one counts
/// awake: worst case) at the lowest profile any of them holds. When the profiles differ (a
/// profile change cut short), the highest one they report is then above what the engine counts,
/// so it sees its setting not in effect and sends the lowest profile to all: the group converges
/// by shedding, never by adding.
fn settings_from(groups: &[Group], readings: &[Vec<Option<Reading>>]) -> Vec<(String, Setting)> {
    groups
        .iter()
        .zip(readings)
        .map(|(g, r)| {
            let top = g.profiles.last().map_or(0.0, |p| p.1);
            let awake = r.iter().filter(|r| r.as_ref().is_none_or(|r| !r.asleep())).count();
            let target = r.iter().flatten().map(|r| g.watts(&r.profile).unwrap_or(top)).reduce(f64::min).unwrap_or(top);
            (g.id.clone(), Setting { target_w: target, awake })
        })
        .collect()
}

/// What the site earns and pays now, per site, and each ASIC group's breakeven price, from the
/// status and the miners' readings: the operator's executive view (`/metrics`).
fn money_now(status: &SiteStatus, groups: &[Group], readings: &[Vec<Option<Reading>>]) -> http::Money {
    let mut money = http::Money { hashprice: status.hashprice, ..Default::default() };
    for (s, site) in status.sites.iter().enumerate() {
        let mut mining = 0.0;
        for (g, r) in groups.iter().zip(readings).filter(|(g, _)| g.site == s) {
            // The miners hashing: a sleeping one's standby draw is not part of its efficiency.
            let hashing = || r.iter().flatten().filter(|r| r.ghs > 0.0);
            let ths: f64 = hashing().map(|r| r.ghs / 1e3).sum();
            let watts: f64 = hashing().map(|r| r.power_w).sum();
            mining += ths * status.hashprice / 24.0;
            // A MWh at the group's measured J/TH earns hashprice × 1e6 / (24 × J/TH).
            if ths > 0.0 && watts > 0.0 {
                money.breakeven.push((g.id.clone(), status.hashprice * 1e6 / (24.0 * watts / ths)));
            }
        }
        let gpu = site.running.iter().map(|j| j.gpu_equivalents() * j.value_usd_per_gpu_hour).sum();
        let price = status.last_known_price.get(&site.node).copied();
        money.sites.push(http::SiteMoney {
            site: site.id.clone(),
            mining_usd_per_hour: mining,
            gpu_usd_per_hour: gpu,
            energy_usd_per_hour: price.map(|p| site.power_w / 1e6 * p),
        });
    }
    money
}

/// Snaps every group's target to the highest profile at or below it.
fn snap(decision: &mut Decision, groups: &[Group]) {
    let mut k = 0;
    for site in &mut decision.settings {
        for s in site.iter_mut() {
            s.target_w = profile_at_most(&groups[k].profiles, s.target_w).1;
            k += 1;
        }
    }
}

/// Reads every group's miners, per group.
async fn read_groups(miners: &Miners, groups: &[Group]) -> (Vec<Vec<Option<Reading>>>, site::RoundCounts) {
    let addrs: Vec<SocketAddr> = groups.iter().flat_map(|g| g.miners.iter().copied()).collect();
    let (flat, counts) = miners.read_all(&addrs).await;
    let mut it = flat.into_iter();
    (groups.iter().map(|g| it.by_ref().take(g.miners.len()).collect()).collect(), counts)
}

/// The daemon once connected: the site's groups, the engine and the optimiser.
struct Daemon {
    journal: Journal,
    control: ControlApi,
    miners: Miners,
    groups: Vec<Group>,
    caps: Vec<f64>,
    engine: Engine,
    optimiser: Optimiser,
    /// The latest published prices the optimiser's outlook reads, updated every step.
    prices: std::sync::Arc<std::sync::Mutex<BTreeMap<String, f64>>>,
    /// The forecasters and their grids of published prices, refreshed every hour.
    forecast: std::sync::Arc<std::sync::Mutex<Forecast>>,
    forecasters: BTreeMap<String, PriceModel>,
    forecast_hour: Option<i64>,
    /// The forecasts issued, waiting for their hours' prices, and the errors scored so far.
    ledger: forecast_error::Ledger,
    forecast_errors: BTreeMap<String, forecast_error::ErrorTotals>,
    metrics: http::Shared,
    step_us: i64,
    last_step: Option<u64>,
    latencies_ms: Vec<f64>,
    summary: RunSummary,
}

impl Daemon {
    /// Waits for the site, checks it against the fleet file, reads every miner and starts the
    /// engine and the optimiser from what they report.
    async fn connect(cfg: &DaemonConfig, journal: Journal, metrics: http::Shared) -> Result<Daemon> {
        let control = ControlApi { addr: cfg.site, timeout: cfg.timeout };
        let waited = Instant::now();
        let mut told = false;
        let status = loop {
            match control.status().await {
                Ok(s) => break s,
                Err(e) if waited.elapsed() >= cfg.connect_for => {
                    return Err(Error::Config(format!("site control API {}: {e}", cfg.site)));
                }
                Err(e) => {
                    if !told {
                        tracing::warn!(
                            site = %cfg.site,
                            error = %e,
                            "site control API not answering; retrying every 100 ms for up to {} s",
                            cfg.connect_for.as_secs()
                        );
                        told = true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
            }
        };
        check_site(&cfg.fleet, &status)?;
        let miners = Miners::new(cfg.timeout, cfg.concurrency);
        let catalog = AsicCatalog::builtin();
        let mut groups = Vec::new();
        let mut economics = BTreeMap::new();
        for (s, site) in status.sites.iter().enumerate() {
            for g in &site.groups {
                let first =
                    *g.miners.first().ok_or_else(|| Error::Config(format!("group `{}` has no miners", g.id)))?;
                let profiles = miners.profiles(first).await.map_err(Error::Config)?;
                let model = catalog.get(&g.model)?;
                economics.entry(model.name.clone()).or_insert_with(|| AsicEconomics::new(model.clone()));
                groups.push(Group {
                    site: s,
                    id: g.id.clone(),
                    model: model.clone(),
                    miners: g.miners.clone(),
                    profiles,
                });
            }
        }
        let (readings, counts) = read_groups(&miners, &groups).await;
        let current = settings_from(&groups, &readings);
        let mut initial = vec![Vec::new(); status.sites.len()];
        for (g, (_, s)) in groups.iter().zip(&current) {
            initial[g.site].push(*s);
        }
        let nodes: Vec<&str> = status.sites.iter().map(|s| s.node.as_str()).collect();
        let mut forecasters = BTreeMap::new();
        for f in &cfg.forecasters {
            if !nodes.contains(&f.node()) {
                return Err(Error::Config(format!("a price model forecasts {}, which no site pays", f.node())));
            }
            if f.trained_until_us() >= status.now_us {
                return Err(Error::Config(format!(
                    "the price model of {} was trained on prices up to {}, not before the site's clock ({}): it would have seen the future",
                    f.node(),
                    hcp_datasets::time::format_micros(f.trained_until_us()),
                    hcp_datasets::time::format_micros(status.now_us)
                )));
            }
            if forecasters.insert(f.node().to_string(), f.clone()).is_some() {
                return Err(Error::Config(format!("two price models for {}", f.node())));
            }
        }
        let outlook = Live::default();
        let prices = outlook.published.prices();
        let forecast = outlook.forecast.clone();
        let optimiser = Optimiser::new("optimiser", cfg.optimiser.clone(), Box::new(outlook), economics, initial)?;
        let summary = RunSummary { unfinished_at_start: journal.unfinished.len(), ..Default::default() };
        let daemon = Daemon {
            last_step: journal.plan.as_ref().map(|p| p.step),
            journal,
            control,
            miners,
            groups,
            caps: cfg.fleet.sites.iter().map(|s| s.power_cap_mw * 1e6).collect(),
            engine: Engine::new(cfg.engine.clone(), current),
            optimiser,
            prices,
            forecast,
            forecasters,
            forecast_hour: None,
            ledger: forecast_error::Ledger::default(),
            forecast_errors: BTreeMap::new(),
            metrics,
            step_us: (status.step_s * 1e6) as i64,
            latencies_ms: Vec::new(),
            summary,
        };
        daemon.record(|m| {
            m.site_reachable = true;
            m.miner_reads += counts;
            m.validation_mae = cfg.validation_mae.clone();
        });
        Ok(daemon)
    }

    fn record(&self, f: impl FnOnce(&mut http::Metrics)) {
        f(&mut self.metrics.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// The site step the clock is in, if it is one this daemon has not decided yet.
    fn undecided_step(&self, clock: &SiteClock) -> Option<u64> {
        let step = ((clock.now_us - clock.start_us) / self.step_us) as u64;
        (self.last_step.is_none_or(|last| step > last)).then_some(step)
    }

    /// Rebuilds each forecaster's grid from the prices the site has published, once an hour;
    /// scores the forecasts whose hours are now priced and issues this hour's.
    async fn refresh_forecasts(&mut self, now_us: i64) -> Result<()> {
        let hour = now_us.div_euclid(hcp_datasets::time::MICROS_PER_HOUR);
        if self.forecasters.is_empty() || self.forecast_hour == Some(hour) {
            return Ok(());
        }
        let mut nodes = BTreeMap::new();
        let mut this_hour = Vec::new();
        for (node, f) in &self.forecasters {
            let rows = self.control.prices(node).await.map_err(Error::Config)?;
            let grid = HourlyPrices::from_hours(node, &rows, hcp_datasets::time::ercot_calendar)
                .ok_or_else(|| Error::Config(format!("the site published no prices for {node}")))?;
            let totals = self.forecast_errors.entry(node.clone()).or_default();
            let before = totals.scored;
            self.ledger.score(&grid, now_us, totals);
            if totals.scored > before {
                let mae = totals.abs_error_sum / totals.scored as f64;
                tracing::info!(node = %node, scored = totals.scored - before, mae_so_far = mae, "forecasts scored");
            }
            let k = grid.index_at(hour * hcp_datasets::time::MICROS_PER_HOUR).min(grid.len());
            let issued = f.forecast(&grid, k).unwrap_or_else(|e| {
                tracing::warn!(node = %node, model = f.model_id(), error = %e, "no forecast this hour");
                Vec::new()
            });
            if let Some(first) = issued.iter().find(|f| f.horizon == 1) {
                this_hour.push((node.clone(), first.mean));
            }
            self.ledger.issue(node, &issued);
            nodes.insert(node.clone(), (f.clone(), grid));
        }
        *self.forecast.lock().unwrap_or_else(|e| e.into_inner()) = Forecast { nodes };
        self.forecast_hour = Some(hour);
        let errors = self.forecast_errors.clone();
        self.record(|m| {
            m.forecast_errors = errors;
            m.forecast_this_hour = this_hour;
        });
        Ok(())
    }

    /// One step: read the miners, decide, journal, send, save the plan.
    async fn decide(&mut self, status: &SiteStatus, step: u64) -> Result<()> {
        let started = Instant::now();
        self.refresh_forecasts(status.now_us).await?;
        let reading = Instant::now();
        let (readings, counts) = read_groups(&self.miners, &self.groups).await;
        let read_s = reading.elapsed().as_secs_f64();
        let obs = observe(status, &self.caps, &self.groups, &readings);
        let money = money_now(status, &self.groups, &readings);
        self.record(|m| m.money = money);
        *self.prices.lock().unwrap_or_else(|e| e.into_inner()) = obs.last_known_price.clone();
        let optimiser = &mut self.optimiser;
        let planning = Instant::now();
        let mut decision = tokio::task::block_in_place(|| optimiser.decide(&obs))?;
        let plan_s = planning.elapsed().as_secs_f64();
        snap(&mut decision, &self.groups);
        let mut outbox = Outbox::default();
        let rows = self.engine.apply(&mut outbox, &obs, &decision, "optimiser", step);
        let (engine, shown) = (self.engine.counters(), self.engine.shown_last_step_s());
        let pending_s = self.engine.oldest_pending_s(status.now_us);
        self.record(|m| {
            m.settings_applied(shown);
            m.engine = engine;
            m.oldest_pending_s = pending_s;
        });

        // Journal every action before sending any; a key the journal holds is not sent again.
        let mut actions = outbox.actions.into_iter();
        let (mut intents, mut to_send, mut skipped) = (Vec::new(), Vec::new(), 0);
        for row in &rows {
            // Every row but a give-up is one action, in the order the engine asked for them.
            let action = if row.action == "give_up" { None } else { actions.next() };
            let entry = Entry {
                key: row.idempotency_key.clone(),
                phase: "intent".into(),
                step,
                time_us: row.decision_time_us,
                site: row.site_id.clone(),
                device: row.device_id.clone(),
                action: row.action.to_string(),
                value: row.power_target_w,
                job: row.job_id.clone(),
                detail: None,
            };
            if self.journal.seen(&entry.key) {
                skipped += 1;
                continue;
            }
            if let Some(a) = action {
                to_send.push((entry.clone(), a));
            }
            intents.push(entry);
        }
        self.journal.write(&intents)?;
        let sending = Instant::now();
        let (outcomes, device) = self.send(&to_send, &readings).await;
        let send_s = sending.elapsed().as_secs_f64();
        self.journal.write(&outcomes)?;
        let elapsed = started.elapsed().as_secs_f64();
        self.latencies_ms.push(elapsed * 1e3);
        let failed = outcomes.iter().filter(|o| o.phase == "failed").count();
        for o in outcomes.iter().filter(|o| o.phase == "failed") {
            let detail = o.detail.as_deref().unwrap_or_default();
            tracing::warn!(key = %o.key, action = %o.action, device = %o.device, detail, "action failed");
        }
        tracing::info!(
            actions = to_send.len(),
            skipped,
            failed,
            device_commands_failed = device.failed,
            duration_ms = elapsed * 1e3,
            read_ms = read_s * 1e3,
            plan_ms = plan_s * 1e3,
            send_ms = send_s * 1e3,
            "decided"
        );

        let planned = |settings: Vec<(String, Setting)>| {
            settings
                .into_iter()
                .map(|(group, s)| PlannedGroup { group, target_w: s.target_w, awake: s.awake })
                .collect()
        };
        let wanted =
            self.groups.iter().map(|g| g.id.clone()).zip(decision.settings.iter().flatten().copied()).collect();
        let told = self.engine.told().map(|(g, s)| (g.to_string(), s)).collect();
        self.journal.save_plan(Plan {
            step,
            time_us: status.now_us,
            groups: planned(wanted),
            told: planned(told),
            place: decision.place.clone(),
            preempt: decision.preempt.clone(),
        })?;
        self.last_step = Some(step);
        let s = &mut self.summary;
        s.first_step.get_or_insert(step);
        s.last_step = Some(step);
        s.decisions += 1;
        s.actions_sent += to_send.len() as u64;
        s.duplicates_skipped += skipped;
        s.device_commands_ok += device.ok;
        s.device_commands_failed += device.failed;
        self.record(|m| {
            m.decided(step, elapsed);
            m.miner_reads += counts;
            m.device_commands += device;
            m.duplicates_skipped += skipped;
            for (e, _) in &to_send {
                *m.actions.entry(e.action.clone()).or_default() += 1;
            }
        });
        Ok(())
    }

    /// Sends the journaled actions in order; returns their outcomes and the device commands'
    /// counts.
    async fn send(
        &mut self,
        to_send: &[(Entry, Action)],
        readings: &[Vec<Option<Reading>>],
    ) -> (Vec<Entry>, site::RoundCounts) {
        let mut outcomes = Vec::with_capacity(to_send.len());
        let mut device = site::RoundCounts::default();
        for (entry, action) in to_send {
            let result = match action {
                Action::Group(command) => {
                    let g = self
                        .groups
                        .iter()
                        .position(|g| g.id == command.group())
                        .expect("the engine names known groups");
                    let group = &self.groups[g];
                    let c = self.miners.carry_out(command, &group.miners, &readings[g], &group.profiles).await;
                    device += c;
                    if c.failed == 0 {
                        Ok(format!("{} device commands", c.ok))
                    } else {
                        Err(format!("{} of {} device commands failed", c.failed, c.ok + c.failed))
                    }
                }
                Action::Place { job, pool } => self.control.place(job, pool).await.map(|()| String::new()),
                Action::Preempt { job } => self.control.preempt(job).await.map(|()| String::new()),
            };
            let (phase, detail) = match result {
                Ok(d) => ("done", d),
                Err(e) => ("failed", e),
            };
            outcomes.push(Entry { phase: phase.into(), detail: Some(detail), ..entry.clone() });
        }
        (outcomes, device)
    }
}

/// Runs until `shutdown` resolves, the site's world ends, or `max_steps` are decided.
pub async fn run(cfg: DaemonConfig, shutdown: impl Future<Output = ()>) -> Result<RunSummary> {
    let journal = Journal::open(&cfg.state_dir)?;
    let metrics: http::Shared = std::sync::Arc::new(std::sync::Mutex::new(http::Metrics::new(cfg.stale_after)));
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| Error::Config(format!("--listen {}: {e}", cfg.listen)))?;
    let listen = listener.local_addr().ok();
    if let Some(addr) = listen {
        // One line a supervisor (or a test) can wait for.
        eprintln!("scheduler: /health and /metrics on http://{addr}");
    }
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, http::router(metrics.clone()))
            .with_graceful_shutdown(async {
                let _ = http_stopped.await;
            })
            .into_future(),
    );
    let mut d = Daemon::connect(&cfg, journal, metrics).await?;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(cfg.clock.poll()) => {}
        }
        // The clock only (cheap), and the whole status once a step is due.
        let status = match d.control.clock().await {
            Ok(clock) if clock.done => break,
            Ok(clock) => match d.undecided_step(&clock) {
                Some(step) => d.control.status().await.map(|s| Some((step, s))),
                None => Ok(None),
            },
            Err(e) => Err(e),
        };
        let (step, now) = match status {
            Ok(Some(due)) => due,
            Ok(None) => {
                d.record(|m| m.site_reachable = true);
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "site control API");
                d.record(|m| {
                    m.site_reachable = false;
                    m.control_errors += 1;
                });
                continue;
            }
        };
        d.record(|m| {
            m.site_reachable = true;
            m.sites = now.sites.iter().zip(&d.caps).map(|(s, c)| (s.id.clone(), s.power_w, *c)).collect();
            m.prices = now.last_known_price.iter().map(|(n, p)| (n.clone(), *p)).collect();
        });
        let span = tracing::info_span!(
            "decide",
            trace_id = %new_trace_id(),
            step,
            site_time = %hcp_datasets::time::format_micros(now.now_us)
        );
        tracing::Instrument::instrument(d.decide(&now, step), span).await?;
        if cfg.max_steps.is_some_and(|n| d.summary.decisions >= n) {
            break;
        }
    }
    // The site's own cap record as the run ends.
    if let Ok(s) = d.control.status().await {
        d.summary.site_cap_violations = s.cap_violations;
        d.summary.site_max_cap_ratio = s.max_cap_ratio;
    }
    let mut summary = d.summary;
    d.latencies_ms.sort_by(f64::total_cmp);
    summary.decision_ms_p50 = crate::backtest::percentile(&d.latencies_ms, 0.5);
    summary.decision_ms_p99 = crate::backtest::percentile(&d.latencies_ms, 0.99);
    summary.engine = d.engine.counters();
    summary.listen = listen;
    let _ = stop_http.send(());
    let _ = server.await;
    Ok(summary)
}

/// A new W3C-format trace id (32 lower-case hex digits, not all zeros): unique, not secret —
/// two hashes under the process's randomly keyed `RandomState`s of the time and a counter. The
/// daemon's decisions and `hcp serve`'s requests without a caller's trace use it.
pub fn new_trace_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let half = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u64(n);
        h.finish()
    };
    format!("{:016x}{:016x}", half(), half() | 1)
}

/// Runs the daemon on its own runtime until SIGINT or SIGTERM (then it finishes the step in
/// hand, writes its state and returns), the site's world ends, or `max_steps`.
pub fn run_until_signal(cfg: DaemonConfig) -> Result<RunSummary> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("tokio runtime: {e}")))?;
    rt.block_on(run(cfg, shutdown_signal()))
}

/// Resolves on SIGINT or SIGTERM (the daemon's and `hcp serve`'s stop signals).
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcp_sim::site_server::{GroupWire, SiteWire};

    const DEMO: &str = include_str!("../../../fleets/daemon-demo.toml");

    fn status(fleet: &FleetConfig) -> SiteStatus {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        SiteStatus {
            now_us: 0,
            start_us: 0,
            end_us: 1,
            step_s: 300.0,
            steps: 0,
            done: false,
            hashprice: 0.05,
            last_known_price: BTreeMap::new(),
            cap_violations: 0,
            max_cap_ratio: 0.0,
            sites: fleet
                .sites
                .iter()
                .map(|s| SiteWire {
                    id: s.id.clone(),
                    node: s.node.clone(),
                    cap_w: s.power_cap_mw * 1e6,
                    power_w: 0.0,
                    groups: s
                        .asic_groups
                        .iter()
                        .map(|g| GroupWire { id: g.id.clone(), model: g.model.clone(), miners: vec![addr; g.count] })
                        .collect(),
                    pools: vec![],
                    running: vec![],
                })
                .collect(),
            queue: vec![],
        }
    }

    /// Golden, by hand: two miners hashing 100 TH/s at 3,000 W each (30 J/TH) under a hashprice
    /// of $0.05 per TH/s-day earn 200 × 0.05 / 24 = $0.4167/h and break even at 0.05 × 1e6 /
    /// (24 × 30) = $69.44/MWh; a job on two whole GPUs at $2.50 per GPU-hour earns $5/h; 1 MW at
    /// $40/MWh costs $40/h.
    #[test]
    fn money_is_hashrate_times_hashprice_jobs_value_and_draw_times_price() {
        let fleet = FleetConfig::parse(DEMO).unwrap();
        let mut st = status(&fleet);
        st.hashprice = 0.05;
        st.sites[0].power_w = 1e6;
        st.last_known_price.insert(st.sites[0].node.clone(), 40.0);
        let model = AsicCatalog::builtin().get("Antminer S21").unwrap().clone();
        let groups = vec![Group { site: 0, id: "g".into(), model, miners: vec![], profiles: vec![] }];
        let hashing = Reading { curtail: "None".into(), profile: "p".into(), power_w: 3000.0, ghs: 100_000.0 };
        let asleep = Reading { curtail: "Sleep".into(), profile: "p".into(), power_w: 10.0, ghs: 0.0 };
        let readings = vec![vec![Some(hashing.clone()), Some(hashing), Some(asleep), None]];
        let job = hcp_sim::site_server::JobView {
            id: "j".into(),
            class: hcp_sim::workload::JobClass::BestEffort,
            num_gpu: 2,
            gpu_milli: 1000,
            created_us: 0,
            remaining_s: 60.0,
            value_usd_per_gpu_hour: 2.5,
            deadline_us: None,
            pool: Some("p".into()),
        };
        st.sites[0].running = vec![job];
        let money = money_now(&st, &groups, &readings);
        let site = &money.sites[0];
        assert!((site.mining_usd_per_hour - 200.0 * 0.05 / 24.0).abs() < 1e-12, "{site:?}");
        assert!((site.gpu_usd_per_hour - 5.0).abs() < 1e-12, "{site:?}");
        assert_eq!(site.energy_usd_per_hour, Some(40.0));
        assert_eq!(money.breakeven.len(), 1);
        assert!((money.breakeven[0].1 - 0.05e6 / 720.0).abs() < 1e-9, "{:?}", money.breakeven);
    }

    #[test]
    fn trace_ids_are_32_hex_digits_and_new_each_time() {
        let ids: std::collections::BTreeSet<String> = (0..100).map(|_| new_trace_id()).collect();
        assert_eq!(ids.len(), 100);
        assert!(
            ids.iter().all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        );
    }

    #[test]
    fn a_site_unlike_the_fleet_file_is_refused_by_name() {
        let fleet = FleetConfig::parse(DEMO).unwrap();
        let mut st = status(&fleet);
        check_site(&fleet, &st).unwrap();
        st.sites[0].groups[1].miners.pop();
        let err = check_site(&fleet, &st).unwrap_err().to_string();
        assert!(err.contains("group `kermit-s21` (17 × Antminer S21)") && err.contains("(18 × Antminer S21)"), "{err}");
        // A cap above the site's is refused; one below it is the operator's to choose.
        let first = st.sites[0].groups[1].miners[0];
        st.sites[0].groups[1].miners.push(first);
        st.sites[0].cap_w = 0.9 * fleet.sites[0].power_cap_mw * 1e6;
        let err = check_site(&fleet, &st).unwrap_err().to_string();
        assert!(err.contains("site `kermit` reports a cap of 0.162 MW, below the fleet file's 0.18 MW"), "{err}");
        st.sites[0].cap_w = 2.0 * fleet.sites[0].power_cap_mw * 1e6;
        check_site(&fleet, &st).unwrap();
        st.sites[0].id = "elsewhere".into();
        let err = check_site(&fleet, &st).unwrap_err().to_string();
        assert!(err.contains("site `elsewhere` where the fleet file has `kermit`"), "{err}");
    }

    fn reading(curtail: &str, profile: &str) -> Option<Reading> {
        Some(Reading { curtail: curtail.into(), profile: profile.into(), power_w: 0.0, ghs: 1.0 })
    }

    #[test]
    fn the_engine_starts_from_what_the_miners_report_and_counts_the_unread_awake() {
        let profiles = vec![("low".to_string(), 1900.0), ("mid".to_string(), 2500.0), ("top".to_string(), 3100.0)];
        let model = AsicCatalog::builtin().get("Antminer S21").unwrap().clone();
        let g = Group { site: 0, id: "g".into(), model, miners: vec![], profiles };
        let read = vec![reading("None", "mid"), reading("Sleep", "top"), reading("None", "low")];
        assert_eq!(settings_from(std::slice::from_ref(&g), &[read])[0].1, Setting { target_w: 1900.0, awake: 2 });
        let unread = vec![reading("Sleep", "mid"), None];
        assert_eq!(settings_from(std::slice::from_ref(&g), &[unread])[0].1, Setting { target_w: 2500.0, awake: 1 });
        assert_eq!(settings_from(std::slice::from_ref(&g), &[vec![None]])[0].1, Setting { target_w: 3100.0, awake: 1 });
        let mut d = Decision { settings: vec![vec![Setting { target_w: 2499.0, awake: 1 }]], ..Default::default() };
        snap(&mut d, &[g]);
        assert_eq!(d.settings[0][0].target_w, 1900.0);
    }
}
