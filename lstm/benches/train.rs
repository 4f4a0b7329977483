//! Training throughput of `lstm_rt` in burn (ndarray backend, autodiff, Adam): windows per
//! second over full steps (forward, pinball loss, backward, optimiser), batch 64 × window 168
//! × 8 step inputs + 100 head inputs → 72 outputs, for one and two layers of 64 (the two-layer
//! shape is `../shared/ML-NOTES.md`'s and `scripts/bench_lstm_torch.py`'s), with the fused
//! layers that training uses (on one and two threads) and with the same layers as burn tensor
//! operations.
//! `cargo bench -p hcp-lstm --bench train`; `STEPS=N` sets the timed steps (default 20).
//! `DEVICE=gpu` (or `gpu:N`, in a build with the `gpu` feature) times the same steps on a
//! GPU instead, where the layers run as tensor operations, at batches of 64, 512 and 4096. Each
//! step reads its loss back, as training does, so GPU work is timed to its end.

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use hcp_lstm::TrainDevice;
use hcp_lstm::net::{Kernel, Net};
use hcp_lstm::samples::Grid;
use hcp_models::forecast::lstm::LstmSpec;
use hcp_models::forecast::scaler::Invariant;
use hcp_models::forecast::synthetic::{Mix, hourly_prices};

fn main() {
    let steps: usize = std::env::var("STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let on: TrainDevice = std::env::var("DEVICE").as_deref().unwrap_or("cpu").parse().expect("DEVICE");
    let p = hourly_prices(24 * 400, &mut Mix(4));
    let scaler = Invariant::fit(&p.rt);
    let fused = |threads| Kernel::Fused { threads };
    let runs: Vec<(Kernel, usize, usize)> = match on {
        TrainDevice::Cpu => vec![
            (fused(1), 1, 64),
            (fused(1), 2, 64),
            (fused(2), 1, 64),
            (fused(2), 2, 64),
            (Kernel::TensorOps, 1, 64),
            (Kernel::TensorOps, 2, 64),
        ],
        TrainDevice::Gpu(_) => {
            [1, 2].into_iter().flat_map(|l| [64, 512, 4096].map(|b| (Kernel::TensorOps, l, b))).collect()
        }
    };
    for (kernel, layers, batch) in runs {
        let spec = LstmSpec::new("BENCH", 168, 64, layers, scaler);
        let grid = Grid::new(&p, scaler, spec.window);
        let issues = grid.issues(0, p.len()).issues;
        let device = on.burn().expect("DEVICE").autodiff();
        device.seed(1);
        let mut net = Net::init(&spec.shape(), &device);
        let mut optim = AdamConfig::new().init();
        let batches: Vec<_> = issues.chunks_exact(batch).take(8).map(|c| grid.batch(c, &device)).collect();
        let mut run = |n: usize| {
            for i in 0..n {
                let loss = net.loss(kernel, &batches[i % batches.len()]);
                let _: f32 = loss.clone().into_scalar();
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(1e-3, net.clone(), grads);
            }
        };
        run(2);
        let t = Instant::now();
        run(steps);
        let s = t.elapsed().as_secs_f64();
        let backend = if on == TrainDevice::Cpu { "ndarray".to_string() } else { on.to_string() };
        println!(
            "lstm_rt burn {backend}, {kernel:?}, {layers} layer(s) of 64, batch {batch} x window 168: {:.1} windows/s ({steps} steps, {:.1} ms/step)",
            (steps * batch) as f64 / s,
            s * 1e3 / steps as f64
        );
    }
}
