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

use super::forecast_error::ErrorTotals;
use super::site::RoundCounts;
use crate::engine::EngineCounters;

/// Upper bounds of the decision-duration histogram, s.
const DECISION_BUCKETS_S: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// Upper bounds of the setting-applied histogram, site seconds (whole 5-minute steps).
const APPLIED_BUCKETS_S: &[f64] = &[300.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0];

/// A Prometheus histogram: counts at or under each upper bound (cumulative), sum and count.
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram { bounds, buckets: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    pub fn observe(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        for (b, &le) in self.buckets.iter_mut().zip(self.bounds) {
            if v <= le {
                *b += 1;
            }
        }
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (le, n) in self.bounds.iter().zip(&self.buckets) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

/// What a site earns and pays per hour at the last step's rates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteMoney {
    pub site: String,
    /// Hashrate × hashprice.
    pub mining_usd_per_hour: f64,
    /// GPU-equivalents of the running jobs × their value per GPU-hour.
    pub gpu_usd_per_hour: f64,
    /// Metered draw × the node's latest published price (`None` before one is published).
    pub energy_usd_per_hour: Option<f64>,
}

/// The economics of the last step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Money {
    /// USD per TH/s per day.
    pub hashprice: f64,
    pub sites: Vec<SiteMoney>,
    /// Per ASIC group hashing: the electricity price at which its mining breaks even, USD/MWh.
    pub breakeven: Vec<(String, f64)>,
}

/// What the daemon has done, for `/metrics` and `/health`.
#[derive(Debug)]
pub struct Metrics {
    pub started: Instant,
    /// No decision for this long (wall clock) makes the daemon stale.
    pub stale_after: Duration,
    /// Each step's time from reading the site to the last command sent, s.
    pub decisions: Histogram,
    /// Group settings the miners' readings showed, by how long after their first send.
    pub applied: Histogram,
    /// The switching engine's counts (resends, give-ups, settings replaced before they showed).
    pub engine: EngineCounters,
    /// Site seconds since the oldest setting not yet shown was first sent (0: none).
    pub oldest_pending_s: f64,
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
    /// Revenue, energy cost and breakeven prices as of the last step.
    pub money: Money,
    /// The forecast of the current hour's real-time price (issued at its start), by node.
    pub forecast_this_hour: Vec<(String, f64)>,
    /// The live error of the daemon's price forecasts, by node.
    pub forecast_errors: BTreeMap<String, ErrorTotals>,
    /// The price models' holdout MAE, USD/MWh, by node.
    pub validation_mae: BTreeMap<String, f64>,
}

impl Metrics {
    pub fn new(stale_after: Duration) -> Metrics {
        Metrics {
            started: Instant::now(),
            stale_after,
            decisions: Histogram::new(DECISION_BUCKETS_S),
            applied: Histogram::new(APPLIED_BUCKETS_S),
            engine: EngineCounters::default(),
            oldest_pending_s: 0.0,
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
            money: Money::default(),
            forecast_this_hour: Vec::new(),
            forecast_errors: BTreeMap::new(),
            validation_mae: BTreeMap::new(),
        }
    }

    pub fn decided(&mut self, step: u64, seconds: f64) {
        self.decisions.observe(seconds);
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        self.last_decision = Some((Instant::now(), unix));
        self.last_step = Some(step);
    }

