//! Fixtures: real artifacts (a `lear_rt`, a small `lstm_rt` and a `lear_demand` fitted on
//! synthetic series, a classifier of hand-built trees) saved the way `hcp train` saves them, and
//! an app over them.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use hcp_datasets::time::ercot_calendar;
use hcp_models::artifact;
use hcp_models::classifier::FEATURE_NAMES;
use hcp_models::classifier::artifact::{ClassifierBundle, TaskModel};
use hcp_models::classifier::model::{Model, Node, Tree};
use hcp_models::forecast::demand::{self, DemandForecaster, LearDemand};
use hcp_models::forecast::lasso::PathConfig;
use hcp_models::forecast::realtime::{self, HORIZONS, HourlyPrices, LearRt, PriceForecaster};
use hcp_serving::{ApiKeys, App, ServeConfig};
use tower::ServiceExt;

pub const HOUR_US: i64 = 3_600_000_000;
/// 2025-03-03 00:00 UTC, a Monday: the first hour of the synthetic price history.
pub const START_US: i64 = 1_740_960_000 * 1_000_000;
/// Days the price model is fitted on.
pub const TRAIN_DAYS: usize = 45;
pub const READ_KEY: &str = "analyst-key-0123456789";
pub const OPERATE_KEY: &str = "operator-key-0123456789";

/// Hourly real-time and day-ahead prices: a daily shape, a weekly one, and an AR(1) spread.
pub fn prices(hours: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut state = seed;
    let mut spread = 0.0;
    let (mut rt, mut da) = (Vec::new(), Vec::new());
    for t in 0..hours {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let noise = ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5;
        let d = 35.0
            + 12.0 * ((t % 24) as f64 / 24.0 * std::f64::consts::TAU).sin()
            + if (t / 24) % 7 >= 5 { -6.0 } else { 0.0 };
        spread = 0.7 * spread + 8.0 * noise;
        da.push(d);
        rt.push(d + spread);
    }
    (rt, da)
}

/// Saves a price model of `node` fitted on the first `TRAIN_DAYS` of [`prices`].
pub fn save_price_model(dir: &Path, node: &str, seed: u64) -> PriceForecaster {
    let k = TRAIN_DAYS * 24;
    let (rt, da) = prices(k + 24 * 20, seed);
    let hours: Vec<(i64, f64, f64)> = (0..rt.len()).map(|i| (START_US + i as i64 * HOUR_US, rt[i], da[i])).collect();
    let grid = HourlyPrices::from_hours(node, &hours, ercot_calendar).unwrap();
    let model = LearRt::fit(&grid, 0, k, &PathConfig::default()).unwrap();
    let f = PriceForecaster {
        node: node.into(),
        trained_until_us: START_US + (k as i64 - 1) * HOUR_US,
        model,
        band_offsets: (0..HORIZONS).map(|h| [-2.0 - h as f64 * 0.1, 0.0, 2.0 + h as f64 * 0.1]).collect(),
    };
    let training = serde_json::json!({"source": "synthetic", "hours": k});
    artifact::save(dir, realtime::ARTIFACT_KIND, &realtime::feature_names(), &f, training, serde_json::json!({}))
        .unwrap();
    f
}

pub fn demand_series(hours: usize) -> Vec<f64> {
    (0..hours)
        .map(|t| {
            100.0
                + 30.0 * ((t % 24) as f64 / 24.0 * std::f64::consts::TAU).sin()
                + if (t / 24) % 7 >= 5 { -40.0 } else { 0.0 }
        })
        .collect()
}

pub fn save_demand_model(dir: &Path) {
    let y = demand_series(24 * 40);
    let model = LearDemand::fit(&y, y.len(), &PathConfig::default()).unwrap();
    let f = DemandForecaster {
        series: "gpus_held".into(),
        trained_hours: y.len(),
        model,
        band_offsets: vec![[-5.0, 0.0, 5.0]; demand::HORIZONS],
    };
    artifact::save(
        dir,
        demand::ARTIFACT_KIND,
        &demand::feature_names(),
        &f,
        serde_json::json!({}),
        serde_json::json!({}),
    )
    .unwrap();
}

