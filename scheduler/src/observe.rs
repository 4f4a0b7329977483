//! What the scheduler sees of the world at a decision time: telemetry as published (rows can be
//! missing), the queue, the placed jobs, and the prices it may know.

use std::collections::BTreeMap;

use hcp_datasets::rows::TelemetryRow;
use hcp_sim::asic::AsicModel;
use hcp_sim::world::World;

/// One ASIC group as observed.
#[derive(Debug, Clone)]
pub struct GroupView {
    pub id: String,
    pub model: AsicModel,
    pub devices: usize,
    /// Power in the last telemetry row, W; `None` when the row was dropped (stale telemetry:
    /// the engine then assumes the group's worst-case draw).
    pub observed_power_w: Option<f64>,
    pub running: Option<usize>,
    pub sleeping: Option<usize>,
    /// The highest power target the devices report holding (exact, unlike the metered draw).
    pub reported_target_w: Option<f64>,
}

impl GroupView {
    /// Most the group can draw, W.
    pub fn max_draw_w(&self) -> f64 {
        self.devices as f64 * self.model.max_power_w()
    }
}

/// One GPU pool as observed.
#[derive(Debug, Clone)]
pub struct PoolView {
    pub id: String,
    pub gpus: usize,
    pub free_whole_gpus: usize,
    pub idle_w: f64,
    pub tdp_w: f64,
    /// Power of a GPU running batch work, W.
    pub batch_w: f64,
}

pub use hcp_sim::site_server::JobView;

/// One site as observed.
#[derive(Debug, Clone)]
pub struct SiteView {
    pub id: String,
    pub node: String,
    pub cap_w: f64,
    pub groups: Vec<GroupView>,
    pub pools: Vec<PoolView>,
    pub running: Vec<JobView>,
}

impl SiteView {
    /// Worst-case GPU draw: every busy GPU at its TDP, the rest idle, W.
    pub fn gpu_worst_w(&self) -> f64 {
        self.pools
            .iter()
            .map(|p| p.free_whole_gpus as f64 * p.idle_w + (p.gpus - p.free_whole_gpus) as f64 * p.tdp_w)
            .sum()
    }
}

/// Everything a policy may use at one decision.
#[derive(Debug, Clone)]
pub struct Observation {
    pub now_us: i64,
    pub step_s: f64,
    /// Hashprice of the day, USD per TH/s per day.
    pub hashprice: f64,
    pub sites: Vec<SiteView>,
    pub queue: Vec<JobView>,
    /// The latest published real-time price per node (the current hour's is not out yet).
    pub last_known_price: BTreeMap<String, f64>,
}

fn state_value<T: std::str::FromStr>(state: &str, key: &str) -> Option<T> {
    state.split(';').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Reads the world as a scheduler would: `telemetry` is the last step's published rows (some
/// may be missing).
pub fn observe(world: &World, telemetry: &[TelemetryRow]) -> Observation {
    let rows: BTreeMap<&str, &TelemetryRow> = telemetry.iter().map(|r| (r.device_id.as_str(), r)).collect();
    let mut sites = Vec::with_capacity(world.sites.len());
    for site in &world.sites {
        let groups = site
            .groups
            .iter()
            .map(|g| {
                let row = rows.get(g.id.as_str());
                let state = row.and_then(|r| r.state.as_deref());
                GroupView {
                    id: g.id.clone(),
                    model: g.model.clone(),
                    devices: g.len(),
                    observed_power_w: row.and_then(|r| r.power_w),
                    running: state.and_then(|s| state_value(s, "running")),
                    sleeping: state.and_then(|s| state_value(s, "sleeping")),
                    reported_target_w: state.and_then(|s| state_value(s, "target_w")),
                }
            })
            .collect();
        let pools = site
            .pools
            .iter()
            .map(|p| PoolView {
                id: p.id.clone(),
                gpus: p.len(),
                free_whole_gpus: p.free_gpus(1000),
                idle_w: p.model.idle_w,
                tdp_w: p.model.tdp_w,
                batch_w: p.gpu_power_at(p.physics.batch_util),
            })
            .collect();
        let running =
            site.pools.iter().flat_map(|p| p.placed().map(move |j| JobView::from_sim(j, None, Some(&p.id)))).collect();
        sites.push(SiteView {
            id: site.id.clone(),
            node: site.node.clone(),
            cap_w: site.power_cap_w,
            groups,
            pools,
            running,
        });
    }
    let queue = world.queued().map(|(j, rem)| JobView::from_sim(j, rem, None)).collect();
    let last_known_price = world
        .sites
        .iter()
        .filter_map(|s| Some((s.node.clone(), world.last_known_price(&s.node, world.now_us)?)))
        .collect();
    Observation {
        now_us: world.now_us,
        step_s: world.step_s,
        hashprice: world.hashprice(world.now_us),
        sites,
        queue,
        last_known_price,
    }
}
