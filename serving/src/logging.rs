//! Structured logs: one JSON object a line on stderr (`tracing` with its JSON formatter). Every
//! request runs in a span carrying its W3C trace id — taken from the caller's `traceparent`
//! header when it sends a valid one, else made up — and ends with one `answered` event (route,
//! status, model, duration); the trace id goes back in `x-request-id`, so a caller's complaint
//! and the log line meet. The binary installs the JSON formatter (`hcp serve --log-level`).

use axum::http::HeaderMap;
use hcp_scheduler::daemon::new_trace_id;

/// The request's trace context: the trace id and the caller's span id from a valid
/// `traceparent` header (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, neither id all
/// zeros), else a new random trace id and no parent.
pub fn trace_context(headers: &HeaderMap) -> (String, Option<String>) {
    let given = headers.get("traceparent").and_then(|v| v.to_str().ok()).and_then(|v| {
        let parts: Vec<&str> = v.trim().split('-').collect();
        let hex =
            |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
        let ok = parts.len() == 4
            && hex(parts[0], 2)
            && parts[0] != "ff"
            && hex(parts[1], 32)
            && nonzero(parts[1])
            && hex(parts[2], 16)
            && nonzero(parts[2])
            && hex(parts[3], 2);
        ok.then(|| (parts[1].to_string(), Some(parts[2].to_string())))
    });
    given.unwrap_or_else(|| (new_trace_id(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_is_kept_and_anything_else_gets_a_new_id() {
        let mut h = HeaderMap::new();
        h.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
        let given = ("4bf92f3577b34da6a3ce929d0e0e4736".to_string(), Some("00f067aa0ba902b7".to_string()));
        assert_eq!(trace_context(&h), given);
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6-00f067aa0ba902b7-01",
            "garbage",
        ] {
            h.insert("traceparent", bad.parse().unwrap());
            let (id, parent) = trace_context(&h);
            assert_eq!((id.len(), parent), (32, None), "{bad}");
            assert_ne!(id, given.0);
        }
        assert_ne!(trace_context(&HeaderMap::new()).0, trace_context(&HeaderMap::new()).0);
    }
}
