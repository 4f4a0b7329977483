//! Training throughput of `lstm_rt` in burn (ndarray backend, autodiff, Adam): windows per
//! second over full steps (forward, pinball loss, backward, optimiser), batch 64 × window 168
//! × 8 step inputs + 100 head inputs → 72 outputs, for one and two layers of 64 (the two-layer
//! shape is `../shared/ML-NOTES.md`'s and `scripts/bench_lstm_torch.py`'s), with the fused
//! layers that training uses (on one and two threads) and with the same layers as burn tensor
//! operations.
//! `cargo bench -p hcp-lstm --bench train`; `STEPS=N` sets the timed steps (default 20).

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use hcp_lstm::net::{Kernel, Net};
use hcp_lstm::samples::Grid;
use hcp_lstm::train::cpu_device;
use hcp_models::forecast::lstm::LstmSpec;
use hcp_models::forecast::scaler::Invariant;
use hcp_models::forecast::synthetic::{Mix, hourly_prices};

fn main() {
    let steps: usize = std::env::var("STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let p = hourly_prices(24 * 120, &mut Mix(4));
    let scaler = Invariant::fit(&p.rt);
    let fused = |threads| Kernel::Fused { threads };
    for (kernel, layers) in
        [(fused(1), 1), (fused(1), 2), (fused(2), 1), (fused(2), 2), (Kernel::TensorOps, 1), (Kernel::TensorOps, 2)]
    {
        let spec = LstmSpec::new("BENCH", 168, 64, layers, scaler);
        let grid = Grid::new(&p, scaler, spec.window);
        let issues = grid.issues(0, p.len()).issues;
        let device = cpu_device().autodiff();
        device.seed(1);
        let mut net = Net::init(&spec, &device);
        let mut optim = AdamConfig::new().init();
        let batches: Vec<_> = issues.chunks_exact(64).take(8).map(|c| grid.batch(c, &device)).collect();
        let mut run = |n: usize| {
            for i in 0..n {
                let loss = net.loss(kernel, &batches[i % batches.len()]);
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(1e-3, net.clone(), grads);
            }
        };
        run(2);
        let t = Instant::now();
        run(steps);
        let s = t.elapsed().as_secs_f64();
        println!(
            "lstm_rt burn ndarray, {kernel:?}, {layers} layer(s) of 64, batch 64 x window 168: {:.1} windows/s ({steps} steps, {:.1} ms/step)",
            (steps * 64) as f64 / s,
            s * 1e3 / steps as f64
        );
    }
}
