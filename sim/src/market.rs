//! Synthetic electricity prices: the deterministic default history of `hcp run`.
//!
//! An hourly real-time and day-ahead price per node with a daily and weekly shape, AR(1)
//! noise, rare scarcity spikes and negative midday hours, loosely at the level of ERCOT's West
//! Texas hubs in 2024. It is a stand-in history for a fresh machine, not a calibrated market
//! model.

use hcp_datasets::rows::PriceRow;
use hcp_datasets::time::MICROS_PER_HOUR;

use crate::rng::Rng;

/// What synthetic history to generate.
#[derive(Debug, Clone)]
pub struct SyntheticPriceConfig {
    pub seed: u64,
    /// First interval, UTC microseconds (a midnight).
    pub start_us: i64,
    pub days: u32,
    pub nodes: Vec<String>,
    /// Mean real-time price level, USD/MWh.
    pub level_usd_per_mwh: f64,
    /// Probability that an hour starts a scarcity spike.
    pub spike_probability: f64,
}

impl SyntheticPriceConfig {
    /// 90 days from 2024-06-01 on three West Texas nodes.
    pub fn default_history(seed: u64) -> Self {
        SyntheticPriceConfig {
            seed,
            start_us: 1_717_200_000 * 1_000_000, // 2024-06-01T00:00:00Z
            days: 90,
            nodes: vec!["HB_WEST".into(), "LZ_WEST".into(), "HB_NORTH".into()],
            level_usd_per_mwh: 35.0,
            spike_probability: 0.004,
        }
    }
}

/// Daily shape by hour of day (Central time, index 0 = midnight): a solar trough at noon and
/// the evening ramp peak, as in West Texas summers.
const DAILY_SHAPE: [f64; 24] = [
    0.85, 0.80, 0.78, 0.77, 0.78, 0.82, 0.90, 0.92, 0.80, 0.65, 0.55, 0.50, 0.50, 0.55, 0.65, 0.85, 1.10, 1.45, 1.80,
    1.95, 1.60, 1.25, 1.05, 0.92,
];

/// Generates `days × 24 × nodes` hourly rows, market `ERCOT`, currency USD.
pub fn synthetic_prices(cfg: &SyntheticPriceConfig) -> Vec<PriceRow> {
    let root = Rng::new(cfg.seed);
    let hours = cfg.days as usize * 24;
    let mut rows = Vec::with_capacity(hours * cfg.nodes.len());
    // A system-wide noise and spike path, shared by every node, plus a node-specific part.
    let mut system = root.fork(0);
    let mut system_noise = vec![0.0; hours];
    let mut spike = vec![0.0; hours];
    let mut ar = 0.0;
    let mut remaining_spike = 0usize;
    let mut spike_size = 0.0;
    for h in 0..hours {
        ar = 0.9 * ar + 0.25 * system.normal();
        system_noise[h] = ar;
        if remaining_spike == 0 && system.uniform() < cfg.spike_probability {
            remaining_spike = 1 + (system.uniform() * 3.0) as usize;
            spike_size = cfg.level_usd_per_mwh * (3.0 + 60.0 * system.uniform().powi(3));
        }
        if remaining_spike > 0 {
            spike[h] = spike_size;
            remaining_spike -= 1;
        }
    }
    let market: std::sync::Arc<str> = "ERCOT".into();
    for (n, node) in cfg.nodes.iter().enumerate() {
        let node: std::sync::Arc<str> = node.as_str().into();
        let mut rng = root.fork(1 + n as u64);
        let basis = 1.0 + 0.08 * rng.normal();
        let mut local = 0.0;
        for h in 0..hours {
            let start_us = cfg.start_us + h as i64 * MICROS_PER_HOUR;
            // Central daylight time, UTC-5, is close enough for the shape of a summer history.
            let local_hour = (h + 24 - 5) % 24;
            let weekday = ((start_us / (24 * MICROS_PER_HOUR)) + 4) % 7; // 1970-01-01 was a Thursday
            let weekly = if weekday >= 5 { 0.85 } else { 1.0 };
            local = 0.7 * local + 0.15 * rng.normal();
            let shape = DAILY_SHAPE[local_hour] * weekly * basis;
            let dam = cfg.level_usd_per_mwh * shape * (1.0 + 0.5 * system_noise[h]).max(0.1);
            let mut rtm = dam * (1.0 + local) + spike[h];
            // Wind-and-solar gluts: the midday trough sometimes clears below zero.
            if (9..=14).contains(&local_hour) && rng.uniform() < 0.04 {
                rtm = -rng.uniform() * 20.0;
            }
            rows.push(PriceRow {
                market: market.clone(),
                node: node.clone(),
                interval_start_us: start_us,
                interval_minutes: 60,
                currency: "USD",
                dam_price_per_mwh: Some(round4(dam)),
                rtm_price_per_mwh: Some(round4(rtm)),
            });
        }
    }
    rows
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_history_other_seed_other_history() {
        let cfg = SyntheticPriceConfig::default_history(42);
        let a = synthetic_prices(&cfg);
        assert_eq!(a, synthetic_prices(&cfg));
        assert_eq!(a.len(), 90 * 24 * 3);
        let b = synthetic_prices(&SyntheticPriceConfig::default_history(43));
        assert_ne!(a, b);
    }

    #[test]
    fn history_has_spikes_negatives_and_an_evening_peak() {
        let rows = synthetic_prices(&SyntheticPriceConfig::default_history(42));
        let rtm: Vec<f64> = rows.iter().filter_map(|r| r.rtm_price_per_mwh).collect();
        assert!(rtm.iter().any(|&p| p > 100.0), "no spike above $100/MWh");
        assert!(rtm.iter().any(|&p| p < 0.0), "no negative price");
        let mean_at = |local: usize| {
            let v: Vec<f64> = rows
                .iter()
                .filter(|r| ((r.interval_start_us / MICROS_PER_HOUR) as usize + 24 - 5) % 24 == local)
                .filter_map(|r| r.dam_price_per_mwh)
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert!(mean_at(19) > 2.0 * mean_at(12), "evening peak {} vs noon {}", mean_at(19), mean_at(12));
    }
}
