//! The Bitcoin network, daily: price, network hashrate, difficulty retargeting every 2016
//! blocks, the halving schedule and fees, and from them hashprice (USD per TH/s per day).
//!
//! Price and hashrate are log random walks whose drift and volatility are fitted on the real
//! series (blockchain.com, 2017 onwards); the daily fee share is drawn from the distribution
//! seen in the per-block statistics of the 2023 and 2025 windows. Blocks per day follow from
//! the hashrate against the difficulty (Poisson), and the difficulty retargets on the real
//! rule: 2016 blocks should take two weeks, with the change bounded to a factor of four.

use hcp_datasets::ingest::btc::block_subsidy_sat;
use hcp_datasets::rows::BtcNetworkRow;
use hcp_datasets::time::MICROS_PER_DAY;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::Rng;

pub const BLOCKS_PER_EPOCH: u64 = 2016;
pub const TARGET_BLOCK_SECONDS: f64 = 600.0;
const SATS_PER_BTC: f64 = 1e8;

/// Hashes per second one unit of difficulty asks for at 600 s per block (2^32 / 600).
const HASHES_PER_DIFFICULTY: f64 = 4_294_967_296.0 / TARGET_BLOCK_SECONDS;

/// Fitted by `hcp sim calibrate` from the real Bitcoin files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BtcCalibration {
    pub command: String,
    pub price_source: String,
    pub price_log_drift_per_day: f64,
    pub price_log_vol_per_day: f64,
    pub hashrate_source: String,
    pub hashrate_log_drift_per_day: f64,
    pub hashrate_log_vol_per_day: f64,
    pub fee_source: String,
    pub fee_share_mean: f64,
    pub fee_share_sd: f64,
}

const BUILTIN: &str = include_str!("../calibration/btc.json");

impl BtcCalibration {
    pub fn builtin() -> BtcCalibration {
        serde_json::from_str(BUILTIN).expect("built-in Bitcoin calibration parses")
    }

    /// Fits drift and volatility of price and hashrate on (day, value) observations from
    /// `since_us` (irregular spacing allowed: each log change is scaled by its interval), and
    /// the fee share on daily block statistics.
    pub fn fit(rows: &[BtcNetworkRow], since_us: i64, command: &str) -> Result<BtcCalibration> {
        let series = |source: &str, get: fn(&BtcNetworkRow) -> Option<f64>| -> Vec<(i64, f64)> {
            let mut v: Vec<(i64, f64)> = rows
                .iter()
                .filter(|r| r.source == source && r.day_us >= since_us)
                .filter_map(|r| Some((r.day_us, get(r).filter(|x| *x > 0.0)?)))
                .collect();
            v.sort_by_key(|p| p.0);
            v
        };
        let price = series("blockchain_com", |r| r.price_usd);
        let hashrate = series("blockchain_com", |r| r.hashrate_ths);
        let (pd, pv) = log_walk(&price).ok_or_else(|| Error::Calibration("too few blockchain.com prices".into()))?;
        let (hd, hv) =
            log_walk(&hashrate).ok_or_else(|| Error::Calibration("too few blockchain.com hashrates".into()))?;
        let fees: Vec<f64> = rows
            .iter()
            .filter(|r| r.source == "block_stats" && r.day_us >= since_us && r.blocks.unwrap_or(0) >= 100)
            .filter_map(|r| r.fee_share_ratio)
            .collect();
        if fees.len() < 10 {
            return Err(Error::Calibration(format!("{} days of block statistics since the cut; need 10", fees.len())));
        }
        let fm = fees.iter().sum::<f64>() / fees.len() as f64;
        let fsd = (fees.iter().map(|f| (f - fm).powi(2)).sum::<f64>() / fees.len() as f64).sqrt();
        let day = |us: i64| hcp_datasets::time::format_micros(us)[..10].to_string();
        let span = |s: &[(i64, f64)]| format!("{} .. {}, {} observations", day(s[0].0), day(s[s.len() - 1].0), s.len());
        Ok(BtcCalibration {
            command: command.to_string(),
            price_source: format!("blockchain.com market price, {}", span(&price)),
            price_log_drift_per_day: round8(pd),
            price_log_vol_per_day: round8(pv),
            hashrate_source: format!("blockchain.com hash rate, {}", span(&hashrate)),
            hashrate_log_drift_per_day: round8(hd),
            hashrate_log_vol_per_day: round8(hv),
            fee_source: format!("block statistics, {} full days since {}", fees.len(), day(since_us)),
            fee_share_mean: round8(fm),
            fee_share_sd: round8(fsd),
        })
    }
}

/// Drift and volatility per day of a log random walk observed at irregular days.
fn log_walk(obs: &[(i64, f64)]) -> Option<(f64, f64)> {
    if obs.len() < 30 {
        return None;
    }
    let steps: Vec<(f64, f64)> = obs
        .windows(2)
        .map(|w| ((w[1].0 - w[0].0) as f64 / MICROS_PER_DAY as f64, (w[1].1 / w[0].1).ln()))
        .filter(|(dt, _)| *dt > 0.0)
        .collect();
    let total_days: f64 = steps.iter().map(|s| s.0).sum();
    let drift = steps.iter().map(|s| s.1).sum::<f64>() / total_days;
    let var = steps.iter().map(|(dt, r)| (r - drift * dt).powi(2)).sum::<f64>() / total_days;
    Some((drift, var.sqrt()))
}

