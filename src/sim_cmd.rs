//! `hcp sim`: simulated history, calibration of the simulators, simulated miners on TCP.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hcp_sim::calibrate::{CalibrateConfig, calibrate_all};
use hcp_sim::fleet::FleetConfig;
use hcp_sim::history::{HistoryConfig, write_history};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SimArgs {
    #[command(subcommand)]
    command: Option<SimCommand>,
    /// Fleet file (see fleets/).
    #[arg(long, required = true)]
    fleet: Option<PathBuf>,
    /// Days to simulate from the fleet's start (1 to 3,650).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_SIM_DAYS), default_value_t = 7)]
    days: u32,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Dataset directory for prices, btc_network, jobs and telemetry.
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// Fit the simulators (prices per node, workloads, Bitcoin network) to the real data and
    /// write the calibration files the simulator embeds.
    Calibrate(CalibrateArgs),
    /// Serve simulated miners on the JSON miner API (LuxOS dialect), one per loopback
    /// address from --first-ip, until interrupted.
    Miners(MinersArgs),
    /// Serve a whole simulated site for `hcp scheduler`: the fleet's world on a clock, every
    /// ASIC on its own miner API port, GPU pools and jobs on a control API; until interrupted.
    Site(SiteArgs),
}

#[derive(Debug, Args)]
struct SiteArgs {
    /// Fleet file (see fleets/; `fleets/daemon-demo.toml` is small enough for one port per
    /// miner).
    #[arg(long)]
    fleet: PathBuf,
    /// Days the world runs (then the site reports itself done; 1 to 3,650).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_SIM_DAYS), default_value_t = 7)]
    days: u32,
    /// Days of history before the clock starts: their prices are published (what a forecaster
    /// needs at once), nothing else of them is served (0 to 3,650).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=MAX_SIM_DAYS), default_value_t = 0)]
    history_days: u32,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Simulated seconds per wall-clock second (1: real time).
    #[arg(long, default_value_t = 60.0)]
    speed: f64,
    /// Control API address.
    #[arg(long, default_value = "127.0.0.1:4100")]
    control: std::net::SocketAddr,
    /// Address the miners listen on.
    #[arg(long, default_value = "127.0.0.1")]
    miner_ip: std::net::IpAddr,
    /// First miner port (the others follow in fleet order); 0: any free ports.
    #[arg(long, default_value_t = 0)]
    first_miner_port: u16,
    /// Probability that a miner drops a request without reply (fault injection), as `sim miners`.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Delay before each miner's answer, s, as slow firmware (fault injection), as `sim miners`;
    /// the miners wait in parallel.
    #[arg(long, default_value_t = 0.0)]
    delay_s: f64,
}

#[derive(Debug, Args)]
struct MinersArgs {
    /// ASIC model (see `asic_operating_points.csv`).
    #[arg(long, default_value = "Antminer S19j Pro")]
    model: String,
    /// Miners, one per address (1 to 65,536).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    count: u32,
    /// First address; the others follow it (127.0.0.2, 127.0.0.3, ...).
    #[arg(long, default_value = "127.0.0.2")]
    first_ip: std::net::Ipv4Addr,
    #[arg(long, default_value_t = 4028)]
    port: u16,
    /// Simulated seconds per wall-clock second.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Probability that a request is dropped without reply (fault injection).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Delay before each reply, s (fault injection).
    #[arg(long, default_value_t = 0.0)]
    delay_s: f64,
}

#[derive(Debug, Args)]
struct CalibrateArgs {
    /// Real data, laid out like ../shared/data.
    #[arg(long, env = "HCP_SHARED_DATA", default_value = "../shared/data")]
    data: PathBuf,
    /// ERCOT settlement point(s) to fit.
    #[arg(long = "node", default_values = ["HB_WEST", "LZ_WEST"])]
    nodes: Vec<String>,
    /// Directory for the calibration files (the built-ins live in sim/calibration).
    #[arg(long, default_value = "sim/calibration")]
    out: PathBuf,
}

pub fn sim(args: SimArgs) -> Result<()> {
    match args.command {
        Some(SimCommand::Calibrate(a)) => {
            crate::given_once("--node", &a.nodes)?;
            let cfg = CalibrateConfig { data: a.data, nodes: a.nodes, out: a.out };
            let done = calibrate_all(&cfg).context("calibrating the simulators")?;
            for (path, cal) in &done.prices {
                let r = &cal.real_rtm;
                println!(
                    "{}: {} hours, rtm p50 {:.2} p99 {:.2} spikes {:.4} negative {:.4}; hourly phi {:.3}, daily phi {:.3} -> {}",
                    cal.node,
                    r.hours,
                    r.quantiles[3],
                    r.quantiles[6],
                    r.spike_rate,
                    r.negative_rate,
                    cal.hourly_phi,
                    cal.daily_phi,
                    path.display()
                );
            }
            for t in &done.workloads.1.traces {
                let rate: f64 = t.arrivals_per_hour.iter().sum::<f64>() / 168.0;
                println!(
                    "{}: {:.2} GPU-job arrivals/hour on {} GPUs; classes {}; excluded {:?} -> {}",
                    t.source,
                    rate,
                    t.trace_gpus,
                    t.qos.iter().map(|q| format!("{} {:.3}", q.qos, q.share)).collect::<Vec<_>>().join(", "),
                    t.excluded,
                    done.workloads.0.display()
                );
            }
            let b = &done.btc.1;
            println!(
                "bitcoin: price drift {:.5}/day vol {:.4}/day; hashrate drift {:.5}/day; fee share {:.4} ± {:.4} -> {}",
                b.price_log_drift_per_day,
                b.price_log_vol_per_day,
                b.hashrate_log_drift_per_day,
                b.fee_share_mean,
                b.fee_share_sd,
                done.btc.0.display()
            );
            Ok(())
        }
        Some(SimCommand::Miners(a)) => miners(a),
        Some(SimCommand::Site(a)) => site(a),
        None => history(args),
    }
}

