//! `hcp exporter`: Prometheus exporters for the fleet's devices.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::sync::Arc;

use hcp_sim::exporter::{AsicExporterConfig, ExporterServer, GpuExporterConfig, GpuFleetSim, render_dcgm};
use hcp_sim::fleet::FleetConfig;

#[derive(Debug, Args)]
pub struct ExporterArgs {
    #[command(subcommand)]
    what: ExporterWhat,
}

#[derive(Debug, Subcommand)]
enum ExporterWhat {
    /// ASIC miners over the miner TCP API (LuxOS/CGMiner dialect; `hcp sim miners` speaks it):
    /// hashrate, power, temperatures, fans, shares, state, on /metrics.
    Asic(AsicArgs),
    /// Every GPU of a simulated fleet under NVIDIA dcgm-exporter's metric names and labels
    /// (stock Grafana dashboards work); the fleet steps in accelerated wall-clock time.
    Gpu(GpuArgs),
}

#[derive(Debug, Args)]
struct GpuArgs {
    /// Fleet file (fleets/west-texas.toml, fleets/small.toml).
    #[arg(long)]
    fleet: std::path::PathBuf,
    /// Only this site's GPUs.
    #[arg(long)]
    site: Option<String>,
    /// Days the simulation runs before it stops stepping (1 to 3,650).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=crate::sim_cmd::MAX_SIM_DAYS), default_value_t = 365)]
    days: u32,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Simulated seconds per wall-clock second.
    #[arg(long, default_value_t = 60.0)]
    speed: f64,
    #[arg(long, default_value = "127.0.0.1:9400")]
    listen: SocketAddr,
    /// Print one scrape, after the first simulated step, and exit.
    #[arg(long)]
    once: bool,
}

#[derive(Debug, Args)]
struct AsicArgs {
    /// A miner's API address, e.g. 127.0.0.2:4028; repeat for each, or give them separated by
    /// commas.
    #[arg(long = "miner", env = "HCP_EXPORTER_MINERS", value_delimiter = ',', required = true)]
    miners: Vec<SocketAddr>,
    #[arg(long, env = "HCP_EXPORTER_ASIC_LISTEN", default_value = "127.0.0.1:9401")]
    listen: SocketAddr,
    /// Timeout of each request to a miner, ms (1 to 60,000).
    #[arg(long, env = "HCP_EXPORTER_ASIC_TIMEOUT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    timeout_ms: u64,
    /// Print one scrape to stdout and exit instead of serving.
    #[arg(long)]
    once: bool,
}

pub fn exporter_cmd(args: ExporterArgs) -> Result<()> {
    match args.what {
        ExporterWhat::Gpu(a) => {
            crate::sim_cmd::check_speed(a.speed)?;
            let fleet = FleetConfig::load(&a.fleet)?;
            let speed = if a.once { 1e9 } else { a.speed };
            let sim = GpuFleetSim::start(GpuExporterConfig { fleet, site: a.site, days: a.days, seed: a.seed, speed })?;
            if a.once {
                let start = sim.snapshot.lock().expect("no panic").time_us;
                while sim.snapshot.lock().expect("no panic").time_us == start {
                    std::thread::sleep(Duration::from_millis(5));
                }
                print!("{}", render_dcgm(&sim.snapshot.lock().expect("no panic")));
                return Ok(());
            }
            let snapshot = sim.snapshot.clone();
            let server =
                ExporterServer::serve(a.listen, Arc::new(move || render_dcgm(&snapshot.lock().expect("no panic"))))
                    .with_context(|| format!("binding {}", a.listen))?;
            println!("serving http://{}/metrics ({} simulated seconds per second)", server.local_addr(), a.speed);
            loop {
                std::thread::park();
            }
        }
        ExporterWhat::Asic(a) => {
            // A miner named twice would be two series with the same labels: an exposition
            // Prometheus refuses whole.
            crate::given_once("--miner", &a.miners)?;
            let cfg = AsicExporterConfig { miners: a.miners, timeout: Duration::from_millis(a.timeout_ms) };
            if a.once {
                print!("{}", hcp_sim::exporter::scrape(&cfg));
                return Ok(());
            }
            let server = ExporterServer::spawn(a.listen, cfg).with_context(|| format!("binding {}", a.listen))?;
            println!("serving http://{}/metrics", server.local_addr());
            loop {
                std::thread::park();
            }
        }
    }
}