fn round8(x: f64) -> f64 {
    (x * 1e8).round() / 1e8
}

/// Where the simulated network starts, and optional overrides of the fitted dynamics (no
/// daily Bitcoin data after 2022 is here, so the 2024-2026 level is a scenario).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BtcScenario {
    pub price_usd: f64,
    pub network_hashrate_ehs: f64,
    pub block_height: u64,
    /// Overrides the fitted price drift, per day (0 = no trend).
    pub price_log_drift_per_day: Option<f64>,
    pub price_log_vol_per_day: Option<f64>,
    pub hashrate_log_drift_per_day: Option<f64>,
}

impl Default for BtcScenario {
    /// Early 2025: about $95,000, 800 EH/s, height 877,000 (after the April 2024 halving:
    /// 3.125 BTC per block). The price trend is set to zero: the 2017-2022 fitted drift
    /// extrapolated would be a forecast, not a scenario.
    fn default() -> Self {
        BtcScenario {
            price_usd: 95_000.0,
            network_hashrate_ehs: 800.0,
            block_height: 877_000,
            price_log_drift_per_day: Some(0.0),
            price_log_vol_per_day: None,
            hashrate_log_drift_per_day: None,
        }
    }
}

impl BtcScenario {
    pub fn validate(&self) -> Result<()> {
        if !(self.price_usd > 0.0 && self.network_hashrate_ehs > 0.0) {
            return Err(Error::Config("bitcoin: `price_usd` and `network_hashrate_ehs` must be > 0".into()));
        }
        Ok(())
    }
}

/// Daily network history from `start_day_us` (a UTC midnight).
pub fn simulate_network(
    cal: &BtcCalibration,
    sc: &BtcScenario,
    start_day_us: i64,
    days: usize,
    rng: &mut Rng,
) -> Vec<BtcNetworkRow> {
    let price_drift = sc.price_log_drift_per_day.unwrap_or(cal.price_log_drift_per_day);
    let price_vol = sc.price_log_vol_per_day.unwrap_or(cal.price_log_vol_per_day);
    let hash_drift = sc.hashrate_log_drift_per_day.unwrap_or(cal.hashrate_log_drift_per_day);
    let mut price = sc.price_usd;
    let mut hashrate_hs = sc.network_hashrate_ehs * 1e18;
    let mut difficulty = hashrate_hs / HASHES_PER_DIFFICULTY;
    let mut height = sc.block_height;
    let mut epoch_blocks = height % BLOCKS_PER_EPOCH;
    let mut epoch_seconds = epoch_blocks as f64 * TARGET_BLOCK_SECONDS;
    let mut rows = Vec::with_capacity(days);
    for d in 0..days {
        if d > 0 {
            // The fitted volatility of the hashrate series is mostly estimation noise of the
            // 3-4-day estimates; the true hashrate moves smoothly, with a tenth of it.
            price *= (price_drift - price_vol * price_vol / 2.0 + price_vol * rng.normal()).exp();
            hashrate_hs *= (hash_drift + 0.1 * cal.hashrate_log_vol_per_day * rng.normal()).exp();
        }
        let expected_blocks = 86_400.0 / TARGET_BLOCK_SECONDS * hashrate_hs / (difficulty * HASHES_PER_DIFFICULTY);
        let blocks = rng.poisson(expected_blocks);
        let mut subsidy_sat = 0i64;
        for b in 0..blocks {
            subsidy_sat += block_subsidy_sat((height + b) as i64);
        }
        // Retargets that fall inside the day: the epoch's elapsed time is apportioned by block.
        let seconds_per_block = 86_400.0 / blocks.max(1) as f64;
        for _ in 0..blocks {
            epoch_blocks += 1;
            epoch_seconds += seconds_per_block;
            if epoch_blocks == BLOCKS_PER_EPOCH {
                let ratio = (BLOCKS_PER_EPOCH as f64 * TARGET_BLOCK_SECONDS / epoch_seconds).clamp(0.25, 4.0);
                difficulty *= ratio;
                epoch_blocks = 0;
                epoch_seconds = 0.0;
            }
        }
        height += blocks;
        // Log-normal with the fitted mean and sd: fee shares are positive and right-skewed
        // (inscription waves); capped at 95 % so the subsidy still exists.
        let s2 = (1.0 + (cal.fee_share_sd / cal.fee_share_mean).powi(2)).ln();
        let fee_share = (cal.fee_share_mean.ln() - s2 / 2.0 + s2.sqrt() * rng.normal()).exp().min(0.95);
        let subsidy_btc = subsidy_sat as f64 / SATS_PER_BTC;
        let fees_btc = subsidy_btc * fee_share / (1.0 - fee_share);
        let revenue = (subsidy_btc + fees_btc) * price;
        let hashrate_ths = hashrate_hs / 1e12;
        rows.push(BtcNetworkRow {
            source: "sim".into(),
            day_us: start_day_us + d as i64 * MICROS_PER_DAY,
            price_usd: Some(round2(price)),
            difficulty: Some(difficulty.round()),
            hashrate_ths: Some(hashrate_ths.round()),
            miners_revenue_usd: Some(round2(revenue)),
            hashprice_usd_per_ths_day: Some(revenue / hashrate_ths),
            blocks: Some(blocks as i32),
            subsidy_btc: Some(subsidy_btc),
            fees_btc: Some((fees_btc * SATS_PER_BTC).round() / SATS_PER_BTC),
            fee_share_ratio: Some(fee_share),
        });
    }
    rows
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// GPU rental prices per GPU-hour: a mean-reverting log process around a list price per model.
/// No rental-price data is in `../shared/data`, so the levels are scenario parameters (2025
/// on-demand cloud list prices, roughly), not a calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RentalScenario {
    /// (GPU model, list price USD per GPU-hour).
    pub list_usd_per_gpu_hour: Vec<(String, f64)>,
    /// Daily mean reversion of the log deviation (0-1).
    pub reversion_per_day: f64,
    pub log_vol_per_day: f64,
}

