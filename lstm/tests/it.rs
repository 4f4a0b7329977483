//! The burn network against the candle forward pass, training on a synthetic grid, and the
//! artifact round trip.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Tensor;
use hcp_lstm::net::{Kernel, Net};
use hcp_lstm::samples::Grid;
use hcp_lstm::train::cpu_device;
use hcp_lstm::{LstmConfig, train};
use hcp_models::forecast::lstm::{LstmForecaster, LstmSpec};
use hcp_models::forecast::realtime::HORIZONS;
use hcp_models::forecast::scaler::Invariant;
use hcp_models::forecast::synthetic::{Mix, hourly_prices};

/// The largest difference between burn's quantiles of a batch (`[batch, horizons]` each) and
/// candle's for the same issues (`[issue][horizon][quantile]`).
fn worst_gap<C: AsRef<[[f32; 3]]>>(burn: [Tensor<2>; 3], candle: &[Option<C>]) -> f32 {
    let q: Vec<Vec<f32>> = burn.into_iter().map(|t| t.into_data().try_into_vec::<f32>().unwrap()).collect();
    let mut worst = 0f32;
    for (i, row) in candle.iter().enumerate() {
        let row = row.as_ref().expect("inputs exist").as_ref();
        for (h, c) in row.iter().enumerate() {
            for j in 0..3 {
                worst = worst.max((q[j][i * row.len() + h] - c[j]).abs());
            }
        }
    }
    worst
}

/// burn (training: the fused layers and the same as tensor operations) and candle (inference)
/// give the same quantiles within 1e-4, at initialisation and after a few Adam steps, for one
/// and two layers.
#[test]
fn burn_and_candle_agree_within_1e4() {
    let p = hourly_prices(24 * 40, &mut Mix(5));
    let scaler = Invariant::fit(&p.rt);
    for layers in [1, 2] {
        let spec = LstmSpec::new("SYNTHETIC", 48, 16, layers, scaler);
        let grid = Grid::new(&p, scaler, spec.window);
        let issues = grid.issues(0, p.len()).issues;
        assert!(issues.len() > 500, "{}", issues.len());
        let device = cpu_device().autodiff();
        device.seed(1);
        let mut net = Net::init(&spec.shape(), &device);
        let mut optim = AdamConfig::new().init();
        for round in 0..2 {
            if round == 1 {
                for chunk in issues.chunks(64).take(3) {
                    let loss = net.loss(Kernel::default(), &grid.batch(chunk, &device));
                    let grads = GradientsParams::from_grads(loss.backward(), &net);
                    net = optim.step(1e-2, net, grads);
                }
            }
            let kept = net.valid();
            let candle = LstmForecaster::from_safetensors(spec.clone(), &kept.to_safetensors().unwrap()).unwrap();
            let sample: Vec<usize> = issues.iter().copied().step_by(97).collect();
            let from_candle = candle.quantiles_z(&p, &sample).unwrap();
            let batch = grid.batch(&sample, &cpu_device());
            for kernel in [Kernel::Fused { threads: 1 }, Kernel::Fused { threads: 2 }, Kernel::TensorOps] {
                let worst = worst_gap(kept.quantiles(kernel, &batch), &from_candle);
                assert!(
                    worst < 1e-4,
                    "{layers} layer(s), round {round}, {kernel:?}: burn and candle differ by {worst}"
                );
            }
        }
    }
}

