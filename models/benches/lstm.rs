//! Latency of one `lstm_rt` forecast on the candle path (inputs built from the grid, the
//! forward pass, decoding; 24 horizons × 3 quantiles), p50/p99 over many issues, and batched
//! throughput, for untrained networks of the default shape (window 168, one layer of 64) and
//! of the two-layer shape of `../shared/ML-NOTES.md`.
//! `RAYON_NUM_THREADS=1 cargo bench -p hcp-models --bench lstm` (candle hands every matmul to
//! rayon when it may use more than one thread, which costs a single forecast dearly).

use std::hint::black_box;
use std::time::Instant;

use hcp_models::forecast::lstm::{LstmForecaster, LstmSpec};
use hcp_models::forecast::scaler::Invariant;
use hcp_models::forecast::synthetic::{Mix, hourly_prices};

fn main() {
    let p = hourly_prices(24 * 60, &mut Mix(11));
    let scaler = Invariant::fit(&p.rt);
    println!("candle threads (rayon): {}", candle_core::utils::get_num_threads());
    for (layers, hidden) in [(1, 64), (2, 64)] {
        let f = LstmForecaster::random(LstmSpec::new("BENCH", 168, hidden, layers, scaler), 3).unwrap();
        let issues: Vec<usize> = (24 * 8..24 * 58).collect();
        for &k in &issues[..50] {
            black_box(f.forecast(&p, k).unwrap());
        }
        let mut us = Vec::new();
        for i in 0..2_000 {
            let k = issues[i % issues.len()];
            let t = Instant::now();
            black_box(f.forecast(&p, k).unwrap());
            us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        us.sort_by(f64::total_cmp);
        let t = Instant::now();
        let rounds = 5;
        for _ in 0..rounds {
            black_box(f.quantiles_z(&p, &issues).unwrap());
        }
        let per_s = (rounds * issues.len()) as f64 / t.elapsed().as_secs_f64();
        println!(
            "lstm_rt {layers} layer(s) of {hidden}, window 168: one forecast p50 {:.0} us, p99 {:.0} us; batches of {}: {per_s:.0} forecasts/s",
            us[us.len() / 2],
            us[us.len() * 99 / 100],
            issues.len()
        );
    }
}
