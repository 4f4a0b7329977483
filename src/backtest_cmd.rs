//! `hcp backtest`: every policy through the simulators over real (or simulated) prices,
//! against the perfect-foresight optimum.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::Args;
use hcp_datasets::time::{MICROS_PER_DAY, MICROS_PER_HOUR, format_micros};
use hcp_models::forecast::price::PriceModel;
use hcp_models::forecast::realtime::HourlyPrices;
use hcp_scheduler::backtest::{BacktestConfig, Summary, run, write_outputs};
use hcp_scheduler::classify::JobClassifier;
use hcp_scheduler::outlook::Forecast;
use hcp_scheduler::policy::{MAX_HORIZON_HOURS, OptimiserConfig};
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
    /// Planning horizon of the optimiser, hours (1 to 168, a week): past the forecaster's 24
    /// hours it plans on the latest published day-ahead prices, then on the last price held.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u16).range(1..=MAX_HORIZON_HOURS as i64))]
    horizon_hours: u16,
    /// A trained workload classifier (`hcp train classifier`): adds `optimiser_hcp_classified`,
    /// which plans on the classes it gives the jobs' specs (judged on the true classes).
    #[arg(long)]
    classifier: Option<PathBuf>,
}

pub fn backtest_cmd(args: BacktestArgs) -> Result<()> {
    if args.to <= args.from {
        bail!("--to {} must be after --from {}", args.to, args.from);
    }
    let fleet = FleetConfig::load(&args.fleet).context("--fleet")?;
    let grid = hcp_training::realtime::read_ercot_point(&args.prices, &args.point)?;
    let summary = on_price_file(
        &FileBacktest {
            prices: args.prices,
            point: args.point,
            fleet,
            from: args.from,
            to: args.to,
            out: args.out.clone(),
            seed: args.seed,
            model: args.model,
            horizon_hours: usize::from(args.horizon_hours),
            classifier: args.classifier,
        },
        grid,
    )?;
    print!("{}", summary.markdown());
    println!("\nwrote {}", args.out.display());
    Ok(())
}

/// A backtest over a real ERCOT price file.
#[derive(Debug)]
pub struct FileBacktest {
    pub prices: PathBuf,
    pub point: String,
    pub fleet: FleetConfig,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub out: PathBuf,
    pub seed: u64,
    pub model: Option<PathBuf>,
    pub horizon_hours: usize,
    pub classifier: Option<PathBuf>,
}