/// A small `lstm_demand` trained by burn on [`demand_series`] (window 48, 8 units).
pub fn save_lstm_demand_model(dir: &Path) {
    let y = demand_series(24 * 40);
    let cfg =
        hcp_lstm::LstmConfig { window: 48, hidden: 8, batch: 32, max_epochs: 2, valid_days: 10, ..Default::default() };
    let series = hcp_lstm::Series { name: "gpus_held", values: &y, start_us: 0 };
    let trained = hcp_lstm::train_demand(series, 0, y.len(), &cfg, None, &mut |_| {}).unwrap();
    trained.save(dir, "synthetic").unwrap();
}

/// Two tasks: `ls_be` (a whole GPU is LS, else BE) and `qos` (four classes by GPU count).
pub fn save_classifier(dir: &Path) {
    let split = |feature: u16, threshold: f64, left: u16, right: u16| Tree {
        nodes: vec![
            Node::Split { feature, threshold, left: 1, right: 2 },
            Node::Leaf { class: left },
            Node::Leaf { class: right },
        ],
    };
    let bundle = ClassifierBundle {
        feature_names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        tasks: vec![
            TaskModel {
                task: "ls_be".into(),
                classes: vec!["BE".into(), "LS".into()],
                model_name: "tree".into(),
                // whole_gpu (feature 5) < 0.5: BE.
                model: Model::Tree { tree: split(5, 0.5, 0, 1), n_classes: 2 },
            },
            TaskModel {
                task: "qos".into(),
                classes: vec!["BE".into(), "Burstable".into(), "Guaranteed".into(), "LS".into()],
                model_name: "forest".into(),
                model: Model::Forest {
                    trees: vec![split(2, 0.5, 1, 3), split(2, 1.5, 3, 2), split(5, 0.5, 0, 3)],
                    n_classes: 4,
                },
            },
        ],
    };
    hcp_models::classifier::artifact::save(dir, &bundle, serde_json::json!({}), serde_json::json!({})).unwrap();
}

/// Saves an `lstm_rt` of `node` (a `window`-hour window, `hidden` units) trained with burn for a
/// few epochs on the same hours as [`save_price_model`]'s.
pub fn save_lstm_price_model(dir: &Path, node: &str, seed: u64, window: usize, hidden: usize) {
    let k = TRAIN_DAYS * 24;
    let (rt, da) = prices(k + 24 * 20, seed);
    let hours: Vec<(i64, f64, f64)> = (0..rt.len()).map(|i| (START_US + i as i64 * HOUR_US, rt[i], da[i])).collect();
    let grid = HourlyPrices::from_hours(node, &hours, ercot_calendar).unwrap();
    let cfg = hcp_lstm::LstmConfig { window, hidden, max_epochs: 3, valid_days: 7, ..Default::default() };
    let trained = hcp_lstm::train(&grid, 0, k, &cfg, None, &mut |_| {}).unwrap();
    trained.save(dir, "synthetic").unwrap();
}

/// A models directory with `price-HB_WEST`, `demand-gpus_held` and `classifier`.
pub fn models_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    save_price_model(&dir.path().join("price-HB_WEST"), "HB_WEST", 11);
    save_demand_model(&dir.path().join("demand-gpus_held"));
    save_classifier(&dir.path().join("classifier"));
    dir
}

pub fn keys() -> ApiKeys {
    let mut keys = ApiKeys::default();
    keys.add_env(&format!("read:{READ_KEY},operate:{OPERATE_KEY}")).unwrap();
    keys
}

pub fn config(dir: &Path) -> ServeConfig {
    let mut cfg = ServeConfig::new(dir.to_path_buf(), "127.0.0.1:0".parse().unwrap(), keys());
    cfg.workers = 2;
    cfg
}

pub fn app(dir: &Path) -> Arc<App> {
    App::new(&config(dir)).unwrap()
}

/// A price request for HB_WEST issued `days_after` days after the model's training data ends:
/// `hours` hours of real-time prices up to the issue, day-ahead prices of the same hours.
pub fn price_request(days_after: usize, hours: usize) -> serde_json::Value {
    let issue = TRAIN_DAYS * 24 + days_after * 24;
    let (rt, da) = prices(issue + 48, 11);
    let first = issue - hours;
    serde_json::json!({
        "node": "HB_WEST",
        "start": hcp_datasets::time::format_micros(START_US + first as i64 * HOUR_US),
        "rt": rt[first..issue],
        "da": da[first..issue],
    })
}

/// Sends one request through the router; returns status, headers and the JSON body (or the
/// text, as a JSON string).
pub async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string()))).unwrap();
    let response = router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20).await.unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, value)
}
