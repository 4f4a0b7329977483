//! `POST /v1/schedule/propose`: the scheduler's optimiser (GA for job starts, argmin for ASIC
//! power targets) on one site as the caller describes it, over the caller's hourly price
//! expectations (e.g. from `/v1/forecast/price`). Stateless: nothing is sent to any device; the
//! caller's scheduler decides what to do with the proposal.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use hcp_datasets::time::parse_instant;
use hcp_scheduler::economics::{AsicEconomics, Setting};
use hcp_scheduler::observe::{GroupView, JobView, Observation, PoolView, SiteView};
use hcp_scheduler::outlook::Perfect;
use hcp_scheduler::policy::{Optimiser, OptimiserConfig, Policy};
use hcp_sim::asic::{AsicCatalog, SLEEP_POWER_W};
use hcp_sim::gpu::{GpuPhysics, gpu_model};
use hcp_sim::workload::JobClass;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::{ApiJson, App};
use crate::error::{ApiError, ErrorBody, JsonRouteErrors};
use crate::forecast::within_price_limit;

const HOUR_US: i64 = 3_600_000_000;
const MAX_HOURS: usize = 48;
const MAX_DEVICES: usize = 1_000_000;
const MAX_JOBS: usize = 10_000;

/// `POST /v1/schedule/propose`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    /// The decision time, RFC 3339.
    pub now: String,
    /// Hashprice, USD per TH/s per day.
    pub hashprice_usd_per_th_day: f64,
    /// Expected price of each hour from the current one, USD/MWh (within ±20,000); 1 to 48
    /// hours (the last one repeats beyond).
    pub prices_usd_per_mwh: Vec<f64>,
    pub site: SiteIn,
    /// Jobs waiting to start.
    #[serde(default)]
    pub queue: Vec<JobIn>,
}

/// The site as it is now.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteIn {
    pub id: String,
    /// The site's power cap, W.
    pub cap_w: f64,
    #[serde(default)]
    pub groups: Vec<GroupIn>,
    #[serde(default)]
    pub pools: Vec<PoolIn>,
    /// Jobs running now (each names its pool).
    #[serde(default)]
    pub running: Vec<JobIn>,
}

/// A group of identical ASICs.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupIn {
    pub id: String,
    /// ASIC model as hcp's catalog names it (e.g. `Antminer S21`, `Antminer S19 XP`,
    /// `Whatsminer M50`); an unknown name is answered with the list.
    pub model: String,
    pub devices: usize,
    /// Devices hashing now (default: all).
    #[serde(default)]
    pub awake: Option<usize>,
    /// The power target they hold now, W (default: the model's stock point).
    #[serde(default)]
    pub target_w: Option<f64>,
}

/// A pool of identical GPUs.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolIn {
    pub id: String,
    /// GPU model (`H100`, `A100`, `L40S`, ...).
    pub gpu_model: String,
    pub gpus: usize,
    /// Whole GPUs free now.
    pub free_gpus: usize,
}

/// A job, waiting or running.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobIn {
    pub id: String,
    /// `latency_sensitive` (placed at once, never preempted) or `best_effort`.
    pub class: String,
    pub num_gpu: u32,
    /// Share of each GPU, milli (default 1000: whole GPUs).
    #[serde(default = "whole_gpu")]
    pub gpu_milli: u32,
    /// Work left, s.
    pub remaining_s: f64,
    /// What an hour of one GPU's work is worth, USD.
    pub value_usd_per_gpu_hour: f64,
    /// RFC 3339; best-effort work done later forfeits part of its value.
    #[serde(default)]
    pub deadline: Option<String>,
    /// The pool a running job runs on.
    #[serde(default)]
    pub pool: Option<String>,
}

fn whole_gpu() -> u32 {
    1000
}

/// A group's proposed operating point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupOut {
    pub id: String,
    /// Devices to keep hashing; the rest sleep.
    pub awake: usize,
    /// Their power target, W (continuous: firmware with fixed profiles takes the highest
    /// profile at or below it).
    pub target_w: f64,
    /// The group's draw at this point, W.
    pub draw_w: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlacementOut {
    pub job: String,
    pub pool: String,
}

