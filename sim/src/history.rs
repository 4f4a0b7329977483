//! `hcp sim`: runs a fleet's world for N days and writes its history as canonical Parquet:
//! `prices` (the feed, gaps included), `btc_network`, `jobs`, `telemetry`, and the GPU rental
//! prices in `exogenous` (market `GPU_RENTAL`, node = GPU model, variable
//! `rental_usd_per_gpu_hour`, daily).

use std::path::{Path, PathBuf};

use hcp_datasets::rows::{ExogenousRow, btc_network_batch, exogenous_batch, jobs_batch, prices_batch, telemetry_batch};
use hcp_datasets::{Table, WriteOptions, write_table};

use crate::error::Result;
use crate::fleet::FleetConfig;
use crate::world::{RunCounters, World};

/// One history run.
#[derive(Debug, Clone)]
pub struct HistoryConfig {
    pub fleet: FleetConfig,
    pub days: u32,
    pub seed: u64,
    pub out: PathBuf,
}

/// What a run wrote.
#[derive(Debug, Clone)]
pub struct HistoryReport {
    pub run_id: String,
    pub counters: RunCounters,
    /// (table, rows, files).
    pub tables: Vec<(Table, usize, Vec<PathBuf>)>,
}

/// Runs the world, calling `progress(step, steps)` after each step, and writes the tables.
/// The run id is `sim-<fleet name>-<seed>`: the same fleet, days and seed write byte-identical
/// files.
pub fn write_history(cfg: &HistoryConfig, progress: &mut dyn FnMut(u64, u64)) -> Result<HistoryReport> {
    let mut world = World::new(cfg.fleet.clone(), cfg.days, cfg.seed)?;
    let steps = (cfg.days as f64 * 86_400.0 / world.step_s).round() as u64;
    for s in 0..steps {
        world.step()?;
        progress(s + 1, steps);
    }
    let run_id = format!("sim-{}-{}", sanitize(&cfg.fleet.name), cfg.seed);
    let opts = WriteOptions::new(run_id.clone(), "sim".to_string());
    let mut tables = Vec::new();
    let jobs: Vec<_> = world.jobs.values().map(|(job, finished)| job.to_row(*finished)).collect();
    let rental: Vec<ExogenousRow> = world
        .rental
        .iter()
        .map(|(day_us, model, usd)| ExogenousRow {
            market: "GPU_RENTAL".into(),
            node: model.clone(),
            interval_start_us: *day_us,
            variable: "rental_usd_per_gpu_hour".into(),
            kind: "actual",
            value: Some(*usd),
        })
        .collect();
    let batches = [
        (Table::Prices, prices_batch(&world.feed)),
        (Table::Exogenous, exogenous_batch(&rental)),
        (Table::BtcNetwork, btc_network_batch(&world.btc)),
        (Table::Jobs, jobs_batch(&jobs)),
        (Table::Telemetry, telemetry_batch(&world.telemetry)),
    ];
    for (table, batch) in batches {
        if batch.num_rows() == 0 {
            continue;
        }
        let written = write_table(&cfg.out, table, &batch, &opts)?;
        tables.push((table, batch.num_rows(), written.into_iter().map(|w| w.path).collect()));
    }
    Ok(HistoryReport { run_id, counters: world.counters(), tables })
}

fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// `fleets/west-texas.toml`, built in: the fleet `hcp run` simulates on a fresh machine.
pub const WEST_TEXAS_FLEET: &str = include_str!("../../fleets/west-texas.toml");

/// The example fleets shipped in `fleets/`.
pub fn example_fleet_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fleets"))
}
