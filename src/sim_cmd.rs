//! `hcp sim`: simulated history, calibration of the simulators, simulated miners on TCP.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hcp_sim::calibrate::{CalibrateConfig, calibrate_prices};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SimArgs {
    #[command(subcommand)]
    command: Option<SimCommand>,
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// Fit the price model to a real ERCOT hourly file and write `ercot_<node>.json`.
    Calibrate(CalibrateArgs),
}

#[derive(Debug, Args)]
struct CalibrateArgs {
    /// ERCOT hourly price file (`ercot_dam_rtm_hourly_15sp.csv.gz`).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Settlement point(s) to fit.
    #[arg(long = "node", required = true)]
    nodes: Vec<String>,
    /// Directory for the calibration files (the built-ins live in sim/calibration).
    #[arg(long, default_value = "sim/calibration")]
    out: PathBuf,
}

pub fn sim(args: SimArgs) -> Result<()> {
    match args.command {
        Some(SimCommand::Calibrate(a)) => {
            let cfg = CalibrateConfig { inputs: a.inputs, nodes: a.nodes, out: a.out };
            for (path, cal) in calibrate_prices(&cfg).context("calibrating the price model")? {
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
            Ok(())
        }
        None => anyhow::bail!("`hcp sim` needs a subcommand"),
    }
}