/// The proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProposeResponse {
    pub groups: Vec<GroupOut>,
    /// Waiting jobs to start now, and where.
    pub place: Vec<PlacementOut>,
    /// Running best-effort jobs to checkpoint and stop.
    pub preempt: Vec<String>,
    /// The site's worst-case draw once the proposal is in effect: the groups' draw plus every
    /// busy GPU at its board power, W. Never above `cap_w`.
    pub worst_case_draw_w: f64,
    pub cap_w: f64,
}

fn finite(field: &str, v: f64, min: f64) -> Result<f64, ApiError> {
    if !v.is_finite() || v < min {
        return Err(ApiError::invalid(field, format!("{v} is not a finite number at or above {min}")));
    }
    Ok(v)
}

fn job_view(j: &JobIn, field: &str, now_us: i64) -> Result<JobView, ApiError> {
    let class = match j.class.as_str() {
        "latency_sensitive" => JobClass::LatencySensitive,
        "best_effort" => JobClass::BestEffort,
        other => {
            return Err(ApiError::invalid(
                format!("{field}.class"),
                format!("`{other}` is neither `latency_sensitive` nor `best_effort`"),
            ));
        }
    };
    if !(1..=64).contains(&j.num_gpu) {
        return Err(ApiError::invalid(format!("{field}.num_gpu"), format!("{} is outside 1..=64", j.num_gpu)));
    }
    if !(1..=1000).contains(&j.gpu_milli) {
        return Err(ApiError::invalid(format!("{field}.gpu_milli"), format!("{} is outside 1..=1000", j.gpu_milli)));
    }
    let remaining_s = finite(&format!("{field}.remaining_s"), j.remaining_s, 0.0)?;
    let value = finite(&format!("{field}.value_usd_per_gpu_hour"), j.value_usd_per_gpu_hour, 0.0)?;
    let deadline_us = match &j.deadline {
        None => None,
        Some(d) => Some(parse_instant(d).ok_or_else(|| {
            ApiError::invalid(format!("{field}.deadline"), format!("`{d}` is not an RFC 3339 instant"))
        })?),
    };
    Ok(JobView {
        id: j.id.clone(),
        class,
        num_gpu: j.num_gpu,
        gpu_milli: j.gpu_milli,
        created_us: now_us,
        remaining_s,
        value_usd_per_gpu_hour: value,
        deadline_us,
        pool: j.pool.clone(),
    })
}

fn unique<'a>(field: &str, ids: impl Iterator<Item = &'a str>) -> Result<(), ApiError> {
    let mut seen = BTreeSet::new();
    for (i, id) in ids.enumerate() {
        if id.is_empty() {
            return Err(ApiError::invalid(format!("{field}[{i}].id"), "empty"));
        }
        if !seen.insert(id) {
            return Err(ApiError::invalid(format!("{field}[{i}].id"), format!("`{id}` appears twice")));
        }
    }
    Ok(())
}

/// A checked request: the observation, the starting settings and the price outlook.
#[derive(Debug)]
pub struct Problem {
    pub observation: Observation,
    pub initial: Vec<Setting>,
    pub economics: BTreeMap<String, AsicEconomics>,
    pub prices: Vec<f64>,
}

