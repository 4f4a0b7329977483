//! The ASIC Prometheus exporter: on every scrape of `/metrics` it asks each miner, over the
//! miner TCP API (LuxOS/CGMiner dialect, the simulator's or a real one), for its summary, power,
//! temperatures, fans, configuration and model, and renders the Prometheus text format with
//! base units (hashes per second, watts, degrees Celsius) and `_total` counters.
//!
//! The HTTP side is a small HTTP/1.1 server on std: `GET /metrics` (and `/` with a link),
//! 404 for other paths, 405 for other methods; one short thread per connection.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::miner_api::send;

/// What the exporter scrapes.
#[derive(Debug, Clone)]
pub struct AsicExporterConfig {
    pub miners: Vec<SocketAddr>,
    /// Per request to a miner.
    pub timeout: Duration,
}

/// One metric family: name, help, type and its samples (labels, value).
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: Vec<(String, f64)>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Family {
        Family { name, help, kind, samples: Vec::new() }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn f64_at(v: &Value, section: &str, field: &str) -> Option<f64> {
    v.get(section)?.get(0)?.get(field)?.as_f64()
}

/// Queries every miner and renders the exposition text.
pub fn scrape(cfg: &AsicExporterConfig) -> String {
    let started = Instant::now();
    let mut up = Family::new("hcp_asic_up", "gauge", "1 when the miner answered every API command of this scrape.");
    let mut hashrate =
        Family::new("hcp_asic_hashrate_hashes_per_second", "gauge", "Hashrate over the miner's last 5 seconds.");
    let mut power = Family::new("hcp_asic_power_watts", "gauge", "Power drawn by the miner as it reports it.");
    let mut chip = Family::new("hcp_asic_chip_temperature_celsius", "gauge", "Mean chip temperature.");
    let mut board = Family::new("hcp_asic_board_temperature_celsius", "gauge", "Board (PCB) temperature.");
    let mut fans = Family::new("hcp_asic_fan_rpm", "gauge", "Fan speed, revolutions per minute, per fan.");
    let mut accepted = Family::new("hcp_asic_shares_accepted_total", "counter", "Shares the pool accepted.");
    let mut rejected = Family::new("hcp_asic_shares_rejected_total", "counter", "Shares the pool rejected.");
    let mut uptime = Family::new("hcp_asic_uptime_seconds", "gauge", "Seconds since the mining software started.");
    let mut state = Family::new(
        "hcp_asic_state",
        "gauge",
        "1 for the miner's current state (mining, sleeping, waking), 0 for the others.",
    );
    for addr in &cfg.miners {
        let ask = |command: &str| send(*addr, command, None, cfg.timeout).ok();
        let (details, summary, pw, temps, fan, config) =
            (ask("devdetails"), ask("summary"), ask("power"), ask("temps"), ask("fans"), ask("config"));
        let model = details
            .as_ref()
            .and_then(|d| d.get("DEVDETAILS")?.get(0)?.get("Model")?.as_str().map(str::to_string))
            .unwrap_or_default();
        let labels = format!("miner=\"{}\",model=\"{}\"", escape(&addr.to_string()), escape(&model));
        let all = [&details, &summary, &pw, &temps, &fan, &config].iter().all(|r| r.is_some());
        up.samples.push((format!("miner=\"{}\"", escape(&addr.to_string())), if all { 1.0 } else { 0.0 }));
        if let Some(s) = &summary {
            if let Some(ghs) = f64_at(s, "SUMMARY", "GHS 5s") {
                hashrate.samples.push((labels.clone(), ghs * 1e9));
            }
            if let Some(a) = f64_at(s, "SUMMARY", "Accepted") {
                accepted.samples.push((labels.clone(), a));
            }
            if let Some(r) = f64_at(s, "SUMMARY", "Rejected") {
                rejected.samples.push((labels.clone(), r));
            }
            if let Some(e) = f64_at(s, "SUMMARY", "Elapsed") {
                uptime.samples.push((labels.clone(), e));
            }
        }
        if let Some(w) = pw.as_ref().and_then(|p| f64_at(p, "POWER", "Watts")) {
            power.samples.push((labels.clone(), w));
        }
        if let Some(t) = &temps {
            if let Some(c) = f64_at(t, "TEMPS", "Chip") {
                chip.samples.push((labels.clone(), c));
            }
            if let Some(b) = f64_at(t, "TEMPS", "Board") {
                board.samples.push((labels.clone(), b));
            }
        }
        if let Some(list) = fan.as_ref().and_then(|f| f.get("FANS")?.as_array().cloned()) {
            for f in list {
                if let (Some(id), Some(rpm)) =
                    (f.get("ID").and_then(Value::as_i64), f.get("RPM").and_then(Value::as_f64))
                {
                    fans.samples.push((format!("{labels},fan=\"{id}\""), rpm));
                }
            }
        }
        if let Some(mode) =
            config.as_ref().and_then(|c| c.get("CONFIG")?.get(0)?.get("CurtailMode")?.as_str().map(str::to_string))
        {
            let current = match mode.as_str() {
                "Sleep" => "sleeping",
                "WakingUp" => "waking",
                _ => "mining",
            };
            for s in ["mining", "sleeping", "waking"] {
                state.samples.push((format!("{labels},state=\"{s}\""), if s == current { 1.0 } else { 0.0 }));
            }
        }
    }
    let mut duration =
        Family::new("hcp_asic_exporter_scrape_duration_seconds", "gauge", "Time this scrape took, all miners.");
    duration.samples.push((String::new(), started.elapsed().as_secs_f64()));
    let mut out = String::new();
    for f in [up, hashrate, power, chip, board, fans, accepted, rejected, uptime, state, duration] {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for (labels, value) in f.samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{} {value}", f.name);
            } else {
                let _ = writeln!(out, "{}{{{labels}}} {value}", f.name);
            }
        }
    }
    out
}

