//! `/metrics` in the Prometheus text format: request durations by route, method, status,
//! model and version; requests in flight; inference batch sizes; model reloads; readiness and
//! the loaded models. Label values come from the routes and the loaded models only (bounded).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::registry::Registry;

/// Upper bounds of the request-duration histogram, s.
const DURATION_BUCKETS_S: [f64; 13] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// Upper bounds of the batch-size histogram, items.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

#[derive(Debug, Clone)]
struct Histogram {
    /// Upper bounds of the buckets.
    bounds: &'static [f64],
    /// Observations at or below each bound.
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram { bounds, buckets: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, v: f64) {
        for (b, &le) in self.buckets.iter_mut().zip(self.bounds) {
            if v <= le {
                *b += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (le, n) in self.bounds.iter().zip(&self.buckets) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// The labels of one request series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
    pub model: String,
    pub version: String,
}

/// What the server has done since it started.
#[derive(Debug)]
pub struct Metrics {
    requests: BTreeMap<RequestLabels, Histogram>,
    batches: Histogram,
    reloads: BTreeMap<&'static str, u64>,
    pub in_flight: i64,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: BTreeMap::new(),
            batches: Histogram::new(&BATCH_BUCKETS),
            reloads: BTreeMap::new(),
            in_flight: 0,
        }
    }
}

impl Metrics {
    pub fn request(&mut self, labels: RequestLabels, seconds: f64) {
        self.requests.entry(labels).or_insert_with(|| Histogram::new(&DURATION_BUCKETS_S)).observe(seconds);
    }

    pub fn batch(&mut self, items: usize) {
        self.batches.observe(items as f64);
    }

    pub fn reload(&mut self, ok: bool) {
        *self.reloads.entry(if ok { "ok" } else { "failed" }).or_default() += 1;
    }

    /// The exposition.
    pub fn render(&self, registry: &Registry, ready: bool) -> String {
        let mut out = String::new();
        out.push_str("# HELP hcp_serving_request_duration_seconds Time from request to response, by route, method, status and model.\n");
        out.push_str("# TYPE hcp_serving_request_duration_seconds histogram\n");
        for (l, h) in &self.requests {
            let labels = format!(
                "route=\"{}\",method=\"{}\",status=\"{}\",model=\"{}\",version=\"{}\"",
                escape(&l.route),
                escape(&l.method),
                l.status,
                escape(&l.model),
                escape(&l.version)
            );
            h.write(&mut out, "hcp_serving_request_duration_seconds", &labels);
        }
        out.push_str("# HELP hcp_serving_requests_in_flight Requests being handled now.\n");
        out.push_str("# TYPE hcp_serving_requests_in_flight gauge\n");
        let _ = writeln!(out, "hcp_serving_requests_in_flight {}", self.in_flight);
        out.push_str("# HELP hcp_serving_inference_batch_items Inference items one worker wake-up ran together.\n");
        out.push_str("# TYPE hcp_serving_inference_batch_items histogram\n");
        self.batches.write(&mut out, "hcp_serving_inference_batch_items", "");
        out.push_str(
            "# HELP hcp_serving_model_reloads_total Model reloads, by result (a failed reload keeps the old models).\n",
        );
        out.push_str("# TYPE hcp_serving_model_reloads_total counter\n");
        for result in ["ok", "failed"] {
            let _ = writeln!(
                out,
                "hcp_serving_model_reloads_total{{result=\"{result}\"}} {}",
                self.reloads.get(result).copied().unwrap_or(0)
            );
        }
        out.push_str("# HELP hcp_serving_ready 1 while the server takes requests, 0 while it drains.\n");
        out.push_str("# TYPE hcp_serving_ready gauge\n");
        let _ = writeln!(out, "hcp_serving_ready {}", u8::from(ready));
        out.push_str("# HELP hcp_serving_model_info A loaded model: name, kind and version (sha256 prefix).\n");
        out.push_str("# TYPE hcp_serving_model_info gauge\n");
        for m in &registry.models {
            let _ = writeln!(
                out,
                "hcp_serving_model_info{{model=\"{}\",kind=\"{}\",version=\"{}\"}} 1",
                escape(&m.name),
                m.model.kind(),
                escape(&m.version)
            );
        }
        out.push_str(
            "# HELP hcp_serving_models_loaded_timestamp_seconds When the serving models were loaded, Unix time.\n",
        );
        out.push_str("# TYPE hcp_serving_models_loaded_timestamp_seconds gauge\n");
        let _ = writeln!(out, "hcp_serving_models_loaded_timestamp_seconds {}", registry.loaded_at_unix_s);
        out
    }
}