/// Checks a request and builds the scheduler's view of it; the error names the field.
pub fn problem(req: &ProposeRequest) -> Result<Problem, ApiError> {
    let now_us = parse_instant(&req.now)
        .ok_or_else(|| ApiError::invalid("now", format!("`{}` is not an RFC 3339 instant", req.now)))?;
    let hashprice = finite("hashprice_usd_per_th_day", req.hashprice_usd_per_th_day, 0.0)?;
    let n = req.prices_usd_per_mwh.len();
    if !(1..=MAX_HOURS).contains(&n) {
        return Err(ApiError::invalid("prices_usd_per_mwh", format!("{n} hours; 1 to {MAX_HOURS}")));
    }
    if let Some(i) = req.prices_usd_per_mwh.iter().position(|p| !p.is_finite()) {
        return Err(ApiError::invalid(format!("prices_usd_per_mwh[{i}]"), "not a finite number"));
    }
    within_price_limit("prices_usd_per_mwh", &req.prices_usd_per_mwh)?;
    let site = &req.site;
    if site.id.is_empty() {
        return Err(ApiError::invalid("site.id", "empty"));
    }
    let cap_w = finite("site.cap_w", site.cap_w, 0.0)?;
    unique("site.groups", site.groups.iter().map(|g| g.id.as_str()))?;
    unique("site.pools", site.pools.iter().map(|p| p.id.as_str()))?;
    unique("site.running", site.running.iter().map(|j| j.id.as_str()))?;
    unique("queue", req.queue.iter().map(|j| j.id.as_str()))?;
    if let Some((i, j)) = req.queue.iter().enumerate().find(|(_, j)| site.running.iter().any(|r| r.id == j.id)) {
        return Err(ApiError::invalid(format!("queue[{i}].id"), format!("`{}` is also running", j.id)));
    }
    if site.running.len() + req.queue.len() > MAX_JOBS {
        return Err(ApiError::invalid(
            "queue",
            format!("{} jobs with the running ones; at most {MAX_JOBS}", site.running.len() + req.queue.len()),
        ));
    }
    let catalog = AsicCatalog::builtin();
    let mut groups = Vec::new();
    let mut initial = Vec::new();
    let mut economics = BTreeMap::new();
    for (i, g) in site.groups.iter().enumerate() {
        let field = format!("site.groups[{i}]");
        let model = catalog.get(&g.model).map_err(|e| ApiError::invalid(format!("{field}.model"), e.to_string()))?;
        if g.devices == 0 || g.devices > MAX_DEVICES {
            return Err(ApiError::invalid(
                format!("{field}.devices"),
                format!("{} is outside 1..={MAX_DEVICES}", g.devices),
            ));
        }
        let awake = g.awake.unwrap_or(g.devices);
        if awake > g.devices {
            return Err(ApiError::invalid(format!("{field}.awake"), format!("{awake} of {} devices", g.devices)));
        }
        let target_w = match g.target_w {
            None => model.stock.power_w,
            Some(t) if t.is_finite() && (model.min_power_w()..=model.max_power_w()).contains(&t) => t,
            Some(t) => {
                return Err(ApiError::invalid(
                    format!("{field}.target_w"),
                    format!(
                        "{t} W is outside the {}'s curve ({} to {} W)",
                        model.name,
                        model.min_power_w(),
                        model.max_power_w()
                    ),
                ));
            }
        };
        economics.entry(model.name.clone()).or_insert_with(|| AsicEconomics::new(model.clone()));
        initial.push(Setting { target_w, awake });
        groups.push(GroupView {
            id: g.id.clone(),
            model: model.clone(),
            devices: g.devices,
            observed_power_w: Some(awake as f64 * target_w + (g.devices - awake) as f64 * SLEEP_POWER_W),
            running: Some(awake),
            sleeping: Some(g.devices - awake),
            reported_target_w: Some(target_w),
        });
    }
    let batch_util = GpuPhysics::default().batch_util;
    let mut pools = Vec::new();
    for (i, p) in site.pools.iter().enumerate() {
        let field = format!("site.pools[{i}]");
        let model =
            gpu_model(&p.gpu_model).map_err(|e| ApiError::invalid(format!("{field}.gpu_model"), e.to_string()))?;
        if p.gpus == 0 || p.gpus > MAX_DEVICES {
            return Err(ApiError::invalid(format!("{field}.gpus"), format!("{} is outside 1..={MAX_DEVICES}", p.gpus)));
        }
        if p.free_gpus > p.gpus {
            return Err(ApiError::invalid(format!("{field}.free_gpus"), format!("{} of {} GPUs", p.free_gpus, p.gpus)));
        }
        pools.push(PoolView {
            id: p.id.clone(),
            gpus: p.gpus,
            free_whole_gpus: p.free_gpus,
            idle_w: model.idle_w,
            tdp_w: model.tdp_w,
            batch_w: model.power_at(batch_util),
        });
    }
    let mut running = Vec::new();
    for (i, j) in site.running.iter().enumerate() {
        let field = format!("site.running[{i}]");
        let view = job_view(j, &field, now_us)?;
        match &j.pool {
            Some(p) if pools.iter().any(|q| &q.id == p) => running.push(view),
            Some(p) => return Err(ApiError::invalid(format!("{field}.pool"), format!("no pool `{p}` in site.pools"))),
            None => return Err(ApiError::invalid(format!("{field}.pool"), "a running job names its pool")),
        }
    }
    let mut queue = Vec::new();
    for (i, j) in req.queue.iter().enumerate() {
        let field = format!("queue[{i}]");
        if j.pool.is_some() {
            return Err(ApiError::invalid(format!("{field}.pool"), "a waiting job has no pool yet"));
        }
        queue.push(job_view(j, &field, now_us)?);
    }
    let observation = Observation {
        now_us,
        step_s: 300.0,
        hashprice,
        sites: vec![SiteView { id: site.id.clone(), node: site.id.clone(), cap_w, groups, pools, running }],
        queue,
        last_known_price: BTreeMap::new(),
    };
    Ok(Problem { observation, initial, economics, prices: req.prices_usd_per_mwh.clone() })
}

