#!/usr/bin/env bash
# What burn 0.22 + candle-core 0.11 would cost and give before they enter the workspace:
# the cold dev build time of both (profile as in the workspace: deps at opt-level 2) and the
# training throughput of a one-layer, 64-unit LSTM written with burn tensor ops (batch 64 x
# 168 steps x 8 features, Adam, 5 steps). Builds in a scratch crate under $TMPDIR; prints
# `time` for the build and windows/s for the training steps.
set -euo pipefail
dir="$(mktemp -d)"
mkdir -p "$dir/src"
cat > "$dir/Cargo.toml" <<'EOF'
[package]
name = "burnprobe"
version = "0.1.0"
edition = "2024"

[dependencies]
burn = { version = "0.22", default-features = false, features = ["std", "ndarray", "autodiff", "optim"] }
candle-core = { version = "0.11", default-features = false }

[profile.dev]
debug = 1

[profile.dev.package."*"]
opt-level = 2
EOF
cat > "$dir/src/main.rs" <<'EOF'
#![allow(deprecated)] // Device::ndarray: burn suggests Device::flex, not measured here.
use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{sigmoid, tanh};
use burn::tensor::{Device, Distribution, Tensor};

#[derive(Module, Debug)]
struct Net {
    wx: Param<Tensor<2>>,
    wh: Param<Tensor<2>>,
    b: Param<Tensor<1>>,
    head_w: Param<Tensor<2>>,
    head_b: Param<Tensor<1>>,
}

impl Net {
    fn forward(&self, steps: &[Tensor<2>]) -> Tensor<2> {
        let [batch, _] = steps[0].dims();
        let hsz = self.wh.val().dims()[0];
        let device = steps[0].device();
        let mut h: Tensor<2> = Tensor::zeros([batch, hsz], &device);
        let mut c: Tensor<2> = Tensor::zeros([batch, hsz], &device);
        for x in steps {
            // The four gates in one matrix: input, forget, output, cell.
            let g = x.clone().matmul(self.wx.val()) + h.clone().matmul(self.wh.val()) + self.b.val().unsqueeze();
            let i = sigmoid(g.clone().narrow(1, 0, hsz));
            let f = sigmoid(g.clone().narrow(1, hsz, hsz));
            let o = sigmoid(g.clone().narrow(1, 2 * hsz, hsz));
            let u = tanh(g.narrow(1, 3 * hsz, hsz));
            c = f * c + i * u;
            h = o * tanh(c.clone());
        }
        h.matmul(self.head_w.val()) + self.head_b.val().unsqueeze()
    }
}

fn main() {
    let device = Device::ndarray().autodiff();
    let (batch, window, feats, hsz, out) = (64, 168, 8, 64, 72);
    let s = (1.0 / hsz as f64).sqrt();
    let uniform = |shape: [usize; 2], a: f64| Tensor::random(shape, Distribution::Uniform(-a, a), &device);
    let mut net = Net {
        wx: Param::from_tensor(uniform([feats, 4 * hsz], s)),
        wh: Param::from_tensor(uniform([hsz, 4 * hsz], s)),
        b: Param::from_tensor(Tensor::zeros([4 * hsz], &device)),
        head_w: Param::from_tensor(uniform([hsz, out], 0.1)),
        head_b: Param::from_tensor(Tensor::zeros([out], &device)),
    };
    let mut optim = AdamConfig::new().init();
    let steps: Vec<Tensor<2>> =
        (0..window).map(|_| Tensor::random([batch, feats], Distribution::Normal(0.0, 1.0), &device)).collect();
    let target: Tensor<2> = Tensor::random([batch, out], Distribution::Normal(0.0, 1.0), &device);
    let t = std::time::Instant::now();
    for _ in 0..5 {
        let loss = (net.forward(&steps) - target.clone()).abs().mean();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-3, net, grads);
    }
    println!("windows/s {:.1}", 5.0 * batch as f64 / t.elapsed().as_secs_f64());
}
EOF
cd "$dir"
time cargo build -q
./target/debug/burnprobe
echo "scratch crate: $dir"
