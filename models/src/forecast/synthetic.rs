//! Deterministic synthetic series for tests and benchmarks (no data file needed): a SplitMix64
//! noise source, an hourly price grid shaped like a real node's (daily day-ahead cycle, an
//! autocorrelated real-time spread, rare spikes), and a day-ahead market driven by its load.

use super::panel::{DayAheadPanel, HOURS};
use super::realtime::HourlyPrices;

/// SplitMix64 noise in [-0.5, 0.5).
#[derive(Debug, Clone)]
pub struct Mix(pub u64);

impl Mix {
    pub fn noise(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
}

/// `hours` of prices from hour 0 (UTC epoch, local time = UTC); a day's day-ahead prices are
/// public 10 hours before it starts.
pub fn hourly_prices(hours: usize, r: &mut Mix) -> HourlyPrices {
    let (mut rt, mut da, mut spread) = (Vec::new(), Vec::new(), 0.0);
    for t in 0..hours {
        let d = 30.0 + 12.0 * ((t % 24) as f64 / 24.0 * std::f64::consts::TAU).sin() + 4.0 * r.noise();
        spread = 0.85 * spread + 8.0 * r.noise();
        let spike = if r.noise() > 0.49 { 400.0 * (r.noise() + 0.5) } else { 0.0 };
        da.push(d);
        rt.push(d + spread + spike);
    }
    HourlyPrices {
        node: "SYNTHETIC".into(),
        start_us: 0,
        da_published_us: (0..hours).map(|t| ((t / 24 * 24) as i64 - 10) * 3_600_000_000).collect(),
        hour_of_day: (0..hours).map(|t| (t % 24) as u8).collect(),
        weekday: (0..hours).map(|t| (t / 24 % 7) as u8).collect(),
        rt,
        da,
    }
}

/// `days` of a day-ahead market (day 0 = 1970-01-01) whose hourly price follows one exogenous
/// series, "load" (daily shape, lower at weekends), plus an AR(1) day level and noise: what LEAR
/// and the perceptron should learn. `seed` starts the [`Mix`] noise.
pub fn load_driven_panel(days: usize, seed: u64) -> DayAheadPanel {
    let mut price = Vec::new();
    let mut load = Vec::new();
    let mut level = 0.0;
    let mut r = Mix(seed);
    let mut noise = || r.noise();
    for d in 0..days {
        level = 0.8 * level + 1.0 * noise();
        let weekend = matches!((d + 3) % 7, 5 | 6);
        for h in 0..HOURS {
            let l = 1000.0 + 300.0 * ((h as f64 - 6.0) / 24.0 * std::f64::consts::TAU).sin()
                - if weekend { 150.0 } else { 0.0 }
                + 30.0 * noise();
            load.push(l);
            price.push(10.0 + 0.03 * l + level + noise());
        }
    }
    DayAheadPanel::from_hourly(0, &price, vec![("load".into(), load)]).expect("whole days of hourly prices")
}