/// `lstm_demand`'s network (168 horizons, per-horizon skip weights): burn and candle agree
/// within 1e-4 after a few Adam steps that move every weight, the skip weights included.
#[test]
fn demand_network_burn_and_candle_agree_within_1e4() {
    use hcp_lstm::demand::DemandGrid;
    use hcp_models::forecast::demand_lstm::{DemandLstm, DemandLstmSpec};
    let y: Vec<f64> = (0..24 * 30)
        .map(|t| 50.0 + 20.0 * ((t % 24) as f64 / 24.0 * std::f64::consts::TAU).sin() + 0.05 * t as f64)
        .collect();
    let scaler = Invariant::fit(&y);
    let spec = DemandLstmSpec::new("s", 24, 8, 2, scaler);
    let grid = DemandGrid::new(&y, 0, scaler, spec.window);
    let (issues, _) = grid.issues(0, y.len());
    assert!(issues.len() > 100, "{}", issues.len());
    let device = cpu_device().autodiff();
    device.seed(3);
    let mut net = Net::init(&spec.shape(), &device);
    let mut optim = AdamConfig::new().init();
    for chunk in issues.chunks(32).take(3) {
        let loss = net.loss(Kernel::default(), &grid.batch(chunk, &device));
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-2, net, grads);
    }
    let kept = net.valid();
    let skip: Vec<f32> = kept.skip.as_ref().unwrap().val().into_data().try_into_vec().unwrap();
    // Every skip weight moved but horizon 168's for the last value, which is that horizon's
    // weekly naive value itself (an input of 0): weights `[horizon, quantile, input]`.
    let still: Vec<usize> = (0..skip.len()).filter(|&i| skip[i] == 0.0).collect();
    assert_eq!(still, (0..3).map(|q| (167 * 3 + q) * 3 + 1).collect::<Vec<_>>());
    let candle = DemandLstm::from_safetensors(spec.clone(), &kept.to_safetensors().unwrap()).unwrap();
    let sample: Vec<usize> = issues.iter().copied().step_by(13).collect();
    let from_candle = candle.quantiles_z(&y, 0, &sample).unwrap();
    let worst = worst_gap(kept.quantiles(Kernel::default(), &grid.batch(&sample, &cpu_device())), &from_candle);
    assert!(worst < 1e-4, "burn and candle differ by {worst}");
}

/// A short training run learns something the latest day-ahead price does not know (the
/// synthetic spread is autocorrelated), keeps its best epoch, and is reproducible by seed.
#[test]
fn training_beats_the_day_ahead_price_and_is_reproducible() {
    let p = hourly_prices(24 * 120, &mut Mix(9));
    let cfg = LstmConfig {
        window: 24,
        hidden: 16,
        batch: 32,
        max_epochs: 8,
        patience: 3,
        valid_days: 14,
        learning_rate: 1e-2,
        ..LstmConfig::default()
    };
    let mut seen = Vec::new();
    let trained = train(&p, 0, p.len(), &cfg, None, &mut |pr| {
        if pr.valid_loss.is_some() {
            seen.push(pr.epoch);
        }
    })
    .unwrap();
    let r = &trained.report.fit;
    assert_eq!(seen, (1..=r.epochs_run).collect::<Vec<_>>());
    let best = r.valid_loss_by_epoch[r.best_epoch - 1];
    assert!(r.valid_loss_by_epoch.iter().all(|&l| l >= best));
    assert_eq!(r.valid_pinball, best);
    // The latest day-ahead price on the same validation issues.
    let f = trained.forecaster().unwrap();
    let grid = Grid::new(&p, trained.spec.scaler, cfg.window);
    let valid = grid.issues(p.len() - 24 * cfg.valid_days, p.len()).issues;
    assert_eq!(valid.len(), r.valid_issues);
    let mut dam = 0.0;
    for &k in &valid {
        for h in 0..HORIZONS {
            dam += (p.latest_da(k, k + h).unwrap().0 - p.rt[k + h]).abs();
        }
    }
    let dam = dam / (valid.len() * HORIZONS) as f64;
    let mae = trained.report.valid_mae_usd_per_mwh;
    eprintln!("validation MAE: lstm {mae} vs dam_latest {dam}; losses {:?}", r.valid_loss_by_epoch);
    assert!(mae < dam, "lstm {mae} vs dam_latest {dam}");
    // Forecasts: quantiles ordered, median the point forecast.
    for k in valid.iter().step_by(50) {
        for h in f.forecast(&p, *k).unwrap() {
            assert!(h.quantiles[0] <= h.quantiles[1] && h.quantiles[1] <= h.quantiles[2]);
            assert_eq!(h.mean, h.quantiles[1]);
        }
    }
    let again = train(&p, 0, p.len(), &cfg, None, &mut |_| {}).unwrap();
    assert_eq!(again.weights, trained.weights, "same seed, same weights");
    // Fine-tuning on a later range starts from these weights and this scaler; the starting
    // weights count as epoch 0 and are kept when no epoch beats them.
    let later = hourly_prices(24 * 150, &mut Mix(9));
    let tune = LstmConfig { max_epochs: 2, ..cfg.clone() };
    let tuned = hcp_lstm::train_from(&later, 0, later.len(), &tune, Some(&trained), None, &mut |_| {}).unwrap();
    assert_eq!(tuned.spec.scaler, trained.spec.scaler);
    assert!(tuned.report.fit.valid_loss_by_epoch.iter().all(|&l| l >= tuned.report.fit.valid_pinball));
    assert_eq!(tuned.report.fit.best_epoch == 0, tuned.weights == trained.weights);
    let wider = LstmConfig { hidden: 32, ..tune };
    let err = hcp_lstm::train_from(&later, 0, later.len(), &wider, Some(&trained), None, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("fine-tuning a network of window 24, hidden 16"), "{err}");
    // On three threads: the same weights.
    let three = train(&p, 0, p.len(), &LstmConfig { threads: 3, ..cfg.clone() }, None, &mut |_| {}).unwrap();
    assert_eq!(three.weights, trained.weights, "the thread count changed the weights");
}