/// The exporter's HTTP server; stops when dropped.
#[derive(Debug)]
pub struct ExporterServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ExporterServer {
    /// Binds `addr` (port 0 for any) and serves scrapes of `cfg` until dropped.
    pub fn spawn(addr: SocketAddr, cfg: AsicExporterConfig) -> std::io::Result<ExporterServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let cfg = Arc::new(cfg);
        let thread = std::thread::Builder::new().name(format!("exporter-{addr}")).spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(stream) = conn {
                    let cfg = cfg.clone();
                    let _ = std::thread::Builder::new().spawn(move || handle(stream, &cfg));
                }
            }
        })?;
        Ok(ExporterServer { addr, stop, thread: Some(thread) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ExporterServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn handle(stream: TcpStream, cfg: &AsicExporterConfig) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Drain the headers; a scrape has no body.
    let mut line = String::new();
    while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", scrape(cfg)),
        ("GET", "/") => ("200 OK", "text/html", "<a href=\"/metrics\">metrics</a>\n".to_string()),
        ("GET", _) => ("404 Not Found", "text/plain", "not found: the exporter serves /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".to_string()),
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asic::{AsicCatalog, AsicPhysics};
    use crate::miner_api::{MinerServer, SimMiner};
    use std::io::Read;

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn scrapes_simulated_miners_and_marks_a_dead_one_down() {
        let model = AsicCatalog::builtin().get("Antminer S19j Pro").unwrap().clone();
        let miner =
            MinerServer::spawn("127.0.0.1:0".parse().unwrap(), SimMiner::new(model, AsicPhysics::default(), 0, 1))
                .unwrap();
        // A port nobody listens on.
        let dead = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let cfg = AsicExporterConfig { miners: vec![miner.local_addr(), dead], timeout: Duration::from_millis(500) };
        let server = ExporterServer::spawn("127.0.0.1:0".parse().unwrap(), cfg).unwrap();
        let reply = get(server.local_addr(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        assert!(reply.contains("text/plain; version=0.0.4"));
        let m = miner.local_addr();
        assert!(reply.contains(&format!("hcp_asic_up{{miner=\"{m}\"}} 1")), "{reply}");
        assert!(reply.contains(&format!("hcp_asic_up{{miner=\"{dead}\"}} 0")), "{reply}");
        let labels = format!("miner=\"{m}\",model=\"Antminer S19j Pro\"");
        let value = |name: &str| -> f64 {
            let prefix = format!("{name}{{{labels}}} ");
            let line =
                reply.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{prefix} missing:\n{reply}"));
            line[prefix.len()..].parse().unwrap()
        };
        // A running S19j Pro: ~100 TH/s at ~3 kW (stock point of the built-in catalog).
        let h = value("hcp_asic_hashrate_hashes_per_second");
        assert!((80e12..120e12).contains(&h), "{h}");
        let w = value("hcp_asic_power_watts");
        assert!((2_500.0..3_500.0).contains(&w), "{w}");
        assert!(reply.contains(&format!("hcp_asic_state{{{labels},state=\"mining\"}} 1")));
        assert!(reply.contains("# TYPE hcp_asic_shares_accepted_total counter"));
        // Every sample line belongs to a family announced by # TYPE.
        for l in reply.lines().skip_while(|l| !l.is_empty()).skip(1).filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let name = l.split(['{', ' ']).next().unwrap();
            assert!(reply.contains(&format!("# TYPE {name} ")), "{name}");
        }

        assert!(get(server.local_addr(), "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get(server.local_addr(), "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    }

    /// `promtool check metrics` (Prometheus's own linter: names, units, `_total` counters, help
    /// text) accepts the exporter's output. CI installs Debian's prometheus package and sets
    /// HCP_REQUIRE_PROMTOOL so this cannot skip there.
    #[test]
    fn promtool_accepts_the_exposition() {
        let promtool = std::env::var("HCP_PROMTOOL").unwrap_or_else(|_| "promtool".into());
        let Ok(mut child) = std::process::Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
        else {
            assert!(
                std::env::var_os("HCP_REQUIRE_PROMTOOL").is_none(),
                "HCP_REQUIRE_PROMTOOL is set but `{promtool}` does not run"
            );
            eprintln!("SKIPPED promtool_accepts_the_exposition: `{promtool}` not found");
            return;
        };
        let model = AsicCatalog::builtin().get("Antminer S19j Pro").unwrap().clone();
        let miner =
            MinerServer::spawn("127.0.0.1:0".parse().unwrap(), SimMiner::new(model, AsicPhysics::default(), 0, 1))
                .unwrap();
        let text = scrape(&AsicExporterConfig { miners: vec![miner.local_addr()], timeout: Duration::from_secs(2) });
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && said.trim().is_empty(), "promtool: {said}\n{text}");
    }
}
