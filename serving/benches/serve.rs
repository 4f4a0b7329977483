//! Speed of `/v1/forecast/price` in process (no sockets): each stage of a request (parse the
//! JSON body, check it, forecast, write the answer) and the whole request through the router,
//! p50/p99 over many requests; then throughput with many requests in flight on a 2-thread
//! runtime; then the same forecast and request served by an `lstm_rt` of the default shape
//! (window 168, one layer of 64; candle). Over TCP with wrk: `scripts/bench_serve.sh`.
//! `cargo bench -p hcp-serving --bench serve`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::*;
use hcp_datasets::time::parse_instant;
use hcp_serving::forecast::{PRICE_FIELDS, PriceForecastRequest, PriceInput, check_price, run_price};

fn percentiles(mut us: Vec<f64>) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    (us[us.len() / 2], us[us.len() * 99 / 100])
}

/// p50/p99 of `n` price requests through the router, one at a time, each answer read back.
fn one_at_a_time(rt: &tokio::runtime::Runtime, router: &axum::Router, body: &str, n: usize) -> (f64, f64) {
    rt.block_on(async {
        let mut us = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let (status, _, _) = call(router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(body)).await;
            assert_eq!(status, 200);
            us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        percentiles(us)
    })
}

fn time_each(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f();
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    percentiles(us)
}

fn main() {
    let dir = models_dir();
    let app = app(dir.path());
    let body = price_request(3, 192).to_string();
    let registry = app.registry();
    let served = registry.price_for("HB_WEST", None).unwrap();
    let model = served.model.price().unwrap();
    println!("request body {} bytes (192 hours of real-time and day-ahead prices)", body.len());

    let parse = || serde_json::from_str::<PriceForecastRequest>(&body).unwrap();
    let req = parse();
    let input = PriceInput {
        start_us: parse_instant(&req.start).unwrap(),
        rt: req.rt.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
        da: req.da.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
        horizons: 24,
    };
    let n = 5_000;
    let (p50, p99) = time_each(n, || {
        black_box(parse());
    });
    println!("parse JSON body      p50 {p50:7.1} µs  p99 {p99:7.1} µs");
    let (p50, p99) = time_each(n, || {
        check_price(black_box(&input), model, &app.limits, PRICE_FIELDS).unwrap();
    });
    println!("check request        p50 {p50:7.1} µs  p99 {p99:7.1} µs");
    let (p50, p99) = time_each(n, || {
        black_box(run_price(model, black_box(&input)).unwrap());
    });
    println!("forecast 24 horizons p50 {p50:7.1} µs  p99 {p99:7.1} µs  (grid with calendar + lear_rt)");

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let router = hcp_serving::router(app.clone());
    let (p50, p99) = one_at_a_time(&rt, &router, &body, n);
    println!("whole request        p50 {p50:7.1} µs  p99 {p99:7.1} µs  (router, one at a time, answer read back)");

    for in_flight in [8usize, 64] {
        let done = rt.block_on(async {
            let until = Instant::now() + Duration::from_secs(3);
            let tasks: Vec<_> = (0..in_flight)
                .map(|_| {
                    let router = router.clone();
                    let body = body.clone();
                    tokio::spawn(async move {
                        let mut k = 0u64;
                        while Instant::now() < until {
                            let (status, _, _) =
                                call(&router, "POST", "/v1/forecast/price", Some(READ_KEY), Some(&body)).await;
                            assert_eq!(status, 200);
                            k += 1;
                        }
                        k
                    })
                })
                .collect();
            let mut total = 0;
            for t in tasks {
                total += t.await.unwrap();
            }
            total
        });
        println!(
            "throughput, {in_flight:3} in flight: {:8.0} forecasts/s (2 runtime threads + 2 inference workers, 3 s)",
            done as f64 / 3.0
        );
    }

    lstm(&rt, n / 5);
}

/// The price forecast and the whole request with an `lstm_rt` (window 168, 64 units) served.
fn lstm(rt: &tokio::runtime::Runtime, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    save_lstm_price_model(&dir.path().join("price-lstm-HB_WEST"), "HB_WEST", 11, 168, 64);
    let app = app(dir.path());
    let registry = app.registry();
    let model = registry.price_for("HB_WEST", None).unwrap().model.price().unwrap().clone();
    let body = price_request(3, 192).to_string();
    let req = serde_json::from_str::<PriceForecastRequest>(&body).unwrap();
    let input = PriceInput {
        start_us: parse_instant(&req.start).unwrap(),
        rt: req.rt.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
        da: req.da.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
        horizons: 24,
    };
    let (p50, p99) = time_each(n, || {
        black_box(run_price(&model, black_box(&input)).unwrap());
    });
    println!("lstm_rt forecast     p50 {p50:7.1} µs  p99 {p99:7.1} µs  (grid + candle forward, 168 steps x 64 units)");
    let router = hcp_serving::router(app.clone());
    let (p50, p99) = one_at_a_time(rt, &router, &body, n);
    println!("lstm_rt request      p50 {p50:7.1} µs  p99 {p99:7.1} µs  (router, one at a time)");
}
