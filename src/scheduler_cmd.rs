//! `hcp scheduler`: the live scheduler daemon against a site (real or `hcp sim site`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use hcp_scheduler::daemon::{Clock, DaemonConfig};
use hcp_sim::fleet::FleetConfig;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ClockArg {
    /// The site runs on wall-clock time: look at its clock every second.
    Real,
    /// The site is simulated faster than real time: look every 10 ms.
    Accelerated,
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// The operator's fleet file: sites, caps and the groups the site must have.
    #[arg(long)]
    fleet: PathBuf,
    /// The site's control API.
    #[arg(long, default_value = "127.0.0.1:4100")]
    site: SocketAddr,
    /// State directory: the action journal and the last plan (kept across restarts).
    #[arg(long, default_value = "out/scheduler")]
    state: PathBuf,
    /// Address of /health and /metrics.
    #[arg(long, default_value = "127.0.0.1:9402")]
    listen: SocketAddr,
    #[arg(long, value_enum, default_value = "real")]
    clock: ClockArg,
    /// Stop after deciding this many steps (at least 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    steps: Option<u64>,
    /// Time budget of the genetic algorithm per decision, ms (1 to 60,000).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    ga_ms: u64,
    /// A trained real-time price model (`hcp train price`) for a site's node; repeat for more
    /// nodes. Without one, a node's outlook is its latest published price.
    #[arg(long = "model")]
    models: Vec<PathBuf>,
    /// Timeout of each request to the site or a miner, ms (1 to 60,000).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    timeout_ms: u64,
    #[command(flatten)]
    log: crate::logging::LogArgs,
}

pub fn scheduler_cmd(a: SchedulerArgs) -> Result<()> {
    let _logs = crate::logging::init(&a.log, "hcp-scheduler")?;
    let fleet = FleetConfig::load(&a.fleet).context("--fleet")?;
    let mut optimiser = hcp_scheduler::policy::OptimiserConfig::default();
    optimiser.ga.time_budget = Duration::from_millis(a.ga_ms);
    let clock = match a.clock {
        ClockArg::Real => Clock::Real,
        ClockArg::Accelerated => Clock::Accelerated,
    };
    let mut forecasters = Vec::new();
    let mut validation_mae = std::collections::BTreeMap::new();
    // A model of a node no site is on would go unused, and the site's latest price stand in.
    let nodes = fleet.nodes();
    for dir in &a.models {
        let (f, manifest) =
            hcp_models::forecast::price::PriceModel::load(dir).with_context(|| format!("--model {}", dir.display()))?;
        // The forecast-drift alert holds the live error against it: a model without one is refused.
        let mae = f
            .validation_mae(&manifest)
            .with_context(|| format!("--model {}: its manifest has no validation MAE", dir.display()))?;
        if !nodes.contains(&f.node()) {
            bail!(
                "--model {} forecasts {}, and no site of {} is on that node (its sites are on {})",
                dir.display(),
                f.node(),
                a.fleet.display(),
                nodes.join(", ")
            );
        }
        if validation_mae.insert(f.node().to_string(), mae).is_some() {
            bail!("--model {}: a second model for {}; give one per node", dir.display(), f.node());
        }
        forecasters.push(f);
    }
    let cfg = DaemonConfig {
        fleet,
        site: a.site,
        state_dir: a.state,
        listen: a.listen,
        clock,
        max_steps: a.steps,
        optimiser,
        engine: Default::default(),
        timeout: Duration::from_millis(a.timeout_ms),
        concurrency: 64,
        stale_after: match clock {
            Clock::Real => Duration::from_secs(15 * 60),
            Clock::Accelerated => Duration::from_secs(30),
        },
        connect_for: Duration::from_secs(30),
        forecasters,
        validation_mae,
    };
    let summary = hcp_scheduler::daemon::run_until_signal(cfg)?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