impl Default for RentalScenario {
    fn default() -> Self {
        RentalScenario {
            list_usd_per_gpu_hour: vec![
                ("H100".into(), 2.2),
                ("H800".into(), 2.0),
                ("A100".into(), 1.3),
                ("L40S".into(), 0.9),
                ("A10".into(), 0.6),
                ("V100".into(), 0.5),
                ("T4".into(), 0.3),
            ],
            reversion_per_day: 0.05,
            log_vol_per_day: 0.03,
        }
    }
}

/// Daily rental price per model: (day, model, USD per GPU-hour).
pub fn simulate_rental(sc: &RentalScenario, start_day_us: i64, days: usize, rng: &mut Rng) -> Vec<(i64, String, f64)> {
    let mut out = Vec::with_capacity(days * sc.list_usd_per_gpu_hour.len());
    for (m, (model, list)) in sc.list_usd_per_gpu_hour.iter().enumerate() {
        let mut r = rng.fork(m as u64);
        let mut dev = 0.0;
        for d in 0..days {
            dev = (1.0 - sc.reversion_per_day) * dev + sc.log_vol_per_day * r.normal();
            out.push((
                start_day_us + d as i64 * MICROS_PER_DAY,
                model.clone(),
                round2(list * dev.exp() * 100.0) / 100.0,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashprice_level_subsidy_and_retargeting() {
        let cal = BtcCalibration::builtin();
        let sc = BtcScenario::default();
        let rows = simulate_network(&cal, &sc, 1_735_689_600_000_000, 120, &mut Rng::new(1));
        // 144 blocks × (3.125 BTC + fees) × $95,000 / 800 EH/s ≈ $0.054 per TH/s per day.
        let first = rows[0].hashprice_usd_per_ths_day.unwrap();
        assert!((0.045..0.065).contains(&first), "{first}");
        assert!(rows.iter().all(|r| r.subsidy_btc.unwrap() == r.blocks.unwrap() as f64 * 3.125));
        // Hashrate grows, so blocks come faster than 144 a day until the difficulty catches up:
        // each retarget raises it.
        let d: Vec<f64> = rows.iter().map(|r| r.difficulty.unwrap()).collect();
        let changes = d.windows(2).filter(|w| w[1] != w[0]).count();
        assert!((7..=10).contains(&changes), "{changes} retargets in 120 days");
        let mean_blocks = rows.iter().map(|r| r.blocks.unwrap() as f64).sum::<f64>() / rows.len() as f64;
        assert!((140.0..152.0).contains(&mean_blocks), "{mean_blocks}");
    }

    /// Subsidy halves at height 1,050,000 (the 2028 halving) inside a simulated day.
    #[test]
    fn halving_inside_the_run() {
        let cal = BtcCalibration::builtin();
        let sc = BtcScenario { block_height: 1_049_900, ..BtcScenario::default() };
        let rows = simulate_network(&cal, &sc, 0, 3, &mut Rng::new(2));
        let per_block: Vec<f64> = rows.iter().map(|r| r.subsidy_btc.unwrap() / r.blocks.unwrap() as f64).collect();
        assert!(per_block[0] < 3.125 && per_block[0] > 1.5625, "{per_block:?}");
        assert_eq!(per_block[2], 1.5625);
    }

    #[test]
    fn rental_prices_revert_to_list() {
        let rows = simulate_rental(&RentalScenario::default(), 0, 2000, &mut Rng::new(4));
        let h100: Vec<f64> = rows.iter().filter(|r| r.1 == "H100").map(|r| r.2).collect();
        let mean = h100.iter().sum::<f64>() / h100.len() as f64;
        assert!((mean - 2.2).abs() < 0.15, "{mean}");
    }
}
