//! The server on a real socket (port 0): plain HTTP/1.1 clients, concurrency past the
//! in-flight limit, and a graceful shutdown that drains.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request on its own connection; the status code and the body.
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, key: Option<&str>, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_concurrency_past_the_limit_every_answer_is_200_or_429() {
    let dir = models_dir();
    let mut cfg = config(dir.path());
    cfg.limits.max_in_flight = 4;
    let app = hcp_serving::App::new(&cfg).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hcp_serving::serve(listener, app, Duration::ZERO, async {
        let _ = stopped.await;
    }));
    let body = Arc::new(price_request(3, 24 * 30).to_string());
    let clients: Vec<_> = (0..64)
        .map(|_| {
            let body = Arc::clone(&body);
            tokio::spawn(async move { http(addr, "POST", "/v1/forecast/price", Some(READ_KEY), &body).await })
        })
        .collect();
    let mut counts = std::collections::BTreeMap::new();
    for c in clients {
        let (status, body) = c.await.unwrap();
        if status == 200 {
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&body).unwrap()["horizons"].as_array().unwrap().len(),
                24
            );
        }
        *counts.entry(status).or_insert(0) += 1;
    }
    assert!(counts.keys().all(|s| *s == 200 || *s == 429), "{counts:?}");
    assert!(counts.get(&200).copied().unwrap_or(0) > 0, "{counts:?}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_turns_ready_off_finishes_in_flight_work_and_returns() {
    let dir = models_dir();
    let mut cfg = config(dir.path());
    cfg.workers = 1;
    let app = hcp_serving::App::new(&cfg).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hcp_serving::serve(listener, Arc::clone(&app), Duration::from_millis(300), async {
        let _ = stopped.await;
    }));
    assert_eq!(http(addr, "GET", "/v2/health/ready", None, "").await.0, 200);
    // A request in flight: the only inference worker is busy for a while, so it waits.
    let busy = Arc::clone(&app);
    tokio::spawn(async move { busy.batcher.run(|| std::thread::sleep(Duration::from_millis(500))).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let body = price_request(3, 200).to_string();
    let in_flight = tokio::spawn(async move { http(addr, "POST", "/v1/forecast/price", Some(READ_KEY), &body).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Draining: not ready, still answering.
    let (status, body) = http(addr, "GET", "/v2/health/ready", None, "").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    let (status, metrics) = http(addr, "GET", "/metrics", None, "").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("hcp_serving_ready 0"));
    // The request in flight is answered in full, then the server stops.
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    server.await.unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
}