fn history(args: SimArgs) -> Result<()> {
    let (Some(fleet_path), Some(out)) = (args.fleet, args.out) else {
        anyhow::bail!("`hcp sim` needs --fleet and --out");
    };
    let fleet = FleetConfig::load(&fleet_path).context("--fleet")?;
    let cfg = HistoryConfig { fleet, days: args.days, seed: args.seed, out };
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} steps {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("simulating {} days", args.days));
    let started = std::time::Instant::now();
    let report = write_history(&cfg, &mut |step, steps| {
        if step == 1 {
            bar.set_length(steps);
        }
        if step % 64 == 0 || step == steps {
            bar.set_position(step);
        }
    })
    .with_context(|| format!("simulating {}", fleet_path.display()))?;
    bar.finish_and_clear();
    let c = &report.counters;
    println!(
        "{} steps, {} device-steps in {:.1} s; jobs arrived {}, finished {}, evicted {}; commands sent {} (lost {}, duplicated {}, delayed {}); telemetry dropped {}; peak site power {:.1} % of cap",
        c.steps,
        c.device_steps,
        started.elapsed().as_secs_f64(),
        c.jobs_arrived,
        c.jobs_finished,
        c.jobs_evicted,
        c.commands_sent,
        c.commands_lost,
        c.commands_duplicated,
        c.commands_delayed,
        c.telemetry_dropped,
        100.0 * c.max_cap_ratio
    );
    for (table, rows, files) in &report.tables {
        println!("{table}: {rows} rows in {} file(s)", files.len());
    }
    println!("run id {} -> {}", report.run_id, cfg.out.display());
    Ok(())
}

/// The most days a simulation runs: ten years, far past any backtest here; beyond it a typo
/// would simulate (and, for `hcp sim`, write) for days on end.
pub const MAX_SIM_DAYS: i64 = 3_650;

/// Simulated seconds per wall-clock second: a positive number, at most a million.
pub fn check_speed(speed: f64) -> Result<()> {
    if !(speed > 0.0 && speed <= 1e6) {
        anyhow::bail!("--speed {speed}: above 0, at most 1000000");
    }
    Ok(())
}

fn miners(a: MinersArgs) -> Result<()> {
    use hcp_sim::asic::{AsicCatalog, AsicPhysics};
    use hcp_sim::miner_api::{MinerServer, SimMiner};
    let faults = api_faults(a.loss, a.delay_s)?;
    check_speed(a.speed)?;
    let model = AsicCatalog::builtin().get(&a.model)?.clone();
    let first = u32::from(a.first_ip);
    if first.checked_add(a.count - 1).is_none() {
        anyhow::bail!("--count {} miners from --first-ip {} run past 255.255.255.255", a.count, a.first_ip);
    }
    let mut servers = Vec::new();
    for i in 0..a.count {
        let ip = std::net::Ipv4Addr::from(first + i);
        let miner =
            SimMiner::new(model.clone(), AsicPhysics::default(), i, a.seed).with_speed(a.speed).with_faults(faults);
        let addr = std::net::SocketAddr::from((ip, a.port));
        servers.push(MinerServer::spawn(addr, miner).with_context(|| format!("binding {addr}"))?);
        println!("serving {} on {addr}", model.name);
    }
    println!("ready");
    loop {
        std::thread::park();
    }
}

/// `--loss` and `--delay-s` of the simulated miners, checked.
fn api_faults(loss: f64, delay_s: f64) -> Result<hcp_sim::miner_api::ApiFaults> {
    if !(0.0..=1.0).contains(&loss) {
        anyhow::bail!("--loss {loss}: a probability, 0 to 1");
    }
    if !(0.0..=3600.0).contains(&delay_s) {
        anyhow::bail!("--delay-s {delay_s}: 0 to 3600 seconds");
    }
    Ok(hcp_sim::miner_api::ApiFaults { loss, delay_s })
}

fn site(a: SiteArgs) -> Result<()> {
    use hcp_sim::site_server::{SiteServer, SiteServerConfig, open_files_needed};
    check_speed(a.speed)?;
    let miner_faults = api_faults(a.loss, a.delay_s)?;
    let fleet = FleetConfig::load(&a.fleet).context("--fleet")?;
    let mut world = hcp_sim::world::World::new(fleet, a.history_days + a.days, a.seed)?;
    if a.history_days > 0 {
        world.skip_to(world.start_us + i64::from(a.history_days) * hcp_datasets::time::MICROS_PER_DAY)?;
    }
    let devices: usize = world.sites.iter().flat_map(|s| s.groups.iter()).map(|g| g.len()).sum();
    if let Some((before, after)) = crate::open_files::raise_to(open_files_needed(devices)) {
        eprintln!("open-file limit raised from {before} to {after} for {devices} miners");
    }
    let cfg = SiteServerConfig {
        control: a.control,
        miner_ip: a.miner_ip,
        first_miner_port: a.first_miner_port,
        speed: a.speed,
        miner_faults,
    };
    let server = SiteServer::spawn(world, &cfg)?;
    // One line a supervisor (or a test) can wait for.
    println!("site ready: control API on {}, {devices} miners, {}x real time", server.control_addr(), a.speed);
    use std::io::Write as _;
    std::io::stdout().flush()?;
    loop {
        std::thread::park();
    }
}
