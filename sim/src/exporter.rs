//! Prometheus exporters of the fleet's devices.
//!
//! - ASIC: on every scrape of `/metrics` it asks each miner, over the miner TCP API
//!   (LuxOS/CGMiner dialect, the simulator's or a real one), for its summary, power,
//!   temperatures, fans, configuration and model, and renders the Prometheus text format with
//!   base units (hashes per second, watts, degrees Celsius) and `_total` counters.
//! - GPU: a simulated fleet steps in (accelerated) wall-clock time and every GPU of it is
//!   served under NVIDIA dcgm-exporter's names, units and labels, so stock dashboards work.
//!
//! The HTTP side is a small HTTP/1.1 server on std: `GET /metrics` (and `/` with a link),
//! 404 for other paths, 405 for other methods; one short thread per connection.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fleet::FleetConfig;
use crate::gpu::GpuReading;
use crate::miner_api::send;
use crate::world::World;

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

/// What renders the exposition text of one scrape.
type Render = Arc<dyn Fn() -> String + Send + Sync>;

impl ExporterServer {
    /// Binds `addr` (port 0 for any) and serves scrapes of `cfg` until dropped.
    pub fn spawn(addr: SocketAddr, cfg: AsicExporterConfig) -> std::io::Result<ExporterServer> {
        Self::serve(addr, Arc::new(move || scrape(&cfg)))
    }

    /// Binds `addr` and serves whatever `render` returns on every scrape.
    pub fn serve(addr: SocketAddr, render: Render) -> std::io::Result<ExporterServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new().name(format!("exporter-{addr}")).spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(stream) = conn {
                    let render = render.clone();
                    let _ = std::thread::Builder::new().spawn(move || handle(stream, &*render));
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

fn handle(stream: TcpStream, render: &(dyn Fn() -> String + Send + Sync)) {
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
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", render()),
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

/// One GPU of the simulated fleet with dcgm-exporter's labels.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledGpu {
    /// Index of the GPU on its host.
    pub gpu: u32,
    pub uuid: String,
    pub model_name: String,
    pub hostname: String,
    pub reading: GpuReading,
}

/// The fleet's GPUs after the latest simulated step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuSnapshot {
    /// Simulated time of the step, UTC µs (0 before the first).
    pub time_us: i64,
    pub gpus: Vec<LabelledGpu>,
}

/// A deterministic NVIDIA-style UUID for GPU `index` of pool `pool` (SplitMix64 of both).
fn gpu_uuid(pool: &str, index: usize) -> String {
    let mut x = pool.bytes().fold(0x9e37_79b9_7f4a_7c15u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let mut next = || {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15 ^ index as u64);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let (a, b) = (next(), next());
    format!(
        "GPU-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// Every GPU of the world's sites (or of one site), labelled.
pub fn gpu_snapshot(world: &World, site: Option<&str>) -> GpuSnapshot {
    let mut gpus = Vec::new();
    for s in world.sites.iter().filter(|s| site.is_none_or(|id| id == s.id)) {
        let ambient = s.ambient_c(world.now_us);
        for pool in &s.pools {
            for (i, reading) in pool.readings(ambient).into_iter().enumerate() {
                let per = pool.gpus_per_node.max(1) as usize;
                gpus.push(LabelledGpu {
                    gpu: (i % per) as u32,
                    uuid: gpu_uuid(&format!("{}/{}", s.id, pool.id), i),
                    model_name: format!("NVIDIA {}", pool.model.name),
                    hostname: format!("{}-{:03}", pool.id, i / per),
                    reading,
                });
            }
        }
    }
    GpuSnapshot { time_us: world.now_us, gpus }
}

/// The snapshot in dcgm-exporter's format: its metric names, units (MHz, °C, W, mJ, %, MiB)
/// and labels (`gpu`, `UUID`, `device`, `modelName`, `Hostname`).
pub fn render_dcgm(snapshot: &GpuSnapshot) -> String {
    type Field = fn(&GpuReading) -> f64;
    let fields: [(&str, &str, &str, Field); 8] = [
        ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", |r| r.sm_clock_mhz),
        ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", |r| r.temperature_c),
        ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", |r| r.power_w),
        ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ).", |r| {
            (r.energy_j * 1000.0).round()
        }),
        ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", |r| (r.utilization * 100.0).round()),
        ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).", |r| r.fb_free_mib),
        ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", |r| r.fb_used_mib),
        ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered.", |r| f64::from(r.last_xid)),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in fields {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for g in &snapshot.gpus {
            let _ = writeln!(
                out,
                "{name}{{gpu=\"{}\",UUID=\"{}\",device=\"nvidia{}\",modelName=\"{}\",Hostname=\"{}\"}} {}",
                g.gpu,
                g.uuid,
                g.gpu,
                escape(&g.model_name),
                escape(&g.hostname),
                value(&g.reading)
            );
        }
    }
    out
}

