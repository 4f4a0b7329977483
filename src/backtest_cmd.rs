//! `hcp backtest`: every policy through the simulators over real (or simulated) prices,
//! against the perfect-foresight optimum.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::Args;
use hcp_scheduler::backtest::{BacktestConfig, run, write_outputs};
use hcp_scheduler::outlook::Forecast;
use hcp_sim::fleet::FleetConfig;

#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// ERCOT hourly price file (`ercot_dam_rtm_hourly_15sp.csv.gz` layout), replayed as the
    /// market; its history before --from trains hcp's forecaster.
    #[arg(long)]
    prices: PathBuf,
    /// Settlement point every site of the fleet buys at.
    #[arg(long)]
    point: String,
    /// Fleet file (see fleets/).
    #[arg(long)]
    fleet: PathBuf,
    /// First day (UTC), inclusive.
    #[arg(long)]
    from: NaiveDate,
    /// Last day (UTC), exclusive.
    #[arg(long)]
    to: NaiveDate,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// A trained price forecaster (`hcp train price`) instead of fitting one on the file's
    /// history before --from.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Planning horizon of the optimiser, hours.
    #[arg(long, default_value_t = 24)]
    horizon_hours: usize,
}

pub fn backtest_cmd(args: BacktestArgs) -> Result<()> {
    if args.to <= args.from {
        bail!("--to {} must be after --from {}", args.to, args.from);
    }
    let mut fleet = FleetConfig::load(&args.fleet).with_context(|| format!("fleet {}", args.fleet.display()))?;
    fleet.start = args.from.to_string();
    fleet.market.source = "replay".into();
    fleet.market.replay_file = Some(std::fs::canonicalize(&args.prices).with_context(|| format!("--prices {}", args.prices.display()))?);
    for site in &mut fleet.sites {
        site.node = args.point.clone();
    }
    let days = (args.to - args.from).num_days() as u32;
    let from_us = fleet.start_us()?;

    let grid = hcp_training::realtime::read_ercot_point(&args.prices, &args.point)?;
    let forecaster = match &args.model {
        Some(dir) => {
            let (f, _) = hcp_training::price_model::load_price_model(dir)?;
            if f.node != args.point {
                bail!("--model {} forecasts {}, not --point {}", dir.display(), f.node, args.point);
            }
            if f.trained_until_us >= from_us {
                bail!(
                    "--model {} was trained on prices up to {}, inside the backtest: it would have seen the future",
                    dir.display(),
                    hcp_datasets::time::format_micros(f.trained_until_us)
                );
            }
            f
        }
        None => {
            let n = grid.index_at(from_us).min(grid.len());
            eprintln!("fitting lear_rt for {} on the {} hours before {}", args.point, n, args.from);
            let fitted = hcp_training::price_model::fit_forecaster(
                &grid,
                n,
                28,
                &Default::default(),
                &args.prices.display().to_string(),
            )?;
            eprintln!(
                "  holdout MAE {:.2} vs day-ahead {:.2} $/MWh",
                fitted.model.mae, fitted.dam_latest.mae
            );
            fitted.forecaster
        }
    };
    let forecast = Forecast { nodes: BTreeMap::from([(args.point.clone(), (forecaster, grid))]) };
    let cfg = BacktestConfig {
        fleet,
        days,
        seed: args.seed,
        optimiser: hcp_scheduler::policy::OptimiserConfig { horizon_hours: args.horizon_hours, ..Default::default() },
        engine: Default::default(),
        penalties: Default::default(),
        forecast: Some(forecast),
    };
    let (summary, rows) = run(&cfg, &|p| eprintln!("running {p}"))?;
    let run_id = format!("backtest-{}-{}", args.from, args.seed);
    write_outputs(&args.out, &summary, &rows, &run_id)?;
    print!("{}", summary.markdown());
    println!("\nwrote {}", args.out.display());
    Ok(())
}