    /// Settings the miners' readings newly showed, seconds after their first send.
    pub fn settings_applied(&mut self, seconds: &[f64]) {
        for &t in seconds {
            self.applied.observe(t);
        }
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
        metric(
            "hcp_scheduler_decisions_total",
            "counter",
            "Steps the daemon decided.",
            &one(self.decisions.count as f64),
        );
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
            "hcp_scheduler_engine_retries_total",
            "counter",
            "Group settings resent because the miners' readings did not show them.",
            &one(self.engine.retries as f64),
        );
        metric(
            "hcp_scheduler_engine_given_up_total",
            "counter",
            "Group settings given up on after the last resend.",
            &one(self.engine.given_up as f64),
        );
        metric(
            "hcp_scheduler_settings_superseded_total",
            "counter",
            "Group settings replaced by a newer one before the miners' readings showed them.",
            &one(self.engine.superseded as f64),
        );
        metric(
            "hcp_scheduler_setting_oldest_pending_seconds",
            "gauge",
            "Site time since the oldest group setting not yet shown by the miners' readings was first sent (0: none).",
            &one(self.oldest_pending_s),
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
        let power = labelled("site", self.sites.iter().map(|(s, w, _)| (s, *w)));
        metric("hcp_scheduler_site_power_watts", "gauge", "Site draw over the last step, as metered.", &power);
        let cap = labelled("site", self.sites.iter().map(|(s, _, c)| (s, *c)));
        metric("hcp_scheduler_site_power_cap_watts", "gauge", "Site power cap.", &cap);
        let prices = labelled("node", self.prices.iter().map(|(n, p)| (n, *p)));
        metric(
            "hcp_scheduler_price_usd_per_mwh",
            "gauge",
            "Latest published real-time price of the node, USD/MWh.",
            &prices,
        );
        let mut revenue = Vec::new();
        for m in &self.money.sites {
            revenue.push((format!("{{site=\"{}\",source=\"mining\"}}", m.site), m.mining_usd_per_hour));
            revenue.push((format!("{{site=\"{}\",source=\"gpu\"}}", m.site), m.gpu_usd_per_hour));
        }
        metric(
            "hcp_scheduler_revenue_usd_per_hour",
            "gauge",
            "Revenue rate at the last step, by source: mining (hashrate × hashprice), GPU (running jobs' value).",
            &revenue,
        );
        let cost = labelled("site", self.money.sites.iter().filter_map(|m| Some((&m.site, m.energy_usd_per_hour?))));
        metric(
            "hcp_scheduler_energy_cost_usd_per_hour",
            "gauge",
            "Energy cost rate at the last step: metered draw × the node's latest published price.",
            &cost,
        );
        let hashprice = if self.money.sites.is_empty() { Vec::new() } else { one(self.money.hashprice) };
        metric(
            "hcp_scheduler_hashprice_usd_per_th_day",
            "gauge",
            "Hashprice of the day, USD per TH/s per day.",
            &hashprice,
        );
        let breakeven = labelled("group", self.money.breakeven.iter().map(|(g, p)| (g, *p)));
        metric(
            "hcp_scheduler_breakeven_price_usd_per_mwh",
            "gauge",
            "Electricity price at which an ASIC group's mining breaks even at its measured J/TH, USD/MWh.",
            &breakeven,
        );
        let forecast = labelled("node", self.forecast_this_hour.iter().map(|(n, p)| (n, *p)));
        metric(
            "hcp_scheduler_price_forecast_usd_per_mwh",
            "gauge",
            "hcp's forecast of the current hour's real-time price, issued at the hour's start, USD/MWh.",
            &forecast,
        );
        let validation = labelled("node", self.validation_mae.iter().map(|(n, v)| (n, *v)));
        metric(
            "hcp_scheduler_forecast_validation_mae_usd_per_mwh",
            "gauge",
            "Holdout MAE of the node's price model (its manifest), USD/MWh.",
            &validation,
        );
        let unscored = labelled("node", self.forecast_errors.iter().map(|(n, e)| (n, e.unscored as f64)));
        metric(
            "hcp_scheduler_forecasts_unscored_total",
            "counter",
            "Hourly price forecasts whose hour was never priced (not scored).",
            &unscored,
        );
        let name = "hcp_scheduler_forecast_abs_error_usd_per_mwh";
        let _ = writeln!(
            out,
            "# HELP {name} Absolute error of the daemon's hourly price forecasts (mean, every horizon), scored when the hour's real-time price is published.\n# TYPE {name} summary"
        );
        for (node, e) in &self.forecast_errors {
            let _ = writeln!(out, "{name}_sum{{node=\"{node}\"}} {}", e.abs_error_sum);
            let _ = writeln!(out, "{name}_count{{node=\"{node}\"}} {}", e.scored);
        }
        self.decisions.render(
            &mut out,
            "hcp_scheduler_decision_duration_seconds",
            "Time from reading the site to the last command sent, per step.",
        );
        self.applied.render(
            &mut out,
            "hcp_scheduler_setting_applied_seconds",
            "Site time from a group setting's first send to the miners' readings showing it.",
        );
        out
    }
}

/// Samples with one label each: `{key="value"}`.
fn labelled<'a>(key: &str, samples: impl Iterator<Item = (&'a String, f64)>) -> Vec<(String, f64)> {
    samples.map(|(value, v)| (format!("{{{key}=\"{value}\"}}"), v)).collect()
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
        "decisions": m.decisions.count,
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
    fn settings_shown_are_a_cumulative_histogram_in_site_seconds() {
        let mut m = Metrics::new(Duration::from_secs(60));
        m.settings_applied(&[300.0, 300.0]);
        m.settings_applied(&[900.0, 4200.0]);
        m.oldest_pending_s = 600.0;
        let text = m.render();
        for line in [
            "hcp_scheduler_setting_applied_seconds_bucket{le=\"300\"} 2\n",
            "hcp_scheduler_setting_applied_seconds_bucket{le=\"600\"} 2\n",
            "hcp_scheduler_setting_applied_seconds_bucket{le=\"900\"} 3\n",
            "hcp_scheduler_setting_applied_seconds_bucket{le=\"3600\"} 3\n",
            "hcp_scheduler_setting_applied_seconds_bucket{le=\"+Inf\"} 4\n",
            "hcp_scheduler_setting_applied_seconds_sum 5700\n",
            "hcp_scheduler_setting_applied_seconds_count 4\n",
            "hcp_scheduler_setting_oldest_pending_seconds 600\n",
        ] {
            assert!(text.contains(line), "{line}{text}");
        }
    }

    #[test]
    fn forecast_errors_are_a_summary_per_node_beside_the_validation_mae() {
        let mut m = Metrics::new(Duration::from_secs(60));
        m.validation_mae.insert("HB_WEST".into(), 12.5);
        m.forecast_errors.insert("HB_WEST".into(), ErrorTotals { abs_error_sum: 130.0, scored: 10, unscored: 2 });
        let text = m.render();
        for line in [
            "# TYPE hcp_scheduler_forecast_abs_error_usd_per_mwh summary\n",
            "hcp_scheduler_forecast_abs_error_usd_per_mwh_sum{node=\"HB_WEST\"} 130\n",
            "hcp_scheduler_forecast_abs_error_usd_per_mwh_count{node=\"HB_WEST\"} 10\n",
            "hcp_scheduler_forecasts_unscored_total{node=\"HB_WEST\"} 2\n",
            "hcp_scheduler_forecast_validation_mae_usd_per_mwh{node=\"HB_WEST\"} 12.5\n",
        ] {
            assert!(text.contains(line), "{line}{text}");
        }
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
