//! Structured logs: one JSON object a line on stderr (`tracing` with its JSON formatter). Every
//! request runs in a span carrying its W3C trace id — taken from the caller's `traceparent`
//! header when it sends a valid one, else made up — and ends with one `answered` event (route,
//! status, model, duration); the trace id goes back in `x-request-id`, so a caller's complaint
//! and the log line meet.

use axum::http::HeaderMap;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

/// Installs the JSON subscriber for the process (`level`: error, warn, info, debug or trace).
/// Returns an error naming the level when it is not one of those.
pub fn init_json(level: &str) -> Result<(), String> {
    let level: tracing::Level =
        level.parse().map_err(|_| format!("log level `{level}`: one of error, warn, info, debug, trace"))?;
    tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| format!("logging: {e}"))
}

/// The request's trace id: the one in a valid `traceparent` header
/// (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, not all zeros), else a new random one.
pub fn trace_id(headers: &HeaderMap) -> String {
    let given = headers.get("traceparent").and_then(|v| v.to_str().ok()).and_then(|v| {
        let parts: Vec<&str> = v.trim().split('-').collect();
        let hex =
            |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        let ok = parts.len() == 4
            && hex(parts[0], 2)
            && parts[0] != "ff"
            && hex(parts[1], 32)
            && parts[1].bytes().any(|b| b != b'0')
            && hex(parts[2], 16)
            && hex(parts[3], 2);
        ok.then(|| parts[1].to_string())
    });
    given.unwrap_or_else(new_trace_id)
}

/// A new trace id: unique (a hash of the time, the process and a counter), not secret.
fn new_trace_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut h = Sha256::new();
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_is_kept_and_anything_else_gets_a_new_id() {
        let mut h = HeaderMap::new();
        h.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
        assert_eq!(trace_id(&h), "4bf92f3577b34da6a3ce929d0e0e4736");
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6-00f067aa0ba902b7-01",
            "garbage",
        ] {
            h.insert("traceparent", bad.parse().unwrap());
            let id = trace_id(&h);
            assert_eq!(id.len(), 32, "{bad}");
            assert_ne!(id, "4bf92f3577b34da6a3ce929d0e0e4736");
        }
        assert_ne!(trace_id(&HeaderMap::new()), trace_id(&HeaderMap::new()));
    }
}
