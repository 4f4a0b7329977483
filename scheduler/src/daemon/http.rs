//! The daemon's HTTP surface: `/health` (200 while it decides on time, 503 when stale or the
//! site is unreachable) and `/metrics` (Prometheus text format).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::site::RoundCounts;

/// Upper bounds of the decision-duration histogram, s.
const BUCKETS_S: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// What the daemon has done, for `/metrics` and `/health`.
#[derive(Debug)]
pub struct Metrics {
    pub started: Instant,
    /// No decision for this long (wall clock) makes the daemon stale.
    pub stale_after: Duration,
    pub decisions: u64,
    pub decision_buckets: [u64; BUCKETS_S.len()],
    pub decision_seconds_sum: f64,
    pub last_decision: Option<(Instant, f64)>,
    pub last_step: Option<u64>,
    /// Actions journaled and sent, by action.
    pub actions: BTreeMap<String, u64>,
    /// Actions the journal already held (a restart re-deciding a step): not sent again.
    pub duplicates_skipped: u64,
    pub device_commands: RoundCounts,
    pub miner_reads: RoundCounts,
    pub control_errors: u64,
    pub site_reachable: bool,
    /// Per site: (id, last metered draw W, cap W).
    pub sites: Vec<(String, f64, f64)>,
    /// The latest published real-time price per node, USD/MWh.
    pub prices: Vec<(String, f64)>,
}

impl Metrics {
    pub fn new(stale_after: Duration) -> Metrics {
        Metrics {
            started: Instant::now(),
            stale_after,
            decisions: 0,
            decision_buckets: [0; BUCKETS_S.len()],
            decision_seconds_sum: 0.0,
            last_decision: None,
            last_step: None,
            actions: BTreeMap::new(),
            duplicates_skipped: 0,
            device_commands: RoundCounts::default(),
            miner_reads: RoundCounts::default(),
            control_errors: 0,
            site_reachable: false,
            sites: Vec::new(),
            prices: Vec::new(),
        }
    }

    pub fn decided(&mut self, step: u64, seconds: f64) {
        self.decisions += 1;
        self.decision_seconds_sum += seconds;
        for (b, &le) in self.decision_buckets.iter_mut().zip(&BUCKETS_S) {
            if seconds <= le {
                *b += 1;
            }
        }
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        self.last_decision = Some((Instant::now(), unix));
        self.last_step = Some(step);
    }