#[test]
fn artifact_round_trips_and_refuses_tampered_weights() {
    let p = hourly_prices(24 * 40, &mut Mix(2));
    let cfg = LstmConfig { window: 24, hidden: 4, batch: 64, max_epochs: 1, valid_days: 5, ..LstmConfig::default() };
    let dir = tempfile::tempdir().unwrap();
    let trained = train(&p, 0, p.len(), &cfg, Some(&dir.path().join("checkpoints")), &mut |_| {}).unwrap();
    assert!(dir.path().join("checkpoints/checkpoint.safetensors").exists());
    let out = dir.path().join("model");
    let manifest = trained.save(&out, "synthetic").unwrap();
    assert_eq!(manifest.training["config"]["hidden"], 4);
    let (loaded, m) = LstmForecaster::load(&out).unwrap();
    // What was written, as any reader parses it (floats through JSON need not round-trip to the
    // last bit without serde_json's `float_roundtrip`, which another crate may or may not turn on).
    assert_eq!(m, hcp_models::artifact::read_manifest(&out).unwrap());
    assert_eq!((m.kind.as_str(), m.model_sha256.as_str()), (manifest.kind.as_str(), manifest.model_sha256.as_str()));
    let k = p.len() - 24 * 3;
    assert_eq!(loaded.forecast(&p, k).unwrap(), trained.forecaster().unwrap().forecast(&p, k).unwrap());

    let weights = out.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let err = LstmForecaster::load(&out).unwrap_err().to_string();
    assert!(err.contains("checksum mismatch") && err.contains("model.safetensors"), "{err}");

    let err = train(&p, 0, 24 * 5, &cfg, None, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("validation split"), "{err}");
}

#[test]
fn train_devices_parse_and_a_gpu_needs_the_feature() {
    use hcp_lstm::TrainDevice;
    assert_eq!("cpu".parse::<TrainDevice>().unwrap(), TrainDevice::Cpu);
    assert_eq!("gpu".parse::<TrainDevice>().unwrap(), TrainDevice::Gpu(None));
    assert_eq!("gpu:3".parse::<TrainDevice>().unwrap(), TrainDevice::Gpu(Some(3)));
    assert_eq!(
        (TrainDevice::Gpu(Some(3)).to_string(), TrainDevice::Gpu(None).to_string()),
        ("gpu:3".into(), "gpu".into())
    );
    let err = "gpu:x".parse::<TrainDevice>().unwrap_err().to_string();
    assert!(err.contains("\"x\" is not a number"), "{err}");
    let err = "cuda".parse::<TrainDevice>().unwrap_err().to_string();
    assert!(err.contains("expected cpu, gpu or gpu:N"), "{err}");
    // The config records the device; manifests written before it existed read as the CPU.
    let cfg = LstmConfig { device: TrainDevice::Gpu(Some(1)), ..LstmConfig::default() };
    let json = serde_json::to_value(&cfg).unwrap();
    assert_eq!(json["device"], serde_json::json!({ "gpu": 1 }));
    let mut old = serde_json::to_value(LstmConfig::default()).unwrap();
    old.as_object_mut().unwrap().remove("device");
    assert_eq!(serde_json::from_value::<LstmConfig>(old).unwrap().device, TrainDevice::Cpu);
    #[cfg(not(feature = "gpu"))]
    {
        let p = hourly_prices(24 * 40, &mut Mix(2));
        let cfg = LstmConfig { window: 24, hidden: 4, max_epochs: 1, valid_days: 5, ..cfg };
        let err = train(&p, 0, p.len(), &cfg, None, &mut |_| {}).unwrap_err().to_string();
        assert!(err.contains("training on gpu:1 needs hcp built with the `gpu` feature"), "{err}");
    }
}

