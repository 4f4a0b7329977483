//! `hcp scheduler`: the live scheduler daemon against a site (real or `hcp sim site`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use hcp_models::artifact::{MANIFEST_FILE, Manifest, model_dirs, read_manifest};
use hcp_models::forecast::price::{KINDS, PriceModel};
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
    #[arg(long, env = "HCP_SCHEDULER_FLEET")]
    fleet: PathBuf,
    /// The site's control API.
    #[arg(long, env = "HCP_SCHEDULER_SITE", default_value = "127.0.0.1:4100")]
    site: SocketAddr,
    /// State directory: the action journal and the last plan (kept across restarts).
    #[arg(long, env = "HCP_SCHEDULER_STATE", default_value = "out/scheduler")]
    state: PathBuf,
    /// Address of /health and /metrics.
    #[arg(long, env = "HCP_SCHEDULER_LISTEN", default_value = "127.0.0.1:9402")]
    listen: SocketAddr,
    #[arg(long, env = "HCP_SCHEDULER_CLOCK", value_enum, default_value = "real")]
    clock: ClockArg,
    /// Stop after deciding this many steps (at least 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    steps: Option<u64>,
    /// Time budget of the genetic algorithm per decision, ms (1 to 60,000).
    #[arg(long, env = "HCP_SCHEDULER_GA_MS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    ga_ms: u64,
    /// A trained real-time price model (`hcp train price`) for a site's node; repeat for more
    /// nodes. Without one, a node's outlook is its latest published price.
    #[arg(long = "model", conflicts_with = "models_dir")]
    models: Vec<PathBuf>,
    /// A models directory (as `hcp run` writes `OUT/models/` and `hcp serve --models` reads):
    /// its real-time price models of the fleet's nodes are used, one a node; its other models
    /// are left, each named in the log. Also read from HCP_SCHEDULER_MODELS (refused beside
    /// --model, which it would otherwise override unseen).
    #[arg(long = "models")]
    models_dir: Option<PathBuf>,
    /// Timeout of each request to the site or a miner, ms (1 to 60,000).
    #[arg(long, env = "HCP_SCHEDULER_TIMEOUT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    timeout_ms: u64,
    /// Miner requests in flight at once when reading or commanding the miners (1 to 4,096):
    /// a step reads every miner, so a site of slow firmware wants more.
    #[arg(long, env = "HCP_SCHEDULER_MINER_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    miner_concurrency: u64,
    #[command(flatten)]
    log: crate::logging::LogArgs,
}

/// The environment's `--models`.
const MODELS_ENV: &str = "HCP_SCHEDULER_MODELS";

pub fn scheduler_cmd(a: SchedulerArgs) -> Result<()> {
    let _logs = crate::logging::init(&a.log, "hcp-scheduler")?;
    make_room_for_miner_connections(a.miner_concurrency)?;
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
    let models_dir = match (a.models_dir, std::env::var_os(MODELS_ENV)) {
        (Some(dir), _) => Some(dir),
        (None, Some(_)) if !a.models.is_empty() => {
            bail!("--model with {MODELS_ENV} set: give the models one way (unset it, or leave out --model)")
        }
        (None, env) => env.map(PathBuf::from),
    };
    let (flag, loaded) = match &models_dir {
        Some(dir) => ("--models", price_models_in(dir, &nodes)?),
        None => {
            let load = |dir: &PathBuf| {
                let (f, manifest) = PriceModel::load(dir).with_context(|| format!("--model {}", dir.display()))?;
                anyhow::Ok((dir.clone(), f, manifest))
            };
            ("--model", a.models.iter().map(load).collect::<Result<Vec<_>>>()?)
        }
    };
    for (dir, f, manifest) in loaded {
        // The forecast-drift alert holds the live error against it: a model without one is refused.
        let mae = f
            .validation_mae(&manifest)
            .with_context(|| format!("{flag} {}: its manifest has no validation MAE", dir.display()))?;
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
        tracing::info!(model = %dir.display(), node = f.node(), kind = f.kind(), "planning on this price model");
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
        concurrency: a.miner_concurrency as usize,
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

/// Open files the daemon needs with `concurrency` miner requests in flight: a socket each, and
/// room for its own (the site's API, /metrics clients, the journal, the runtime's).
fn open_files_needed(concurrency: u64) -> u64 {
    concurrency + 64
}

/// Raises the soft open-file limit to what `--miner-concurrency` needs; refuses, naming both, a
/// concurrency the hard limit cannot hold (past it, reads would fail miner by miner as if the
/// miners were down).
fn make_room_for_miner_connections(concurrency: u64) -> Result<()> {
    let needed = open_files_needed(concurrency);
    if let Some(hard) = crate::open_files::limits().hard.filter(|&hard| hard < needed) {
        bail!(
            "--miner-concurrency {concurrency}: that many miner connections and the daemon's own files need \
             {needed} open files, and the hard limit here is {hard}: raise it (`ulimit -Hn`) or lower \
             --miner-concurrency"
        );
    }
    if let Some((before, after)) = crate::open_files::raise_to(needed) {
        tracing::info!(before, after, concurrency, "open-file limit raised for the miner connections");
    }
    Ok(())
}

/// The real-time price models in a models directory (its subdirectories holding a manifest)
/// that forecast a node of `nodes`. Every other subdirectory is named in the log and left: a
/// model of another kind or node (a directory serves many) and one without a manifest. Two
/// models of one node are refused (which one would plan is the operator's to say, with
/// `--model`), and so is a directory with none for any node.
fn price_models_in(dir: &Path, nodes: &[&str]) -> Result<Vec<(PathBuf, PriceModel, Manifest)>> {
    let (models, others) = model_dirs(dir).with_context(|| format!("--models {}", dir.display()))?;
    for other in others {
        tracing::warn!(dir = %other.display(), "not a model: no {MANIFEST_FILE}");
    }
    let mut chosen: std::collections::BTreeMap<String, (PathBuf, PriceModel, Manifest)> = Default::default();
    for sub in models {
        let manifest = read_manifest(&sub).with_context(|| format!("--models {}", dir.display()))?;
        if !KINDS.contains(&manifest.kind.as_str()) {
            tracing::info!(dir = %sub.display(), kind = %manifest.kind, "left: not a real-time price model");
            continue;
        }
        let (model, manifest) = PriceModel::load(&sub).with_context(|| format!("--models {}", dir.display()))?;
        if !nodes.contains(&model.node()) {
            tracing::info!(dir = %sub.display(), node = model.node(), "left: no site of the fleet is on its node");
            continue;
        }
        let node = model.node().to_string();
        if let Some((first, ..)) = chosen.insert(node.clone(), (sub.clone(), model, manifest)) {
            bail!(
                "--models {}: {} and {} both forecast {node}; give the one to plan on with --model",
                dir.display(),
                first.display(),
                sub.display(),
            );
        }
    }
    if chosen.is_empty() {
        bail!(
            "--models {} holds no real-time price model (`hcp train price`) of the fleet's nodes ({})",
            dir.display(),
            nodes.join(", ")
        );
    }
    Ok(chosen.into_values().collect())
}
