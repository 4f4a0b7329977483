//! Forecaster speed on synthetic series of the real data's sizes (no data file needed): the fit
//! of each model and the latency of one forecast (all horizons of one issue), p50/p99 over many
//! issues. `cargo bench -p hcp-models --bench forecast`.

use std::hint::black_box;
use std::time::Instant;

use hcp_models::forecast::demand::{self, LearDemand};
use hcp_models::forecast::lasso::{PathConfig, Selection};
use hcp_models::forecast::lear::Lear;
use hcp_models::forecast::panel::DayAheadPanel;
use hcp_models::forecast::realtime::{HORIZONS, LearRt};
use hcp_models::forecast::synthetic::{Mix, hourly_prices};

fn percentiles(mut us: Vec<f64>) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    (us[us.len() / 2], us[us.len() * 99 / 100])
}

fn time_each(n: usize, mut f: impl FnMut(usize)) -> (f64, f64) {
    let mut us = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        f(i);
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    percentiles(us)
}

fn main() {
    let mut r = Mix(11);
    let path = PathConfig::default();

    // lear_rt: a year of hourly prices (what the ERCOT evaluation fits on).
    let p = hourly_prices(24 * 400, &mut r);
    let t = Instant::now();
    let model = LearRt::fit(&p, 0, 24 * 365, &path).unwrap();
    let fit_s = t.elapsed().as_secs_f64();
    let (p50, p99) = time_each(2_000, |i| {
        let k = 24 * 365 + i % (24 * 30);
        for h in 1..=HORIZONS {
            black_box(model.forecast(&p, k, h));
        }
    });
    println!(
        "lear_rt     fit on 8,760 h (576 lasso paths): {fit_s:.2} s; one issue (24 horizons): p50 {p50:.1} us, p99 {p99:.1} us"
    );

    // LEAR: four years of days with two exogenous series, the 1,456-day window.
    let days = 1_500;
    let mut price = Vec::new();
    let (mut load, mut wind) = (Vec::new(), Vec::new());
    for d in 0..days {
        for h in 0..24 {
            let l = 40_000.0 + 8_000.0 * ((h as f64 - 6.0) / 24.0 * std::f64::consts::TAU).sin() + 800.0 * r.noise();
            let w = 3_000.0 + 1_500.0 * r.noise();
            load.push(l);
            wind.push(w);
            price.push(5.0 + 0.0008 * l - 0.001 * w + if d % 7 >= 5 { -3.0 } else { 0.0 } + r.noise());
        }
    }
    let panel = DayAheadPanel::from_hourly(0, &price, vec![("load".into(), load), ("wind".into(), wind)]).unwrap();
    let t = Instant::now();
    let lear = Lear::fit(&panel, days - 1, 1_456, &path).unwrap();
    let fit_s = t.elapsed().as_secs_f64();
    let (p50, p99) = time_each(2_000, |_| {
        black_box(lear.forecast(&panel, days - 1));
    });
    println!(
        "lear        fit, 1,456-day window (24 lasso paths, 247 features): {fit_s:.2} s; one day: p50 {p50:.1} us, p99 {p99:.1} us"
    );
    // The same with the benchmark's penalty rule (`--lear-penalty epftoolbox`, the day-ahead
    // evaluation's default): the path on the normalised columns, then one fit at its penalty.
    let epftoolbox = PathConfig { selection: Selection::Epftoolbox, ..path };
    let t = Instant::now();
    black_box(Lear::fit(&panel, days - 1, 1_456, &epftoolbox).unwrap());
    println!("lear        the same, the benchmark's penalty rule: {:.2} s", t.elapsed().as_secs_f64());

    // lear_demand: 150 days of hourly demand.
    let y: Vec<f64> = (0..24 * 150)
        .map(|t| 9_000.0 + 800.0 * ((t % 24) as f64 / 24.0 * std::f64::consts::TAU).sin() + 300.0 * r.noise())
        .collect();
    let t = Instant::now();
    let dm = LearDemand::fit(&y, y.len(), &path).unwrap();
    let fit_s = t.elapsed().as_secs_f64();
    let (p50, p99) = time_each(500, |i| {
        let k = y.len() - 24 * 7 - i % 24;
        for h in 1..=demand::HORIZONS {
            black_box(dm.forecast(&y, k, h));
        }
    });
    println!(
        "lear_demand fit on 3,600 h (2 x 168 lasso paths: the calibration, and the one 14 days earlier that chooses the fallbacks): {fit_s:.2} s; one issue (168 horizons): p50 {p50:.1} us, p99 {p99:.1} us"
    );
}