/// Runs the optimiser on a checked problem.
pub fn solve(p: Problem, ga_budget: Duration) -> Result<ProposeResponse, ApiError> {
    let obs = p.observation;
    let site = &obs.sites[0];
    let hour = obs.now_us.div_euclid(HOUR_US) * HOUR_US;
    let mut cfg = OptimiserConfig { horizon_hours: p.prices.len(), ..OptimiserConfig::default() };
    cfg.ga.time_budget = ga_budget;
    let outlook = Perfect {
        start_us: hour,
        prices: BTreeMap::from([(site.node.clone(), p.prices.into_iter().map(Some).collect())]),
    };
    let mut optimiser = Optimiser::new("propose", cfg, Box::new(outlook), p.economics, vec![p.initial])
        .map_err(|e| ApiError::internal(format!("the optimiser: {e}")))?;
    let decision = optimiser.decide(&obs).map_err(|e| ApiError::internal(format!("the optimiser failed: {e}")))?;
    let settings = decision.settings.into_iter().next().unwrap_or_default();
    let groups: Vec<GroupOut> = site
        .groups
        .iter()
        .zip(&settings)
        .map(|(g, s)| GroupOut { id: g.id.clone(), awake: s.awake, target_w: s.target_w, draw_w: s.draw_w(g.devices) })
        .collect();
    // Worst case: the site with the placements made (their GPUs busy at board power, as every
    // busy GPU); preempted work still counts until it has stopped.
    let mut after = site.clone();
    for (job, pool) in &decision.place {
        let j = obs.queue.iter().find(|j| &j.id == job).expect("the optimiser places queued jobs");
        let p = after.pools.iter_mut().find(|p| &p.id == pool).expect("the optimiser places on the site's pools");
        p.free_whole_gpus -= j.num_gpu as usize;
    }
    let worst_case_draw_w = groups.iter().map(|g| g.draw_w).sum::<f64>() + after.gpu_worst_w();
    Ok(ProposeResponse {
        groups,
        place: decision.place.into_iter().map(|(job, pool)| PlacementOut { job, pool }).collect(),
        preempt: decision.preempt,
        worst_case_draw_w,
        cap_w: site.cap_w,
    })
}

#[utoipa::path(
    post,
    path = "/v1/schedule/propose",
    request_body = ProposeRequest,
    responses(
        (status = 200, description = "The proposal", body = ProposeResponse),
        (status = 403, description = "The key lacks the operate role", body = ErrorBody),
        JsonRouteErrors,
    ),
    security(("bearer" = [])),
    tag = "schedule"
)]
pub async fn propose(State(app): State<Arc<App>>, ApiJson(req): ApiJson<ProposeRequest>) -> Result<Response, ApiError> {
    let problem = problem(&req)?;
    let budget = Duration::from_millis(app.limits.propose_ga_ms);
    let out = tokio::task::spawn_blocking(move || solve(problem, budget))
        .await
        .map_err(|e| ApiError::internal(format!("the optimiser stopped: {e}")))??;
    Ok(Json(out).into_response())
}