/// On the adapter wgpu prefers (a build with the `gpu` feature; a GPU, or a software one such
/// as Mesa's llvmpipe where there is none): training starts from the CPU's initial weights,
/// follows the CPU's run within float noise, and the weights it writes give candle's
/// quantiles within 1e-4 of burn's forward pass on that adapter.
#[cfg(feature = "gpu")]
#[test]
fn gpu_training_follows_the_cpu_and_matches_candle() {
    use hcp_lstm::TrainDevice;
    let p = hourly_prices(24 * 60, &mut Mix(9));
    let cfg = LstmConfig {
        window: 24,
        hidden: 16,
        batch: 32,
        max_epochs: 2,
        patience: 3,
        valid_days: 14,
        learning_rate: 1e-2,
        ..LstmConfig::default()
    };
    let cpu = train(&p, 0, p.len(), &cfg, None, &mut |_| {}).unwrap();
    let gpu_cfg = LstmConfig { device: TrainDevice::Gpu(None), ..cfg.clone() };
    let gpu = train(&p, 0, p.len(), &gpu_cfg, None, &mut |_| {}).unwrap();
    let read = |bytes: &[u8]| -> Vec<f32> {
        let net = Net::from_safetensors(&cpu.spec.shape(), bytes, &cpu_device()).unwrap();
        net.named_weights().unwrap().into_iter().flat_map(|w| w.values).collect()
    };
    let (wc, wg) = (read(&cpu.weights), read(&gpu.weights));
    let worst = wc.iter().zip(&wg).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    eprintln!(
        "cpu vs gpu after {} epochs: weights differ by at most {worst}; validation losses {:?} vs {:?}; \
         {:.0} vs {:.0} windows/s",
        cfg.max_epochs,
        cpu.report.fit.valid_loss_by_epoch,
        gpu.report.fit.valid_loss_by_epoch,
        cpu.report.fit.windows_per_s,
        gpu.report.fit.windows_per_s
    );
    assert_eq!(wc.len(), wg.len());
    assert!(worst < 1e-2, "gpu training drifted from the cpu's by {worst}");
    for (c, g) in cpu.report.fit.valid_loss_by_epoch.iter().zip(&gpu.report.fit.valid_loss_by_epoch) {
        assert!((c - g).abs() < 1e-3 * c.abs(), "validation loss {c} on the cpu, {g} on the gpu");
    }
    // The GPU-trained weights: burn on the GPU and candle agree.
    let grid = Grid::new(&p, gpu.spec.scaler, cfg.window);
    let sample: Vec<usize> = grid.issues(0, p.len()).issues.into_iter().step_by(37).collect();
    let device = TrainDevice::Gpu(None).burn().unwrap();
    let net = Net::from_safetensors(&gpu.spec.shape(), &gpu.weights, &device).unwrap();
    let from_candle = gpu.forecaster().unwrap().quantiles_z(&p, &sample).unwrap();
    let worst = worst_gap(net.quantiles(Kernel::TensorOps, &grid.batch(&sample, &device)), &from_candle);
    eprintln!("burn on the gpu vs candle: {worst}");
    assert!(worst < 1e-4, "burn on the gpu and candle differ by {worst}");
    let again = train(&p, 0, p.len(), &gpu_cfg, None, &mut |_| {}).unwrap();
    eprintln!("gpu rerun with the same seed: identical weights {}", again.weights == gpu.weights);
}

/// A size of zero or past what any series here could use is refused by its flag before
/// anything is allocated (a typo such as `--lstm-hidden 100000` would ask for about 160 GB of
/// weights, 4·h·(h + inputs) f32s).
#[test]
fn sizes_out_of_range_are_refused_by_flag() {
    let p = hourly_prices(24 * 60, &mut Mix(9));
    let refused = |cfg: LstmConfig| train(&p, 0, p.len(), &cfg, None, &mut |_| {}).err().unwrap().to_string();
    let d = LstmConfig::default;
    assert!(refused(LstmConfig { hidden: 100_000, ..d() }).contains("--lstm-hidden 100000: 1 to 4096"));
    assert!(refused(LstmConfig { window: 0, ..d() }).contains("--lstm-window 0: 1 to 8760"));
    assert!(refused(LstmConfig { layers: 9, ..d() }).contains("--lstm-layers 9: 1 to 8"));
    assert!(refused(LstmConfig { threads: 0, ..d() }).contains("--lstm-threads 0: 1 to 1024"));
    assert!(
        refused(LstmConfig { learning_rate: f64::NAN, ..d() }).contains("--lstm-learning-rate NaN must be positive")
    );
}
