//! Simulator throughput in device-steps per second on one core: the West Texas fleet (20,000
//! ASICs in 5 groups, 2,000 GPUs in 2 pools, 3 sites) at 5-minute steps, telemetry off.
//!
//! `cargo bench -p hcp-sim --bench fleet` runs 3 × 30 simulated days and extrapolates to a
//! year; `HCP_BENCH_DAYS=365` runs the whole year. The goal: one year (105,120 steps,
//! 2.31e9 device-steps) in under 60 s.

use std::time::Instant;

use hcp_sim::fleet::FleetConfig;
use hcp_sim::history::WEST_TEXAS_FLEET;
use hcp_sim::world::World;

fn main() {
    let days: u32 = std::env::var("HCP_BENCH_DAYS").ok().and_then(|d| d.parse().ok()).unwrap_or(30);
    let reps = if days >= 365 { 1 } else { 3 };
    let fleet = FleetConfig::parse(WEST_TEXAS_FLEET).expect("built-in fleet");
    let asics: usize = fleet.sites.iter().flat_map(|s| &s.asic_groups).map(|g| g.count).sum();
    let gpus: u32 = fleet.sites.iter().flat_map(|s| &s.gpu_pools).map(|p| p.nodes * p.gpus_per_node).sum();
    println!(
        "fleet: {asics} ASICs, {gpus} GPUs, {} sites, {days} days at 5-minute steps, {reps} run(s)",
        fleet.sites.len()
    );
    let mut rates = Vec::new();
    for rep in 0..reps {
        let mut world = World::new(fleet.clone(), days, 42 + rep).expect("world");
        world.record_telemetry = false;
        let started = Instant::now();
        while !world.is_done() {
            world.step().expect("step");
        }
        let secs = started.elapsed().as_secs_f64();
        let c = world.counters();
        let rate = c.device_steps as f64 / secs;
        println!(
            "run {rep}: {} steps, {} device-steps in {secs:.2} s = {:.1} M device-steps/s; jobs {} arrived, {} finished",
            c.steps,
            c.device_steps,
            rate / 1e6,
            c.jobs_arrived,
            c.jobs_finished
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let year_device_steps = (asics as f64 + gpus as f64) * 365.0 * 288.0;
    println!(
        "median {:.1} M device-steps/s (min {:.1}, max {:.1}); one simulated year: {:.1} s (goal < 60 s)",
        median / 1e6,
        rates[0] / 1e6,
        rates[rates.len() - 1] / 1e6,
        year_device_steps / median
    );
}
