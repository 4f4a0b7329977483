//! Every route and every error, through the router in process (`tower::ServiceExt::oneshot`).

mod common;

use axum::http::StatusCode;
use common::*;
use hcp_datasets::time::{ercot_calendar, parse_instant};
use hcp_models::forecast::realtime::HourlyPrices;
use serde_json::{Value, json};

/// A change to a valid request that makes it invalid.
type Change = Box<dyn Fn(&mut Value)>;

/// A price request's hours as the grid a model reads, 24 unknown hours past the issue, and the
/// issue's index.
fn request_grid(req: &Value) -> (HourlyPrices, usize) {
    let start = parse_instant(req["start"].as_str().unwrap()).unwrap();
    let numbers =
        |name: &str| -> Vec<f64> { req[name].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect() };
    let (rt, da) = (numbers("rt"), numbers("da"));
    let hours: Vec<(i64, f64, f64)> = (0..rt.len() + 24)
        .map(|i| {
            (start + i as i64 * HOUR_US, rt.get(i).copied().unwrap_or(f64::NAN), da.get(i).copied().unwrap_or(f64::NAN))
        })
        .collect();
    (HourlyPrices::from_hours("HB_WEST", &hours, ercot_calendar).unwrap(), rt.len())
}

fn field(body: &Value) -> &str {
    body["field"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_forecast_is_the_models_own_and_reads_only_the_past() {
    let dir = models_dir();
    let router = hcp_serving::router(app(dir.path()));
    let req = price_request(3, 24 * 10);
    let (status, _, body) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&req.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let horizons = body["horizons"].as_array().unwrap();
    assert_eq!(horizons.len(), 24);
    assert_eq!(body["unavailable"], json!([]));
    assert_eq!(body["model"], "price-HB_WEST");
    // The issue is the hour after the last real-time price.
    let start = parse_instant(req["start"].as_str().unwrap()).unwrap();
    let issue = start + 240 * HOUR_US;
    assert_eq!(parse_instant(body["issued_at"].as_str().unwrap()), Some(issue));
    assert_eq!(parse_instant(horizons[5]["target_start"].as_str().unwrap()), Some(issue + 5 * HOUR_US));

    // Golden: the model called directly on the same hours gives the same numbers.
    let (model, _) = hcp_models::forecast::realtime::load(&dir.path().join("price-HB_WEST")).unwrap();
    let (grid, k) = request_grid(&req);
    let direct = model.forecast(&grid, k);
    for (h, d) in horizons.iter().zip(&direct) {
        assert_eq!(h["mean"].as_f64().unwrap(), d.mean);
        assert_eq!(h["p10"].as_f64().unwrap(), d.quantiles[0]);
        assert_eq!(h["p90"].as_f64().unwrap(), d.quantiles[2]);
        assert!(h["p10"].as_f64() <= h["p50"].as_f64() && h["p50"].as_f64() <= h["p90"].as_f64());
    }

    // Hours missing from the history: the horizons they feed are named, not dropped.
    let mut gappy = req.clone();
    gappy["rt"][240 - 24 + 2] = Value::Null;
    gappy["horizons"] = json!(6);
    let (status, _, body) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&gappy.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["horizons"].as_array().unwrap().len() + body["unavailable"].as_array().unwrap().len(), 6);
    assert!(!body["unavailable"].as_array().unwrap().is_empty(), "{body}");
}

/// An `lstm_rt` artifact (`model.safetensors`) is served like `lear_rt`: the forecast is the
/// candle forward pass's own, the history it needs is its window, and the Open Inference
/// Protocol route runs it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_lstm_price_model_is_served_through_candle() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("price-lstm-HB_WEST");
    save_lstm_price_model(&model_dir, "HB_WEST", 11, 48, 8);
    let router = hcp_serving::router(app(dir.path()));
    let req = price_request(3, 24 * 3);
    let (status, _, body) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&req.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["model"], "price-lstm-HB_WEST");
    let horizons = body["horizons"].as_array().unwrap();
    assert_eq!(horizons.len(), 24);

    // Golden: the loaded model called directly on the same hours.
    let (model, manifest) = hcp_models::forecast::price::PriceModel::load(&model_dir).unwrap();
    assert_eq!((model.kind(), model.lookback()), ("price_lstm_rt", 48));
    assert_eq!(body["version"].as_str().unwrap(), &manifest.model_sha256[..12]);
    let (grid, k) = request_grid(&req);
    let direct = model.forecast(&grid, k).unwrap();
    assert_eq!(direct.len(), 24);
    for (h, d) in horizons.iter().zip(&direct) {
        assert_eq!(h["p50"].as_f64().unwrap(), d.quantiles[1]);
        assert_eq!(h["p90"].as_f64().unwrap(), d.quantiles[2]);
        assert!(h["p10"].as_f64() <= h["p50"].as_f64() && h["p50"].as_f64() <= h["p90"].as_f64());
    }

    // Less history than the window: named.
    let mut short = req.clone();
    short["rt"] = json!(vec![30.0; 40]);
    let (status, _, body) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&short.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field(&body), "rt");
    assert!(body["error"].as_str().unwrap().contains("needs 48"), "{body}");

    // The Open Inference Protocol route: the same medians.
    let start = parse_instant(req["start"].as_str().unwrap()).unwrap();
    let infer = json!({"inputs": [
        {"name": "start_unix_s", "datatype": "INT64", "shape": [1], "data": [start / 1_000_000]},
        {"name": "rt", "datatype": "FP64", "shape": [k], "data": req["rt"]},
        {"name": "da", "datatype": "FP64", "shape": [k], "data": req["da"]},
    ]});
    let (status, _, body) =
        call(&router, "POST", "/v2/models/price-lstm-HB_WEST/infer", Some(READ_KEY), Some(&infer.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let p50 = body["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "p50").unwrap();
    let p50: Vec<f64> = p50["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(p50, direct.iter().map(|d| d.quantiles[1]).collect::<Vec<_>>());
}

/// Two price models of one node: a request must name one (it used to get the first by name,
/// silently); the named one answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_two_price_models_is_answered_by_the_one_named() {
    let dir = models_dir();
    save_price_model(&dir.path().join("price-HB_WEST-b"), "HB_WEST", 12);
    let router = hcp_serving::router(app(dir.path()));
    let mut req = price_request(3, 24 * 10);
    let (status, _, body) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&req.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field(&body), "model");
    assert!(body["error"].as_str().unwrap().contains(r#"name one of ["price-HB_WEST", "price-HB_WEST-b"]"#), "{body}");
    let mut medians = Vec::new();
    for name in ["price-HB_WEST", "price-HB_WEST-b"] {
        req["model"] = json!(name);
        let (status, _, body) =
            call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&req.to_string())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["model"], name);
        medians.push(body["horizons"][0]["p50"].as_f64().unwrap());
    }
    assert_ne!(medians[0], medians[1], "two models, two forecasts");
    for wrong in ["nope", "demand-gpus_held"] {
        req["model"] = json!(wrong);
        let (status, _, body) =
            call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&req.to_string())).await;
        assert_eq!((status, field(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "model"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_requests_that_cannot_be_answered_name_the_field() {
    let dir = models_dir();
    let router = hcp_serving::router(app(dir.path()));
    let base = price_request(3, 24 * 9);
    let cases: Vec<(Change, &str, &str)> = vec![
        (Box::new(|r| r["node"] = json!("LZ_NOWHERE")), "node", "no price model"),
        (Box::new(|r| r["start"] = json!("2025-04-20T00:30:00Z")), "start", "on the hour"),
        (Box::new(|r| r["start"] = json!("yesterday")), "start", "RFC 3339"),
        (Box::new(|r| r["rt"] = json!(vec![30.0; 100])), "rt", "needs 192"),
        (Box::new(|r| r["horizons"] = json!(25)), "horizons", "outside 1..=24"),
        (Box::new(|r| r["horizons"] = json!(0)), "horizons", "outside 1..=24"),
        // The day-ahead prices of the day after tomorrow are not out at the issue time.
        (Box::new(|r| r["da"] = json!(vec![30.0; 216 + 47])), "da[", "published at"),
        // Issued inside the model's training data: it has seen what it would forecast.
        (Box::new(|r| r["start"] = json!("2025-03-20T00:00:00Z")), "rt", "training data"),
        // Prices no market clears: a corrupted value, not a forecastable history.
        (Box::new(|r| r["rt"][200] = json!(1e300)), "rt[200]", "beyond ±20000"),
        (Box::new(|r| r["da"][5] = json!(-25_000.0)), "da[5]", "beyond ±20000"),
    ];
    for (change, want_field, want_text) in cases {
        let mut r = base.clone();
        change(&mut r);
        let (status, _, body) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&r.to_string())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{want_field}: {body}");
        assert!(field(&body).starts_with(want_field), "{want_field}: {body}");
        assert!(body["error"].as_str().unwrap().contains(want_text), "{want_text}: {body}");
    }
    // Unknown fields, wrong types and missing fields: 422 from the parser, naming the field.
    let mut extra = base.clone();
    extra["confidence"] = json!(0.9);
    let (status, _, body) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&extra.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"].as_str().unwrap().contains("unknown field `confidence`"), "{body}");
    let mut wrong = base.clone();
    wrong["rt"][3] = json!("high");
    let (status, _, body) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&wrong.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&body), "rt[3]", "{body}");
    let (status, _, body) =
        call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(r#"{"node": "HB_WEST"}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"].as_str().unwrap().contains("missing field"), "{body}");
    // Empty and unparsable bodies: 400. A number too large for a double: 400 as well (JSON
    // has no infinity).
    for bad in ["", "{", r#"{"node": "HB_WEST", "rt": [1, 2"#, r#"{"node": "HB_WEST", "rt": [1e999]}"#] {
        let (status, _, body) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    let (status, _, body) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some("")).await;
    assert!(body["error"].as_str().unwrap().contains("empty"), "{status} {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_wrong_content_types_unknown_routes_and_methods_get_json_errors() {
    let dir = models_dir();
    let mut cfg = config(dir.path());
    cfg.limits.body_bytes = 4096;
    let router = hcp_serving::router(hcp_serving::App::new(&cfg).unwrap());
    let big = price_request(3, 24 * 30).to_string();
    assert!(big.len() > 4096);
    let (status, _, body) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body["error"].is_string());

    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/classify")
        .header("authorization", format!("Bearer {READ_KEY}"))
        .header("content-type", "text/plain")
        .body(axum::body::Body::from("{}"))
        .unwrap();
    let response = tower::ServiceExt::oneshot(router.clone(), req).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    assert!(serde_json::from_slice::<Value>(&bytes).unwrap()["error"].is_string());

    let (status, _, body) = call(&router, "GET", "/v1/nothing-here", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string(), "{body}");
    let (status, headers, body) = call(&router, "GET", "/v1/forecast/price", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["error"].is_string(), "{body}");
    assert!(headers.get("allow").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_roles_are_enforced() {
    let dir = models_dir();
    let router = hcp_serving::router(app(dir.path()));
    let body = price_request(3, 200).to_string();
    let (status, headers, err) = call(&router, "POST", "/v1/forecast/price", None, Some(&body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert!(err["error"].as_str().unwrap().contains("API key is required"));
    let (status, _, err) = call(&router, "POST", "/v1/forecast/price", Some("not-a-key-at-all-000"), Some(&body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(err["error"].as_str().unwrap().contains("not known"));
    // The operate role may read.
    let (status, _, _) = call(&router, "POST", "/v1/forecast/price", Some(OPERATE_KEY), Some(&body)).await;
    assert_eq!(status, StatusCode::OK);
    // The read role may not operate.
    let (status, _, err) = call(&router, "POST", "/v1/schedule/propose", Some(READ_KEY), Some("{}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(err["error"].as_str().unwrap().contains("needs operate"), "{err}");
    let (status, _, _) = call(&router, "POST", "/v1/admin/reload", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Probes, metrics and the API description are open.
    for open in ["/v2/health/live", "/v2/health/ready", "/v2", "/metrics", "/openapi.json"] {
        let (status, _, _) = call(&router, "GET", open, None, None).await;
        assert_eq!(status, StatusCode::OK, "{open}");
    }
    let (status, _, _) = call(&router, "GET", "/info", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // No keys at all: the server refuses to start unless told to run open.
    let mut cfg = config(dir.path());
    cfg.keys = hcp_serving::ApiKeys::default();
    let err = hcp_serving::App::new(&cfg).unwrap_err().to_string();
    assert!(err.contains("no API keys"), "{err}");
}

#[test]
fn a_models_directory_without_models_is_refused_and_says_why() {
    let dir = models_dir();
    let err = hcp_serving::App::new(&config(&dir.path().join("price-HB_WEST"))).unwrap_err().to_string();
    assert!(err.contains("no model directory") && err.contains("a model directory itself"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir(empty.path().join("not-a-model")).unwrap();
    let err = hcp_serving::App::new(&config(empty.path())).unwrap_err().to_string();
    assert!(err.contains("no model directory") && !err.contains("itself"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demand_forecast_and_its_errors() {
    let dir = models_dir();
    let router = hcp_serving::router(app(dir.path()));
    let history = demand_series(24 * 21);
    let req = json!({"history": history}).to_string();
    let (status, _, body) = call(&router, "POST", "/v1/forecast/demand", Some(READ_KEY), Some(&req)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["series"], "gpus_held");
    let h = body["horizons"].as_array().unwrap();
    assert_eq!(h.len(), 168);
    // Golden: the model called directly on the same history.
    let (model, _) = hcp_models::forecast::demand::load(&dir.path().join("demand-gpus_held")).unwrap();
    for (row, (mean, q)) in h.iter().zip(model.forecast(&history).unwrap()) {
        assert_eq!(row["mean"].as_f64().unwrap(), mean);
        assert_eq!(row["p90"].as_f64().unwrap(), q[2]);
    }
    let short = json!({"history": vec![1.0; 100]}).to_string();
    let (status, _, body) = call(&router, "POST", "/v1/forecast/demand", Some(READ_KEY), Some(&short)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&body), "history");
    let named = json!({"model": "nope", "history": history}).to_string();
    let (status, _, body) = call(&router, "POST", "/v1/forecast/demand", Some(READ_KEY), Some(&named)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&body), "model");
    let mut negative = history.clone();
    negative[7] = -2.0;
    let negative = json!({"history": negative}).to_string();
    let (status, _, body) = call(&router, "POST", "/v1/forecast/demand", Some(READ_KEY), Some(&negative)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&body), "history[7]");
    assert!(body["error"].as_str().unwrap().contains("negative"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_lstm_demand_model_is_served_through_candle() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("demand-lstm");
    save_lstm_demand_model(&model_dir);
    let router = hcp_serving::router(app(dir.path()));
    let history = demand_series(24 * 15);
    let start_s = 3600 * 24 * 3;
    let req = json!({"history": history, "start_unix_s": start_s}).to_string();
    let (status, _, body) = call(&router, "POST", "/v1/forecast/demand", Some(READ_KEY), Some(&req)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["model"].as_str(), body["series"].as_str()), (Some("demand-lstm"), Some("gpus_held")));
    let h = body["horizons"].as_array().unwrap();
    assert_eq!(h.len(), 168);
    // 3 days + 15 days of history: the first target hour starts on day 18.
    assert_eq!(h[0]["target_start"], "1970-01-19T00:00:00Z");
    // Golden: the model called directly on the same history and clock.
    let (model, _) = hcp_models::forecast::demand_model::DemandModel::load(&model_dir).unwrap();
    assert_eq!((model.kind(), model.lookback()), ("demand_lstm", 336));
    let direct = model.forecast(&history, start_s * 1_000_000).unwrap();
    for (row, (mean, q)) in h.iter().zip(&direct) {
        assert_eq!(row["mean"].as_f64().unwrap(), *mean);
        assert_eq!(row["p10"].as_f64().unwrap(), q[0]);
        assert_eq!(row["p90"].as_f64().unwrap(), q[2]);
    }
    // The clock matters to it, and it must be given.
    let shifted = model.forecast(&history, (start_s + 3600 * 5) * 1_000_000).unwrap();
    assert_ne!(shifted, direct);
    let no_start = json!({"history": history}).to_string();
    let (status, _, body) = call(&router, "POST", "/v1/forecast/demand", Some(READ_KEY), Some(&no_start)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&body), "start_unix_s", "{body}");
    let short = json!({"history": vec![1.0; 100], "start_unix_s": 0}).to_string();
    let (status, _, body) = call(&router, "POST", "/v1/forecast/demand", Some(READ_KEY), Some(&short)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&body), "history");
    assert!(body["error"].as_str().unwrap().contains("lstm_demand `gpus_held` needs 336"), "{body}");
    // The Open Inference Protocol route: the same medians; the clock is one of its inputs.
    let infer = json!({"inputs": [
        {"name": "start_unix_s", "datatype": "INT64", "shape": [1], "data": [start_s]},
        {"name": "history", "datatype": "FP64", "shape": [history.len()], "data": history},
    ]});
    let (status, _, body) =
        call(&router, "POST", "/v2/models/demand-lstm/infer", Some(READ_KEY), Some(&infer.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let p50 = body["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "p50").unwrap();
    let p50: Vec<f64> = p50["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(p50, direct.iter().map(|(_, q)| q[1]).collect::<Vec<_>>());
    let infer = json!({"inputs": [{"name": "history", "datatype": "FP64", "shape": [history.len()], "data": history}]});
    let (status, _, body) =
        call(&router, "POST", "/v2/models/demand-lstm/infer", Some(READ_KEY), Some(&infer.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

fn job(num_gpu: i64, gpu_milli: i64) -> Value {
    json!({"cpu_milli": 8000, "memory_mib": 32768, "num_gpu": num_gpu, "gpu_milli": gpu_milli, "creation_time_s": 3600 * 30})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classification_in_batches_with_the_placement_it_implies() {
    let dir = models_dir();
    let router = hcp_serving::router(app(dir.path()));
    let req = json!({"jobs": [job(1, 1000), job(1, 500), job(2, 1000)]}).to_string();
    let (status, _, body) = call(&router, "POST", "/v1/classify", Some(READ_KEY), Some(&req)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let p = body["predictions"].as_array().unwrap();
    assert_eq!(p.len(), 3);
    // Whole GPU: LS (never preempted); a shared GPU: BE by ls_be, and the qos forest's votes.
    assert_eq!(p[0]["tasks"][0]["class"], "LS");
    assert_eq!(p[1]["tasks"][0]["class"], "BE");
    // qos for one whole GPU: votes LS (tree 1: 1 >= 0.5 -> LS), Guaranteed? (1 < 1.5 -> LS),
    // LS (whole) -> LS with probability 1.
    assert_eq!(p[0]["tasks"][1]["class"], "LS");
    assert_eq!(p[0]["tasks"][1]["probabilities"]["LS"], 1.0);
    assert_eq!(p[0]["placement"], json!({"preemptible": false, "curtailable": false, "reserved_capacity": true}));
    // Shared GPU: BE (tree 3), LS, LS -> LS 2/3.
    assert!((p[1]["tasks"][1]["probabilities"]["LS"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);

    let bad = json!({"jobs": [job(1, 1000), job(99, 1000)]}).to_string();
    let (status, _, body) = call(&router, "POST", "/v1/classify", Some(READ_KEY), Some(&bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&body), "jobs[1].num_gpu", "{body}");
    let (status, _, body) = call(&router, "POST", "/v1/classify", Some(READ_KEY), Some(r#"{"jobs": []}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&body), "jobs");
    let many = json!({"jobs": vec![job(1, 1000); 1025]}).to_string();
    let (status, _, body) = call(&router, "POST", "/v1/classify", Some(READ_KEY), Some(&many)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"].as_str().unwrap().contains("1 to 1024"), "{body}");
    let mut typo = job(1, 1000);
    typo["gpus"] = json!(1);
    let (status, _, body) =
        call(&router, "POST", "/v1/classify", Some(READ_KEY), Some(&json!({"jobs": [typo]}).to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"].as_str().unwrap().contains("unknown field `gpus`"), "{body}");
}

fn propose_request() -> Value {
    json!({
        "now": "2025-05-01T14:10:00Z",
        "hashprice_usd_per_th_day": 0.05,
        "prices_usd_per_mwh": [25.0, 30.0, 180.0, 40.0, 22.0, 20.0],
        "site": {
            "id": "west-1",
            "cap_w": 300000.0,
            "groups": [
                {"id": "s21", "model": "Antminer S21", "devices": 40, "awake": 40, "target_w": 3500.0},
                {"id": "s19", "model": "Antminer S19 XP", "devices": 30}
            ],
            "pools": [{"id": "h100", "gpu_model": "H100", "gpus": 64, "free_gpus": 48}],
            "running": [{"id": "serve-1", "class": "latency_sensitive", "num_gpu": 16, "remaining_s": 36000.0, "value_usd_per_gpu_hour": 4.0, "pool": "h100"}]
        },
        "queue": [
            {"id": "chat", "class": "latency_sensitive", "num_gpu": 8, "remaining_s": 7200.0, "value_usd_per_gpu_hour": 4.0},
            {"id": "train", "class": "best_effort", "num_gpu": 16, "remaining_s": 14400.0, "value_usd_per_gpu_hour": 1.5, "deadline": "2025-05-02T14:00:00Z"}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_proposals_keep_the_cap_and_place_serving_work_at_once() {
    let dir = models_dir();
    let router = hcp_serving::router(app(dir.path()));
    for cap in [300_000.0, 180_000.0, 90_000.0] {
        let mut req = propose_request();
        req["site"]["cap_w"] = json!(cap);
        let (status, _, body) =
            call(&router, "POST", "/v1/schedule/propose", Some(OPERATE_KEY), Some(&req.to_string())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let worst = body["worst_case_draw_w"].as_f64().unwrap();
        assert!(worst <= cap, "cap {cap}: worst case {worst}: {body}");
        let groups = body["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 2);
        for g in groups {
            let awake = g["awake"].as_u64().unwrap();
            assert!(awake <= 40, "{g}");
        }
        // Latency-sensitive work is placed at once while the cap allows it.
        if cap >= 180_000.0 {
            assert!(body["place"].as_array().unwrap().iter().any(|p| p["job"] == "chat"), "cap {cap}: {body}");
        }
    }
    let cases: Vec<(Change, &str)> = vec![
        (Box::new(|r| r["site"]["groups"][1]["model"] = json!("S99")), "site.groups[1].model"),
        (Box::new(|r| r["site"]["groups"][0]["target_w"] = json!(99_000.0)), "site.groups[0].target_w"),
        (Box::new(|r| r["site"]["groups"][0]["awake"] = json!(41)), "site.groups[0].awake"),
        (Box::new(|r| r["site"]["pools"][0]["free_gpus"] = json!(65)), "site.pools[0].free_gpus"),
        (Box::new(|r| r["site"]["pools"][0]["gpu_model"] = json!("B300X")), "site.pools[0].gpu_model"),
        (Box::new(|r| r["site"]["running"][0]["pool"] = json!("a100")), "site.running[0].pool"),
        (Box::new(|r| r["queue"][1]["class"] = json!("urgent")), "queue[1].class"),
        (Box::new(|r| r["queue"][1]["deadline"] = json!("soon")), "queue[1].deadline"),
        (Box::new(|r| r["queue"][0]["id"] = json!("train")), "queue[1].id"),
        (Box::new(|r| r["queue"][0]["id"] = json!("serve-1")), "queue[0].id"),
        (Box::new(|r| r["prices_usd_per_mwh"] = json!([])), "prices_usd_per_mwh"),
        (Box::new(|r| r["prices_usd_per_mwh"][0] = json!(1e9)), "prices_usd_per_mwh[0]"),
        (Box::new(|r| r["site"]["cap_w"] = json!(-1.0)), "site.cap_w"),
        (Box::new(|r| r["now"] = json!("noon")), "now"),
    ];
    for (change, want) in cases {
        let mut r = propose_request();
        change(&mut r);
        let (status, _, body) =
            call(&router, "POST", "/v1/schedule/propose", Some(OPERATE_KEY), Some(&r.to_string())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{want}: {body}");
        assert_eq!(field(&body), want, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_inference_protocol_routes() {
    let dir = models_dir();
    let app = app(dir.path());
    let router = hcp_serving::router(app.clone());
    let (status, _, body) = call(&router, "GET", "/v2", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "hcp");
    let (status, _, meta) = call(&router, "GET", "/v2/models/price-HB_WEST", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    let version = meta["versions"][0].as_str().unwrap().to_string();
    assert_eq!(version.len(), 12);
    assert_eq!(meta["inputs"][1], json!({"name": "rt", "datatype": "FP64", "shape": [-1]}));
    let (status, _, _) =
        call(&router, "GET", &format!("/v2/models/price-HB_WEST/versions/{version}"), Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) =
        call(&router, "GET", &format!("/v2/models/price-HB_WEST/versions/{version}/ready"), Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) =
        call(&router, "GET", "/v2/models/price-HB_WEST/versions/000000000000", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("has version"));
    let (status, _, _) = call(&router, "GET", "/v2/models/nope/ready", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(&router, "GET", "/v2/models/classifier/ready", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::OK);

    // Price: the same numbers as /v1.
    let v1 = price_request(3, 200);
    let (_, _, v1_body) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&v1.to_string())).await;
    let start_s = parse_instant(v1["start"].as_str().unwrap()).unwrap() / 1_000_000;
    let infer = json!({
        "id": "req-7",
        "inputs": [
            {"name": "start_unix_s", "shape": [1], "datatype": "INT64", "data": [start_s]},
            {"name": "rt", "shape": [200], "datatype": "FP64", "data": v1["rt"]},
            {"name": "da", "shape": [200], "datatype": "FP64", "data": v1["da"]}
        ],
        "outputs": [{"name": "p50"}, {"name": "horizon"}]
    });
    let (status, _, body) =
        call(&router, "POST", "/v2/models/price-HB_WEST/infer", Some(READ_KEY), Some(&infer.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], "req-7");
    // Seconds too many for microseconds: named, not a panic.
    let mut far = infer.clone();
    far["inputs"][0]["data"] = json!([9_000_000_000_000_000i64]);
    let (status, _, far_body) =
        call(&router, "POST", "/v2/models/price-HB_WEST/infer", Some(READ_KEY), Some(&far.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{far_body}");
    assert_eq!(field(&far_body), "inputs[start_unix_s]", "{far_body}");
    // The checks shared with /v1 name the fields as this route has them.
    let mut off_hour = infer.clone();
    off_hour["inputs"][0]["data"] = json!([start_s + 60]);
    let mut short = infer.clone();
    short["inputs"][1]["data"] = json!(v1["rt"].as_array().unwrap()[..3]);
    short["inputs"][1]["shape"] = json!([3]);
    for (bad, named) in [(off_hour, "inputs[start_unix_s]"), (short, "inputs[rt]")] {
        let (status, _, bad_body) =
            call(&router, "POST", "/v2/models/price-HB_WEST/infer", Some(READ_KEY), Some(&bad.to_string())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad_body}");
        assert_eq!(field(&bad_body), named, "{bad_body}");
    }
    assert_eq!(body["model_version"], version.as_str());
    let outs = body["outputs"].as_array().unwrap();
    assert_eq!(outs.len(), 2);
    let p50 = outs.iter().find(|o| o["name"] == "p50").unwrap();
    assert_eq!(p50["shape"], json!([24]));
    for (i, v) in p50["data"].as_array().unwrap().iter().enumerate() {
        assert_eq!(v.as_f64(), v1_body["horizons"][i]["p50"].as_f64());
    }
    let (status, _, body) = call(
        &router,
        "POST",
        &format!("/v2/models/price-HB_WEST/versions/{version}/infer"),
        Some(READ_KEY),
        Some(&infer.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Tensor errors name the tensor.
    let mut bad = infer.clone();
    bad["inputs"][1]["shape"] = json!([199]);
    let (status, _, body) =
        call(&router, "POST", "/v2/models/price-HB_WEST/infer", Some(READ_KEY), Some(&bad.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&body), "inputs[1].shape", "{body}");
    let mut bad = infer.clone();
    bad["inputs"][2]["name"] = json!("dam");
    let (status, _, body) =
        call(&router, "POST", "/v2/models/price-HB_WEST/infer", Some(READ_KEY), Some(&bad.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&body), "inputs[2].name", "{body}");
    let mut bad = infer.clone();
    bad["outputs"] = json!([{"name": "p99"}]);
    let (status, _, body) =
        call(&router, "POST", "/v2/models/price-HB_WEST/infer", Some(READ_KEY), Some(&bad.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&body), "outputs[0].name", "{body}");
    let mut bad = infer.clone();
    bad["inputs"][0]["data"] = json!([1.5]);
    let (status, _, body) =
        call(&router, "POST", "/v2/models/price-HB_WEST/infer", Some(READ_KEY), Some(&bad.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&body), "inputs[0].data[0]", "{body}");
    let mut bad = infer.clone();
    bad["inputs"].as_array_mut().unwrap().remove(2);
    let (status, _, body) =
        call(&router, "POST", "/v2/models/price-HB_WEST/infer", Some(READ_KEY), Some(&bad.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"].as_str().unwrap().contains("`da` is missing"), "{body}");

    // Classifier: columns in, a class column and a probability matrix per task out.
    let infer = json!({"inputs": [
        {"name": "cpu_milli", "shape": [2], "datatype": "INT64", "data": [8000, 4000]},
        {"name": "memory_mib", "shape": [2], "datatype": "INT64", "data": [32768, 8192]},
        {"name": "num_gpu", "shape": [2], "datatype": "INT64", "data": [1, 1]},
        {"name": "gpu_milli", "shape": [2], "datatype": "INT64", "data": [1000, 500]},
        {"name": "creation_time_s", "shape": [2], "datatype": "INT64", "data": [0, 7200]},
        {"name": "gpu_spec", "shape": [2], "datatype": "BYTES", "data": ["", "V100M32"]}
    ]});
    let (status, _, body) =
        call(&router, "POST", "/v2/models/classifier/infer", Some(READ_KEY), Some(&infer.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outputs"][0], json!({"name": "ls_be", "shape": [2], "datatype": "BYTES", "data": ["LS", "BE"]}));
    assert_eq!(body["outputs"][3]["shape"], json!([2, 4]));
    let mut bad = infer.clone();
    bad["inputs"][5]["data"] = json!([1, 2]);
    let (status, _, body) =
        call(&router, "POST", "/v2/models/classifier/infer", Some(READ_KEY), Some(&bad.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&body), "inputs[5].data", "{body}");
    let mut bad = infer.clone();
    bad["inputs"][0]["data"] = json!(["8000", "4000"]);
    let (status, _, body) =
        call(&router, "POST", "/v2/models/classifier/infer", Some(READ_KEY), Some(&bad.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&body), "inputs[0].data", "{body}");
    // Demand.
    let infer =
        json!({"inputs": [{"name": "history", "shape": [336], "datatype": "FP64", "data": demand_series(336)}]});
    let (status, _, body) =
        call(&router, "POST", "/v2/models/demand-gpus_held/infer", Some(READ_KEY), Some(&infer.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outputs"][0]["shape"], json!([168]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_and_metrics_report_models_routes_and_statuses() {
    let dir = models_dir();
    let router = hcp_serving::router(app(dir.path()));
    let (status, _, info) = call(&router, "GET", "/info", Some(READ_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = info["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["classifier", "demand-gpus_held", "price-HB_WEST"]);
    assert_eq!(info["limits"]["max_jobs"], 1024);
    assert_eq!(info["auth"], json!(["env 1: read", "env 2: operate"]));
    let body = price_request(3, 200).to_string();
    call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&body)).await;
    call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some("{")).await;
    let (_, _, text) = call(&router, "GET", "/metrics", None, None).await;
    let text = text.as_str().unwrap();
    let version = &info["models"][2]["version"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "hcp_serving_request_duration_seconds_count{{route=\"/v1/forecast/price\",method=\"POST\",status=\"200\",model=\"price-HB_WEST\",version=\"{version}\"}} 1"
        )),
        "{text}"
    );
    assert!(
        text.contains("route=\"/v1/forecast/price\",method=\"POST\",status=\"400\",model=\"\",version=\"\"}"),
        "{text}"
    );
    assert!(text.contains("hcp_serving_ready 1"));
    assert!(text.contains("hcp_serving_model_info{model=\"classifier\",kind=\"workload_classifier\""));
    assert!(text.contains("hcp_serving_inference_batch_items_count 1"), "{text}");
    // A made-up method is one bounded label value, not a new series per name.
    call(&router, "BREW", "/v1/forecast/price", Some(READ_KEY), None).await;
    let (_, _, text) = call(&router, "GET", "/metrics", None, None).await;
    let text = text.as_str().unwrap();
    assert!(text.contains("method=\"other\",status=\"405\""), "{text}");
    assert!(!text.contains("BREW"));
    if let Some((ok, out)) = hcp_sim::exporter::promtool_check_metrics(text) {
        assert!(ok, "promtool check metrics: {out}\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_gets_429_with_retry_after_and_a_slow_answer_503() {
    let dir = models_dir();
    let mut cfg = config(dir.path());
    cfg.limits.max_in_flight = 0;
    let router = hcp_serving::router(hcp_serving::App::new(&cfg).unwrap());
    let body = price_request(3, 200).to_string();
    let (status, headers, err) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&body)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "1");
    assert!(err["error"].is_string());
    // Probes are never shed.
    let (status, _, _) = call(&router, "GET", "/v2/health/ready", None, None).await;
    assert_eq!(status, StatusCode::OK);

    // One inference worker, held busy: the request waits behind it past its timeout.
    let mut cfg = config(dir.path());
    cfg.limits.request_timeout_ms = 50;
    cfg.workers = 1;
    let app = hcp_serving::App::new(&cfg).unwrap();
    let router = hcp_serving::router(app.clone());
    let busy = app.clone();
    tokio::spawn(async move { busy.batcher.run(|| std::thread::sleep(std::time::Duration::from_millis(400))).await });
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (status, _, err) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&body)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(err["error"].as_str().unwrap().contains("request timeout"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_swaps_models_whole_and_keeps_the_old_ones_when_a_new_one_fails() {
    let dir = models_dir();
    let app = app(dir.path());
    let router = hcp_serving::router(app.clone());
    let before = app.registry().get("price-HB_WEST").unwrap().version.clone();

    // A model whose weights no longer match its checksum: refused, the old models stay.
    let model_file = dir.path().join("price-HB_WEST").join("model.json");
    let good = std::fs::read(&model_file).unwrap();
    let mut tampered = good.clone();
    let at = tampered.iter().position(|b| b.is_ascii_digit()).unwrap();
    tampered[at] = if tampered[at] == b'9' { b'8' } else { tampered[at] + 1 };
    std::fs::write(&model_file, &tampered).unwrap();
    let (status, _, body) = call(&router, "POST", "/v1/admin/reload", Some(OPERATE_KEY), None).await;
    assert_eq!(status, StatusCode::FAILED_DEPENDENCY, "{body}");
    assert!(body["error"].as_str().unwrap().contains("checksum"), "{body}");
    assert_eq!(app.registry().get("price-HB_WEST").unwrap().version, before);
    let (status, _, _) =
        call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&price_request(3, 200).to_string())).await;
    assert_eq!(status, StatusCode::OK);

    // A model whose checksum matches but whose band crosses: refused at load, by the field.
    std::fs::write(&model_file, &good).unwrap();
    let crossing = dir.path().join("price-LZ_WEST");
    let f = save_price_model(&crossing, "LZ_WEST", 5);
    let resave = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut model = serde_json::to_value(&f).unwrap();
        edit(&mut model);
        hcp_models::artifact::save(
            &crossing,
            hcp_models::forecast::realtime::ARTIFACT_KIND,
            &hcp_models::forecast::realtime::feature_names(),
            &model,
            json!({}),
            json!({}),
        )
        .unwrap();
    };
    resave(&|m| m["band_offsets"][3] = json!([4.0, 0.0, -4.0]));
    let (status, _, body) = call(&router, "POST", "/v1/admin/reload", Some(OPERATE_KEY), None).await;
    assert_eq!(status, StatusCode::FAILED_DEPENDENCY, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("LZ_WEST") && error.contains("band_offsets[3] (horizon 4)"), "{body}");
    assert!(app.registry().get("price-LZ_WEST").is_none());

    // A model that loads but fails its smoke test (an intercept whose forecast overflows): refused.
    resave(&|m| {
        for lasso in m["model"]["models"].as_array_mut().unwrap() {
            lasso["intercept"] = json!(1e300);
        }
    });
    let (status, _, body) = call(&router, "POST", "/v1/admin/reload", Some(OPERATE_KEY), None).await;
    assert_eq!(status, StatusCode::FAILED_DEPENDENCY, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("LZ_WEST") && error.contains("smoke test failed: horizon 1: mean inf"), "{body}");
    assert!(app.registry().get("price-LZ_WEST").is_none());

    // A good new model: swapped in, the others kept. A directory without a manifest (a model
    // still being written) is not served, and is named as skipped.
    save_price_model(&crossing, "LZ_WEST", 5);
    std::fs::create_dir(dir.path().join("price-HB_NORTH.partial")).unwrap();
    let (status, _, body) = call(&router, "POST", "/v1/admin/reload", Some(OPERATE_KEY), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["models"], json!(["classifier", "demand-gpus_held", "price-HB_WEST", "price-LZ_WEST"]));
    assert_eq!(body["skipped"], json!(["price-HB_NORTH.partial"]));
    let (_, _, info) = call(&router, "GET", "/info", Some(READ_KEY), None).await;
    assert_eq!(info["skipped"], json!(["price-HB_NORTH.partial"]));
    let mut lz = price_request(3, 200);
    lz["node"] = json!("LZ_WEST");
    let (status, _, body) = call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&lz.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, text) = call(&router, "GET", "/metrics", None, None).await;
    let text = text.as_str().unwrap();
    assert!(text.contains("hcp_serving_model_reloads_total{result=\"ok\"} 1"), "{text}");
    assert!(text.contains("hcp_serving_model_reloads_total{result=\"failed\"} 3"), "{text}");
}

#[test]
fn the_committed_openapi_document_is_the_servers() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let served = hcp_serving::openapi::document();
    if std::env::var_os("HCP_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &served).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == served,
        "serving/openapi.json differs from what the server serves; rerun with HCP_UPDATE_OPENAPI=1 and review the diff"
    );
    let doc: Value = serde_json::from_str(&served).unwrap();
    for route in [
        "/v1/forecast/price",
        "/v1/forecast/demand",
        "/v1/classify",
        "/v1/schedule/propose",
        "/v2/models/{name}/infer",
        "/info",
    ] {
        assert!(doc["paths"][route].is_object(), "{route} missing from the OpenAPI document");
    }
}

/// A writer into a shared buffer, for reading the log back.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn every_answer_is_one_json_log_line_with_the_callers_trace_id() {
    let dir = models_dir();
    let router = hcp_serving::router(app(dir.path()));
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let body = price_request(3, 200).to_string();
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/forecast/price")
        .header("authorization", format!("Bearer {READ_KEY}"))
        .header("content-type", "application/json")
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = tower::ServiceExt::oneshot(router.clone(), req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    let (status, headers, _) = call(&router, "POST", "/v1/classify", Some(READ_KEY), Some(r#"{"jobs": []}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let made_up = headers["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(made_up.len(), 32);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["fields"]["message"], "answered");
    assert_eq!(lines[0]["fields"]["status"], 200);
    assert_eq!(lines[0]["fields"]["model"], "price-HB_WEST");
    assert!(lines[0]["fields"]["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[0]["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(lines[0]["span"]["route"], "/v1/forecast/price");
    assert_eq!(lines[1]["fields"]["status"], 422);
    assert_eq!(lines[1]["span"]["trace_id"], made_up.as_str());
}
