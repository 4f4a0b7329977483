//! Scheduler speed at the issue's size: three sites, 20,000 ASICs in groups, 2,000 GPUs and
//! 500 queued best-effort jobs on the synthetic market (no data file needed). Measures a full
//! re-plan (every hour's mining table rebuilt, the genetic algorithm over the 24-hour horizon,
//! argmin for the targets) and the switching engine turning a plan that changes every group
//! into commands. `cargo bench -p hcp-scheduler --bench plan`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use hcp_scheduler::economics::{AsicEconomics, Setting};
use hcp_scheduler::engine::{Engine, initial};
use hcp_scheduler::observe::{JobView, observe};
use hcp_scheduler::outlook::Perfect;
use hcp_scheduler::policy::{Optimiser, Policy};
use hcp_sim::fleet::FleetConfig;
use hcp_sim::workload::JobClass;
use hcp_sim::world::World;

const FLEET: &str = r#"
name = "bench"
start = "2025-03-01"
step_minutes = 5
[policy]
mining = "scheduler"
[[sites]]
id = "s1"
node = "HB_WEST"
power_cap_mw = 22.0
  [[sites.asic_groups]]
  id = "s1-a"
  model = "Antminer S19j Pro"
  count = 4000
  [[sites.asic_groups]]
  id = "s1-b"
  model = "Antminer S21"
  count = 2500
  [[sites.gpu_pools]]
  id = "s1-h100"
  model = "H100"
  nodes = 100
  gpus_per_node = 8
[[sites]]
id = "s2"
node = "HB_WEST"
power_cap_mw = 22.0
  [[sites.asic_groups]]
  id = "s2-a"
  model = "Antminer S19j Pro"
  count = 4000
  [[sites.asic_groups]]
  id = "s2-b"
  model = "Antminer S21"
  count = 2500
  [[sites.gpu_pools]]
  id = "s2-h100"
  model = "H100"
  nodes = 100
  gpus_per_node = 8
[[sites]]
id = "s3"
node = "LZ_WEST"
power_cap_mw = 22.0
  [[sites.asic_groups]]
  id = "s3-a"
  model = "Antminer S19j Pro"
  count = 4000
  [[sites.asic_groups]]
  id = "s3-b"
  model = "Antminer S21"
  count = 3000
  [[sites.gpu_pools]]
  id = "s3-a100"
  model = "A100"
  nodes = 50
  gpus_per_node = 8
"#;

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let fleet = FleetConfig::parse(FLEET).expect("bench fleet");
    let mut world = World::new(fleet, 3, 1).expect("world");
    world.hand_over();
    world.step().expect("step");
    let telemetry = std::mem::take(&mut world.telemetry);
    let mut obs = observe(&world, &telemetry);
    let devices: usize = obs.sites.iter().flat_map(|s| &s.groups).map(|g| g.devices).sum();
    let gpus: usize = obs.sites.iter().flat_map(|s| &s.pools).map(|p| p.gpus).sum();
    // 500 queued best-effort jobs of the trace's shapes.
    obs.queue = (0..500)
        .map(|i| JobView {
            id: format!("job-{i}"),
            class: JobClass::BestEffort,
            num_gpu: [1, 1, 2, 4, 8][i % 5],
            gpu_milli: 1000,
            created_us: obs.now_us,
            remaining_s: 600.0 + (i % 37) as f64 * 900.0,
            value_usd_per_gpu_hour: 0.8 + (i % 11) as f64 * 0.1,
            deadline_us: Some(obs.now_us + (2 + i % 30) as i64 * 3_600_000_000),
            pool: None,
        })
        .collect();
    let nodes = ["HB_WEST", "LZ_WEST"];
    let prices: BTreeMap<String, Vec<Option<f64>>> = nodes
        .iter()
        .map(|n| {
            let series = (0..72).map(|h| world.true_price(n, world.start_us + h * 3_600_000_000)).collect();
            (n.to_string(), series)
        })
        .collect();
    let economics: BTreeMap<String, AsicEconomics> = world
        .sites
        .iter()
        .flat_map(|s| s.groups.iter())
        .map(|g| (g.model.name.clone(), AsicEconomics::new(g.model.clone())))
        .collect();
    let initial = initial(&world);
    let mut optimiser = Optimiser::new(
        "optimiser",
        Default::default(),
        Box::new(Perfect { start_us: world.start_us, prices }),
        economics,
        initial,
    )
    .expect("the default horizon");
    println!(
        "fleet: 3 sites, {devices} ASICs in 6 groups, {gpus} GPUs, {} queued jobs; horizon 24 h, GA {:?}",
        obs.queue.len(),
        hcp_scheduler::ga::GaConfig::default()
    );
    // A full re-plan each time: a new hour, so every mining table is rebuilt.
    let mut plan_ms = Vec::new();
    for i in 0..30 {
        let mut o = obs.clone();
        o.now_us += i * 3_600_000_000;
        let t = Instant::now();
        let decision = optimiser.decide(&o).expect("plan");
        plan_ms.push(t.elapsed().as_secs_f64() * 1e3);
        black_box(decision);
    }
    plan_ms.sort_by(f64::total_cmp);
    println!(
        "full re-plan: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} plans (GA generations per plan: {:?})",
        percentile(&plan_ms, 0.5),
        percentile(&plan_ms, 0.99),
        plan_ms[plan_ms.len() - 1],
        plan_ms.len(),
        optimiser.ga_generations.iter().take(5).collect::<Vec<_>>()
    );
    // The engine: a plan that moves every group (targets and awake counts) each step.
    let mut engine = Engine::at_start(Default::default(), &world);
    let mut apply_ms = Vec::new();
    for i in 0..200u64 {
        let decision = hcp_scheduler::policy::Decision {
            settings: obs
                .sites
                .iter()
                .map(|s| {
                    s.groups
                        .iter()
                        .map(|g| Setting {
                            target_w: g.model.min_power_w() + (i % 7) as f64 * 50.0,
                            awake: g.devices - (i as usize % 13),
                        })
                        .collect()
                })
                .collect(),
            place: Vec::new(),
            preempt: Vec::new(),
        };
        let t = Instant::now();
        let rows = engine.apply(&mut world, &obs, &decision, "bench", i);
        apply_ms.push(t.elapsed().as_secs_f64() * 1e3);
        black_box(rows);
    }
    apply_ms.sort_by(f64::total_cmp);
    println!(
        "engine, decision to last command sent ({devices} devices): p50 {:.3} ms, p99 {:.3} ms over {} plans",
        percentile(&apply_ms, 0.5),
        percentile(&apply_ms, 0.99),
        apply_ms.len()
    );
}