/// What the GPU exporter simulates.
#[derive(Debug, Clone)]
pub struct GpuExporterConfig {
    pub fleet: FleetConfig,
    /// Only this site's GPUs (all sites' when `None`).
    pub site: Option<String>,
    pub days: u32,
    pub seed: u64,
    /// Simulated seconds per wall-clock second.
    pub speed: f64,
}

/// A simulated fleet stepping in the background (one step per `step_s / speed` wall seconds)
/// and the latest snapshot of its GPUs; stops when dropped or at the end of its days.
#[derive(Debug)]
pub struct GpuFleetSim {
    pub snapshot: Arc<Mutex<GpuSnapshot>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl GpuFleetSim {
    pub fn start(cfg: GpuExporterConfig) -> crate::error::Result<GpuFleetSim> {
        if let Some(site) = &cfg.site
            && !cfg.fleet.sites.iter().any(|s| &s.id == site)
        {
            let ids: Vec<_> = cfg.fleet.sites.iter().map(|s| s.id.as_str()).collect();
            return Err(crate::error::Error::Config(format!(
                "--site {site}: the fleet's sites are {}",
                ids.join(", ")
            )));
        }
        // A fleet (or site) without GPUs would serve the metric headers and no sample: refused.
        let chosen = cfg.fleet.sites.iter().filter(|s| cfg.site.as_ref().is_none_or(|id| &s.id == id));
        if chosen.flat_map(|s| &s.gpu_pools).all(|p| p.nodes == 0) {
            return Err(crate::error::Error::Config(format!(
                "{}: no GPUs to export (no GPU pool with nodes{})",
                cfg.fleet.name,
                cfg.site.as_ref().map_or(String::new(), |id| format!(" at site {id}"))
            )));
        }
        let mut world = World::new(cfg.fleet.clone(), cfg.days, cfg.seed)?;
        world.record_telemetry = false;
        let snapshot = Arc::new(Mutex::new(gpu_snapshot(&world, cfg.site.as_deref())));
        let stop = Arc::new(AtomicBool::new(false));
        let (snap2, stop2) = (snapshot.clone(), stop.clone());
        let pause = Duration::from_secs_f64((world.step_s / cfg.speed.max(1e-9)).min(3600.0));
        let thread = std::thread::Builder::new()
            .name("gpu-fleet-sim".into())
            .spawn(move || {
                while !stop2.load(Ordering::Relaxed) && !world.is_done() {
                    if world.step().is_err() {
                        break;
                    }
                    let snap = gpu_snapshot(&world, cfg.site.as_deref());
                    *snap2.lock().expect("no panic while holding") = snap;
                    let until = Instant::now() + pause;
                    while Instant::now() < until && !stop2.load(Ordering::Relaxed) {
                        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
                    }
                }
            })
            .map_err(|e| crate::error::Error::Config(format!("starting the simulation thread: {e}")))?;
        Ok(GpuFleetSim { snapshot, stop, thread: Some(thread) })
    }
}

impl Drop for GpuFleetSim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// For tests of every exposition hcp serves: `promtool check metrics` on `text`, whether it
/// passed and what it said; `None` (the test skips, visibly) where promtool is not installed,
/// unless HCP_REQUIRE_PROMTOOL is set (CI sets it), when a missing promtool panics.
pub fn promtool_check_metrics(text: &str) -> Option<(bool, String)> {
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
        eprintln!("SKIPPED: `{promtool}` not found");
        return None;
    };
    child.stdin.take().expect("piped").write_all(text.as_bytes()).expect("promtool reads its input");
    let out = child.wait_with_output().expect("promtool runs");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Some((out.status.success(), said))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asic::{AsicCatalog, AsicPhysics};
    use crate::fleet::FleetConfig;
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
        let model = AsicCatalog::builtin().get("Antminer S19j Pro").unwrap().clone();
        let miner =
            MinerServer::spawn("127.0.0.1:0".parse().unwrap(), SimMiner::new(model, AsicPhysics::default(), 0, 1))
                .unwrap();
        let text = scrape(&AsicExporterConfig { miners: vec![miner.local_addr()], timeout: Duration::from_secs(2) });
        let Some((ok, said)) = promtool_check_metrics(&text) else { return };
        assert!(ok && said.trim().is_empty(), "promtool: {said}\n{text}");
    }

    fn small_fleet_sim() -> GpuFleetSim {
        let fleet =
            FleetConfig::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fleets/small.toml")).unwrap();
        let sim = GpuFleetSim::start(GpuExporterConfig { fleet, site: None, days: 1, seed: 3, speed: 1e7 }).unwrap();
        // Let it run some steps (each simulated 5 minutes takes ~no wall time at this speed).
        let start = sim.snapshot.lock().unwrap().time_us;
        let deadline = Instant::now() + Duration::from_secs(20);
        while sim.snapshot.lock().unwrap().time_us < start + 6 * 3_600_000_000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        sim
    }

    /// A fleet without GPUs served the metric headers and no sample; it is refused by name.
    #[test]
    fn a_fleet_without_gpus_is_refused() {
        let fleets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fleets");
        let fleet = FleetConfig::load(&fleets.join("hb-west-mining.toml")).unwrap();
        let name = fleet.name.clone();
        let err = GpuFleetSim::start(GpuExporterConfig { fleet, site: None, days: 1, seed: 3, speed: 1e7 })
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(&format!("{name}: no GPUs to export")), "{err}");
    }

    #[test]
    fn gpu_exporter_serves_every_simulated_gpu_under_dcgm_names() {
        let sim = small_fleet_sim();
        let snap = sim.snapshot.clone();
        let server =
            ExporterServer::serve("127.0.0.1:0".parse().unwrap(), Arc::new(move || render_dcgm(&snap.lock().unwrap())))
                .unwrap();
        let reply = get(server.local_addr(), "GET /metrics HTTP/1.1\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        let snapshot = sim.snapshot.lock().unwrap().clone();
        assert_eq!(snapshot.gpus.len(), 32, "fleets/small.toml: 4 nodes x 8 GPUs");
        for name in [
            "DCGM_FI_DEV_GPU_TEMP",
            "DCGM_FI_DEV_POWER_USAGE",
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
            "DCGM_FI_DEV_GPU_UTIL",
            "DCGM_FI_DEV_FB_USED",
            "DCGM_FI_DEV_FB_FREE",
            "DCGM_FI_DEV_SM_CLOCK",
            "DCGM_FI_DEV_XID_ERRORS",
        ] {
            assert_eq!(reply.lines().filter(|l| l.starts_with(&format!("{name}{{"))).count(), 32, "{name}");
        }
        let first = &snapshot.gpus[0];
        assert!(reply.contains(&format!(
            "gpu=\"0\",UUID=\"{}\",device=\"nvidia0\",modelName=\"{}\",Hostname=\"{}\"",
            first.uuid, first.model_name, first.hostname
        )));
        assert!(first.uuid.len() == 40 && first.uuid.starts_with("GPU-"), "{}", first.uuid);
        // Six simulated hours at least: every healthy GPU has used energy, within its power range.
        for g in &snapshot.gpus {
            let r = g.reading;
            assert!(r.failed || (r.energy_j > 0.0 && r.power_w > 0.0), "{g:?}");
            assert!(
                (r.fb_used_mib + r.fb_free_mib - 81_559.0).abs() < 1.0 || r.failed || !g.model_name.contains("H100")
            );
        }
        let uuids: std::collections::BTreeSet<_> = snapshot.gpus.iter().map(|g| &g.uuid).collect();
        assert_eq!(uuids.len(), 32, "UUIDs are unique");
    }

    /// promtool parses the GPU exporter's output; its only complaints are the naming
    /// dcgm-exporter itself uses, kept so stock dashboards work: the energy counter without
    /// `_total` and the camelCase labels `UUID`, `modelName`, `Hostname`.
    #[test]
    fn promtool_parses_the_dcgm_exposition() {
        let sim = small_fleet_sim();
        let text = render_dcgm(&sim.snapshot.lock().unwrap());
        let Some((_, said)) = promtool_check_metrics(&text) else { return };
        let complaints: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            !complaints.is_empty()
                && complaints.iter().all(|l| {
                    l.starts_with("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter metrics should have \"_total\" suffix")
                        || (l.starts_with("DCGM_FI_DEV_")
                            && l.ends_with("label names should be written in 'snake_case' not 'camelCase'"))
                }),
            "promtool: {said}"
        );
    }
}