    /// `None` when healthy, else why not.
    pub fn unhealthy(&self) -> Option<String> {
        if !self.site_reachable {
            return Some("the site's control API does not answer".into());
        }
        let since = self.last_decision.map_or(self.started, |(at, _)| at).elapsed();
        (since > self.stale_after).then(|| format!("no decision for {:.1} s", since.as_secs_f64()))
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        let one = |v: f64| vec![(String::new(), v)];
        let by_result = |c: RoundCounts| {
            vec![("{result=\"ok\"}".to_string(), c.ok as f64), ("{result=\"failed\"}".to_string(), c.failed as f64)]
        };
        metric("hcp_scheduler_decisions_total", "counter", "Steps the daemon decided.", &one(self.decisions as f64));
        metric(
            "hcp_scheduler_last_decision_timestamp_seconds",
            "gauge",
            "Unix time of the last decision (0 before the first).",
            &one(self.last_decision.map_or(0.0, |(_, unix)| unix)),
        );
        metric(
            "hcp_scheduler_plan_step",
            "gauge",
            "Site step of the last plan.",
            &one(self.last_step.map_or(-1.0, |s| s as f64)),
        );
        let actions: Vec<(String, f64)> =
            self.actions.iter().map(|(a, n)| (format!("{{action=\"{a}\"}}"), *n as f64)).collect();
        metric("hcp_scheduler_actions_total", "counter", "Actions journaled and sent, by action.", &actions);
        metric(
            "hcp_scheduler_duplicate_actions_skipped_total",
            "counter",
            "Actions already in the journal (a restart re-deciding a step), not sent again.",
            &one(self.duplicates_skipped as f64),
        );
        metric(
            "hcp_scheduler_device_commands_total",
            "counter",
            "Commands sent to miners, by result.",
            &by_result(self.device_commands),
        );
        metric(
            "hcp_scheduler_miner_reads_total",
            "counter",
            "Miner telemetry reads, by result.",
            &by_result(self.miner_reads),
        );
        metric(
            "hcp_scheduler_control_errors_total",
            "counter",
            "Failed requests to the site's control API.",
            &one(self.control_errors as f64),
        );
        metric(
            "hcp_scheduler_site_reachable",
            "gauge",
            "1 when the site's control API answered the last request.",
            &one(f64::from(u8::from(self.site_reachable))),
        );
        let power: Vec<(String, f64)> = self.sites.iter().map(|(s, w, _)| (format!("{{site=\"{s}\"}}"), *w)).collect();
        metric("hcp_scheduler_site_power_watts", "gauge", "Site draw over the last step, as metered.", &power);
        let cap: Vec<(String, f64)> = self.sites.iter().map(|(s, _, c)| (format!("{{site=\"{s}\"}}"), *c)).collect();
        metric("hcp_scheduler_site_power_cap_watts", "gauge", "Site power cap.", &cap);
        let prices: Vec<(String, f64)> = self.prices.iter().map(|(n, p)| (format!("{{node=\"{n}\"}}"), *p)).collect();
        metric(
            "hcp_scheduler_price_usd_per_mwh",
            "gauge",
            "Latest published real-time price of the node, USD/MWh.",
            &prices,
        );
        let name = "hcp_scheduler_decision_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from reading the site to the last command sent, per step.\n# TYPE {name} histogram"
        );
        for (le, n) in BUCKETS_S.iter().zip(&self.decision_buckets) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.decisions);
        let _ = writeln!(out, "{name}_sum {}", self.decision_seconds_sum);
        let _ = writeln!(out, "{name}_count {}", self.decisions);
        out
    }
}

pub type Shared = Arc<Mutex<Metrics>>;

fn lock(m: &Shared) -> std::sync::MutexGuard<'_, Metrics> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn health(State(m): State<Shared>) -> impl IntoResponse {
    let m = lock(&m);
    let body = serde_json::json!({
        "status": if m.unhealthy().is_none() { "ok" } else { "unhealthy" },
        "reason": m.unhealthy(),
        "decisions": m.decisions,
        "last_step": m.last_step,
        "site_reachable": m.site_reachable,
    });
    let code = if m.unhealthy().is_none() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string())
}

async fn metrics(State(m): State<Shared>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], lock(&m).render())
}

pub fn router(m: Shared) -> Router {
    Router::new().route("/health", get(health)).route("/metrics", get(metrics)).with_state(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_counts_every_decision() {
        let mut m = Metrics::new(Duration::from_secs(60));
        for s in [0.003, 0.02, 0.3, 7.0] {
            m.decided(1, s);
        }
        let text = m.render();
        assert!(text.contains("hcp_scheduler_decision_duration_seconds_bucket{le=\"0.005\"} 1\n"), "{text}");
        assert!(text.contains("hcp_scheduler_decision_duration_seconds_bucket{le=\"0.5\"} 3\n"), "{text}");
        assert!(text.contains("hcp_scheduler_decision_duration_seconds_bucket{le=\"+Inf\"} 4\n"), "{text}");
        assert!(text.contains("hcp_scheduler_decisions_total 4\n"), "{text}");
    }

    #[test]
    fn health_needs_the_site_and_a_recent_decision() {
        let mut m = Metrics::new(Duration::from_millis(0));
        assert!(m.unhealthy().unwrap().contains("control API"));
        m.site_reachable = true;
        std::thread::sleep(Duration::from_millis(2));
        assert!(m.unhealthy().unwrap().contains("no decision"));
        m.stale_after = Duration::from_secs(3600);
        m.decided(0, 0.01);
        assert_eq!(m.unhealthy(), None);
    }
}