/// Replays the file's prices at `point` for every site from `from` to `to`, with hcp's
/// forecaster fitted on the file's hours before `from` (or loaded, and refused if it was
/// trained on hours inside the backtest); writes the outputs. `grid`: the file's prices at
/// `point` (`read_ercot_point`), which the caller has read already.
pub fn on_price_file(b: &FileBacktest, grid: HourlyPrices) -> Result<Summary> {
    let mut fleet = b.fleet.clone();
    fleet.start = b.from.to_string();
    fleet.market.source = "replay".into();
    fleet.market.replay_file =
        Some(std::fs::canonicalize(&b.prices).with_context(|| format!("--prices {}", b.prices.display()))?);
    for site in &mut fleet.sites {
        if site.node != b.point {
            eprintln!(
                "site {}: replaying --point {}'s prices where the fleet file says {}",
                site.id, b.point, site.node
            );
        }
        site.node = b.point.clone();
    }
    let days = (b.to - b.from).num_days() as u32;
    let from_us = fleet.start_us()?;
    // Every step must have its hour's real price: past the file's end the replay would carry
    // the last price forward and book money on it.
    let (first_us, end_us) = (grid.time(0), grid.time(grid.len() - 1) + MICROS_PER_HOUR);
    if from_us < first_us {
        bail!("--from {} is before {}'s first hour ({})", b.from, b.prices.display(), format_micros(first_us));
    }
    if from_us + i64::from(days) * MICROS_PER_DAY > end_us {
        bail!(
            "--to {} is past the prices of {} (they end at {}): the latest --to is {}",
            b.to,
            b.prices.display(),
            format_micros(end_us),
            chrono::DateTime::from_timestamp_micros(end_us).context("end of the price file")?.date_naive()
        );
    }
    let forecaster = match &b.model {
        Some(dir) => {
            let (f, _) = PriceModel::load(dir).with_context(|| format!("--model {}", dir.display()))?;
            if f.node() != b.point {
                bail!("--model {} forecasts {}, not --point {}", dir.display(), f.node(), b.point);
            }
            if f.trained_until_us() >= from_us {
                bail!(
                    "--model {} was trained on prices up to {}, inside the backtest: it would have seen the future",
                    dir.display(),
                    hcp_datasets::time::format_micros(f.trained_until_us())
                );
            }
            f
        }
        None => fit(&grid, grid.index_at(from_us).min(grid.len()), 28, &b.prices.display().to_string())?,
    };
    let cfg = BacktestConfig {
        fleet,
        days,
        seed: b.seed,
        optimiser: OptimiserConfig { horizon_hours: b.horizon_hours, ..Default::default() },
        engine: Default::default(),
        penalties: Default::default(),
        forecast: Some(Forecast { nodes: BTreeMap::from([(b.point.clone(), (forecaster, grid))]) }),
        from_us: None,
        classifier: match &b.classifier {
            Some(dir) => {
                let (bundle, _) = hcp_models::classifier::artifact::load(dir)
                    .with_context(|| format!("--classifier {}", dir.display()))?;
                Some(JobClassifier::new(bundle).with_context(|| format!("--classifier {}", dir.display()))?)
            }
            None => None,
        },
    };
    finish(&cfg, &b.out, &format!("backtest-{}-{}", b.from, b.seed))
}

/// A backtest on the synthetic market: the world's first `history_days` are history (hcp's
/// forecaster is fitted on their prices), the policies run the `days` after them.
pub fn on_synthetic(fleet: FleetConfig, history_days: u32, days: u32, seed: u64, out: &Path) -> Result<Summary> {
    let world = hcp_sim::world::World::new(fleet.clone(), history_days + days, seed)?;
    let from_us = world.start_us + i64::from(history_days) * 86_400_000_000;
    let mut nodes = BTreeMap::new();
    for site in &fleet.sites {
        if nodes.contains_key(&site.node) {
            continue;
        }
        let grid = hcp_training::realtime::hourly_grid(&world.feed, &site.node, "simulated market")?;
        let n = grid.index_at(from_us).min(grid.len());
        nodes.insert(site.node.clone(), (fit(&grid, n, 7, "simulated history")?, grid));
    }
    let cfg = BacktestConfig {
        fleet,
        days: history_days + days,
        seed,
        optimiser: Default::default(),
        engine: Default::default(),
        penalties: Default::default(),
        forecast: Some(Forecast { nodes }),
        from_us: Some(from_us),
        classifier: None,
    };
    finish(&cfg, out, &format!("backtest-synthetic-{seed}"))
}

fn fit(grid: &HourlyPrices, n: usize, holdout_days: usize, what: &str) -> Result<PriceModel> {
    eprintln!("fitting lear_rt for {} on the {n} hours before the backtest", grid.node);
    let fitted = hcp_training::price_model::fit_forecaster(grid, n, holdout_days, &Default::default(), what)?;
    eprintln!("  holdout MAE {:.2} vs day-ahead {:.2} $/MWh", fitted.model.mae, fitted.dam_latest.mae);
    Ok(PriceModel::Lear(fitted.forecaster))
}

fn finish(cfg: &BacktestConfig, out: &Path, run_id: &str) -> Result<Summary> {
    let (summary, rows) = run(cfg, &|p| eprintln!("running {p}"))?;
    write_outputs(out, &summary, &rows, run_id)?;
    Ok(summary)
}
