//! Simulated miners on TCP: the JSON miner API in its LuxOS dialect (cgminer-style), so that
//! existing fleet tools (pyasic, the operator's scripts) drive the simulator as they drive real
//! machines.
//!
//! One request per connection: `{"command": "c1+c2", "parameter": "..."}`; the reply carries a
//! `STATUS` list and one section per command, and the socket closes after it (clients read to
//! EOF). Privileged commands (`curtail`, `profileset`, `atmset`) take the session id from
//! `session`/`logon` as their first parameter. [`Firmware`] holds what the miner's firmware
//! keeps (profiles, session, ATM, share counters) and answers commands against one device of an
//! [`AsicGroup`]: a standalone [`SimMiner`] owns a one-device group advanced by wall-clock time
//! (optionally accelerated) at every request, so a `curtail sleep` takes the model's sleep
//! latency to reach boards-off and a profile change ramps at the model's ramp rate; a simulated
//! site ([`crate::site_server`]) serves every device of its world's groups the same way.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::asic::{AsicGroup, AsicModel, AsicPhysics, DeviceState};
use crate::rng::Rng;

/// A LuxOS power profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub watts: f64,
    pub hashrate_ths: f64,
    pub frequency_mhz: f64,
    pub voltage: f64,
}

/// Profiles along the model's curve: nine evenly spaced in power from the lowest to the highest
/// operating point, named by frequency as LuxOS does (`default` at stock).
pub fn profiles_for(model: &AsicModel) -> Vec<Profile> {
    let (lo, hi) = (model.min_power_w(), model.max_power_w());
    let stock_freq = 500.0;
    let mut out: Vec<Profile> = (0..9)
        .map(|k| {
            // Whole watts inside the curve: a device refuses a target off its curve.
            let watts = (lo + (hi - lo) * k as f64 / 8.0).round().clamp(lo.ceil(), hi.floor());
            let hashrate = model.hashrate_at(watts);
            let freq = (stock_freq * hashrate / model.stock.hashrate_ths / 5.0).round() * 5.0;
            Profile {
                name: format!("{freq:.0}MHz"),
                watts,
                hashrate_ths: hashrate,
                frequency_mhz: freq,
                voltage: (12.0 + 2.0 * (watts - lo) / (hi - lo)).round(),
            }
        })
        .collect();
    out.push(Profile {
        name: "default".into(),
        watts: model.stock.power_w,
        hashrate_ths: model.stock.hashrate_ths,
        frequency_mhz: stock_freq,
        voltage: 13.0,
    });
    out.sort_by(|a, b| a.watts.total_cmp(&b.watts));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

/// How the API misbehaves (fault injection).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ApiFaults {
    /// Probability that a request is dropped: the connection closes with no reply and nothing
    /// is applied.
    pub loss: f64,
    /// Delay before a reply (and its effect), s.
    pub delay_s: f64,
}

/// What a miner's firmware keeps between requests: its profiles and the active one, ATM, the
/// API session, the share counters.
#[derive(Debug, Clone)]
pub struct Firmware {
    profiles: Vec<Profile>,
    active: String,
    atm: bool,
    session: Option<String>,
    sessions_issued: u64,
    mac: String,
    accepted: u64,
    share_credit: f64,
    /// Simulated seconds at the last request (shares accrue between requests).
    last_s: f64,
    rng: Rng,
}

/// The device a firmware drives: device `index` of `group`, `elapsed_s` simulated seconds after
/// the miner started.
#[derive(Debug)]
pub struct DeviceRef<'a> {
    pub group: &'a mut AsicGroup,
    pub index: usize,
    pub elapsed_s: f64,
}

/// One simulated miner on its own.
#[derive(Debug)]
pub struct SimMiner {
    device: AsicGroup,
    firmware: Firmware,
    started: Instant,
    last: Instant,
    /// Simulated seconds per wall-clock second.
    speed: f64,
    ambient_c: f64,
    faults: ApiFaults,
}

impl SimMiner {
    pub fn new(model: AsicModel, physics: AsicPhysics, index: u32, seed: u64) -> SimMiner {
        let physics = AsicPhysics { failures_per_year: 0.0, ..physics };
        let stock = model.stock.power_w;
        let firmware = Firmware::new(&model, index, seed);
        let device =
            AsicGroup::new(&format!("miner-{index}"), model, physics, 1, stock, Rng::new(seed).fork(index as u64))
                .expect("stock power is in range");
        let now = Instant::now();
        SimMiner {
            device,
            firmware,
            started: now,
            last: now,
            speed: 1.0,
            ambient_c: 25.0,
            faults: ApiFaults::default(),
        }
    }

    pub fn with_speed(mut self, speed: f64) -> Self {
        self.speed = speed;
        self
    }
    pub fn with_faults(mut self, faults: ApiFaults) -> Self {
        self.faults = faults;
        self
    }

    /// Advances the device to now.
    fn advance(&mut self) {
        let now = Instant::now();
        let dt = (now - self.last).as_secs_f64() * self.speed;
        self.last = now;
        if dt > 0.0 {
            self.device.step(dt, self.ambient_c);
        }
    }

    pub fn state(&self) -> DeviceState {
        self.device.state(0)
    }
    pub fn power_w(&self) -> f64 {
        self.device.power_w(0)
    }

    /// The device's model (its profiles are [`profiles_for`] it).
    pub fn model(&self) -> &AsicModel {
        &self.device.model
    }

    /// Answers one command.
    pub fn command(&mut self, command: &str, parameter: &str) -> Value {
        self.advance();
        let elapsed_s = self.started.elapsed().as_secs_f64() * self.speed;
        self.firmware.command(DeviceRef { group: &mut self.device, index: 0, elapsed_s }, command, parameter)
    }

    /// Answers a request body: one command or several joined by `+`.
    pub fn request(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        self.advance();
        let elapsed_s = self.started.elapsed().as_secs_f64() * self.speed;
        Some(self.firmware.request(DeviceRef { group: &mut self.device, index: 0, elapsed_s }, body))
    }
}

impl Firmware {
    /// Whether this request is dropped, with probability `loss` (fault injection): no reply,
    /// no effect.
    pub(crate) fn drops(&mut self, loss: f64) -> bool {
        loss > 0.0 && self.rng.uniform() < loss
    }

    /// Stock firmware state for device number `index` (its MAC address) of `model`.
    pub fn new(model: &AsicModel, index: u32, seed: u64) -> Firmware {
        Firmware {
            profiles: profiles_for(model),
            active: "default".into(),
            atm: true,
            session: None,
            sessions_issued: 0,
            mac: format!("02:48:43:{:02X}:{:02X}:{:02X}", (index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff),
            accepted: 0,
            share_credit: 0.0,
            last_s: 0.0,
            rng: Rng::new(seed ^ 0x5eed).fork(index as u64),
        }
    }

    /// Accepted shares: one per 50 TH of work since the last request (a pool's share difficulty
    /// varies; this keeps the counters moving at a couple per second, as on a real pool).
    fn accrue_shares(&mut self, hashrate_ths: f64, elapsed_s: f64) {
        let dt = (elapsed_s - self.last_s).max(0.0);
        self.last_s = elapsed_s;
        self.share_credit += hashrate_ths * dt / 50.0;
        self.accepted += self.share_credit.floor() as u64;
        self.share_credit = self.share_credit.fract();
    }

    fn status(&self, code: u32, msg: &str, ok: bool) -> Value {
        let when = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        json!([{ "STATUS": if ok { "S" } else { "E" }, "When": when, "Code": code, "Msg": msg, "Description": "LUXminer 2025.1.0 (hcp-sim)" }])
    }

    fn error(&self, code: u32, msg: &str) -> Value {
        json!({ "STATUS": self.status(code, msg, false), "id": 1 })
    }

    fn ok(&self, code: u32, msg: &str, section: &str, body: Value) -> Value {
        let mut v = json!({ "STATUS": self.status(code, msg, true), "id": 1 });
        v[section] = body;
        v
    }

    fn check_session(&self, params: &[&str]) -> Result<(), Value> {
        match (&self.session, params.first()) {
            (Some(s), Some(p)) if s == p => Ok(()),
            _ => Err(self.error(45, "Invalid session id")),
        }
    }

    /// Answers one command against `dev`.
    pub fn command(&mut self, dev: DeviceRef<'_>, command: &str, parameter: &str) -> Value {
        let DeviceRef { group, index: i, elapsed_s } = dev;
        let params: Vec<&str> =
            if parameter.is_empty() { vec![] } else { parameter.split(',').map(str::trim).collect() };
        let model = group.model.name.clone();
        let ghs = |ths: f64| (ths * 1000.0 * 100.0).round() / 100.0;
        let state = group.state(i);
        let running = state == DeviceState::Running;
        let hashrate = group.hashrate_ths(i);
        self.accrue_shares(hashrate, elapsed_s);
        match command {
            "version" => self.ok(22, "LUXminer versions", "VERSION", json!([{
                "API": "3.7", "LUXminer": "2025.1.0-hcp-sim", "Miner": "hcp-sim 0.1.0", "Type": model,
            }])),
            // pyasic probes `version` and `devdetails` at once and takes the first reply it
            // recognises, testing for BOSMINER, BTMINER and BITMICRO before LUXMINER: neither
            // reply may carry those words.
            "devdetails" => self.ok(69, "Device Details", "DEVDETAILS", json!([{
                "DEVDETAILS": 0, "Name": "ASC", "ID": 0, "Driver": "luxminer", "Kernel": "", "Model": model,
                "Device Path": "",
            }])),
            "summary" => {
                let h = group.read(hashrate);
                self.ok(11, "Summary", "SUMMARY", json!([{
                    "Elapsed": elapsed_s.round(), "GHS 5s": ghs(h), "GHS av": ghs(h), "Accepted": self.accepted,
                    "Rejected": self.accepted / 500, "Hardware Errors": 0,
                }]))
            }
            "stats" => {
                let h = group.read(hashrate);
                let per = ghs(h / 3.0);
                let chip = (group.last_totals().mean_chip_temp_c).round() as i64;
                let temps = format!("{}-{}-{}-{}", chip - 5, chip, chip, chip - 5);
                let pcb = format!("{}-{}-{}-{}", chip - 15, chip - 10, chip - 10, chip - 15);
                let elapsed = elapsed_s.round();
                let ideal = ghs(group.model.hashrate_at(group.target_w(i)));
                self.ok(70, "CGMiner stats", "STATS", json!([
                    { "STATS": 0, "ID": "luxminer", "Elapsed": elapsed, "Type": model },
                    {
                        "STATS": 1, "ID": "ASC0", "Elapsed": elapsed, "rate_unit": "GH", "total_rateideal": ideal,
                        "total_rate": ghs(h),
                        "chain_rate1": per, "chain_rate2": per, "chain_rate3": per,
                        "chain_acn1": 126, "chain_acn2": 126, "chain_acn3": 126,
                        "temp_chip1": temps, "temp_chip2": temps, "temp_chip3": temps,
                        "temp_pcb1": pcb, "temp_pcb2": pcb, "temp_pcb3": pcb,
                    }
                ]))
            }
            "pools" => self.ok(7, "1 Pool(s)", "POOLS", json!([{
                "POOL": 0, "GROUP": 0, "URL": "stratum+tcp://pool.hcp-sim.invalid:3333", "User": "hcp.sim",
                "Status": if running { "Alive" } else { "Dead" }, "Stratum Active": running,
                "Accepted": self.accepted, "Rejected": self.accepted / 500, "Get Failures": 0, "Remote Failures": 0,
            }])),
            "groups" => self.ok(7, "1 Group(s)", "GROUPS", json!([{ "GROUP": 0, "Name": "Default", "Quota": 1 }])),
            "power" => {
                let w = group.read(group.power_w(i)).round();
                self.ok(300, "Power", "POWER", json!([{ "Watts": w, "PSU": true }]))
            }
            "fans" => {
                let rpm = if running { 4200 } else { 1200 };
                self.ok(202, "4 Fan(s)", "FANS", json!((0..4).map(|i| json!({ "ID": i, "RPM": rpm, "Speed": 60 })).collect::<Vec<_>>()))
            }
            "tempctrl" => self.ok(201, "Temperature control", "TEMPCTRL", json!([{
                "Mode": "Auto", "Target": 75, "Hot": 85, "Dangerous": 95,
            }])),
            "temps" => {
                let chip = group.last_totals().mean_chip_temp_c;
                self.ok(201, "Temps", "TEMPS", json!([{ "ID": 0, "Board": chip - 10.0, "Chip": chip }]))
            }
            "config" => {
                let curtail = match state {
                    DeviceState::Sleeping | DeviceState::GoingToSleep => "Sleep",
                    DeviceState::Waking => "WakingUp",
                    _ => "None",
                };
                self.ok(33, "Config", "CONFIG", json!([{
                    "Profile": self.active, "IsAtmEnabled": self.atm, "CurtailMode": curtail,
                    "MACAddr": self.mac, "RedLed": "off", "Model": model,
                }]))
            }
            "profiles" => {
                let list: Vec<Value> = self
                    .profiles
                    .iter()
                    .map(|p| json!({
                        "Profile Name": p.name, "Watts": p.watts, "Hashrate": p.hashrate_ths,
                        "Frequency": p.frequency_mhz, "Voltage": p.voltage, "IsTuned": false, "IsDynamic": false,
                        "Step": "0",
                    }))
                    .collect();
                self.ok(327, "Profiles", "PROFILES", json!(list))
            }
            "atm" => self.ok(339, "ATM configuration values", "ATM", json!([{
                "Enabled": self.atm, "MaxProfile": "", "MinProfile": "", "PostRampMinutes": 15, "StartupMinutes": 15,
                "TempWindow": 7,
            }])),
            "session" => {
                let id = self.session.clone().unwrap_or_default();
                self.ok(302, "Session", "SESSION", json!([{ "SessionID": id }]))
            }
            "logon" => {
                if self.session.is_none() {
                    self.sessions_issued += 1;
                    self.session = Some(format!("{:08x}", self.rng.next_u64() as u32 ^ self.sessions_issued as u32));
                }
                let id = self.session.clone().unwrap_or_default();
                self.ok(303, "Session created", "SESSION", json!([{ "SessionID": id }]))
            }
            "logoff" => {
                if let Err(e) = self.check_session(&params) {
                    return e;
                }
                self.session = None;
                self.ok(304, "Session ended", "LOGOFF", json!([{}]))
            }
            "curtail" => {
                if let Err(e) = self.check_session(&params) {
                    return e;
                }
                match params.get(1).copied() {
                    Some("sleep") => {
                        group.sleep(i..i + 1);
                        self.ok(305, "Curtail sleep", "CURTAIL", json!([{ "Mode": "sleep" }]))
                    }
                    Some("wakeup") => {
                        group.wake(i..i + 1);
                        self.ok(305, "Curtail wakeup", "CURTAIL", json!([{ "Mode": "wakeup" }]))
                    }
                    other => self.error(14, &format!("curtail: mode `{}` is not sleep or wakeup", other.unwrap_or(""))),
                }
            }
            "atmset" => {
                if let Err(e) = self.check_session(&params) {
                    return e;
                }
                for p in &params[1..] {
                    match *p {
                        "enabled=false" => self.atm = false,
                        "enabled=true" => self.atm = true,
                        other if other.contains('=') => {}
                        other => return self.error(14, &format!("atmset: cannot parse `{other}`")),
                    }
                }
                self.ok(340, "Advanced Thermal Management configuration updated", "ATMSET", json!([{}]))
            }
            "profileset" => {
                if let Err(e) = self.check_session(&params) {
                    return e;
                }
                if self.atm {
                    return self.error(14, "profileset: disable ATM first (atmset enabled=false)");
                }
                let Some(name) = params.get(1) else { return self.error(14, "profileset: missing profile") };
                let Some(p) = self.profiles.iter().find(|p| p.name == *name).cloned() else {
                    return self.error(14, &format!("profileset: unknown profile `{name}`"));
                };
                if let Err(e) = group.set_target(i..i + 1, p.watts) {
                    return self.error(14, &e.to_string());
                }
                self.active = p.name.clone();
                self.ok(307, "Profile set", "PROFILE", json!([{ "Profile": p.name }]))
            }
            // Braiins OS names for the same actions, without a session.
            "pause" => {
                group.sleep(i..i + 1);
                self.ok(305, "Paused", "PAUSE", json!([{}]))
            }
            "resume" => {
                group.wake(i..i + 1);
                self.ok(305, "Resumed", "RESUME", json!([{}]))
            }
            other => self.error(14, &format!("Invalid command `{other}`")),
        }
    }

    /// Answers a request body: one command or several joined by `+`.
    pub fn request(&mut self, dev: DeviceRef<'_>, body: &[u8]) -> Vec<u8> {
        let DeviceRef { group, index, elapsed_s } = dev;
        let parsed: Result<Value, _> = serde_json::from_slice(body);
        let reply = match parsed {
            Ok(v) => {
                let command = v.get("command").and_then(Value::as_str).unwrap_or("").to_string();
                let parameter = match v.get("parameter") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                if command.is_empty() {
                    self.error(14, "Missing `command`")
                } else if command.contains('+') {
                    let mut out = json!({ "id": 1 });
                    for c in command.split('+') {
                        out[c] =
                            json!([self.command(DeviceRef { group: &mut *group, index, elapsed_s }, c, &parameter)]);
                    }
                    out
                } else {
                    self.command(DeviceRef { group, index, elapsed_s }, &command, &parameter)
                }
            }
            Err(e) => self.error(23, &format!("Invalid JSON: {e}")),
        };
        serde_json::to_vec(&reply).expect("serialisable")
    }
}

/// A running TCP server for one miner.
#[derive(Debug)]
pub struct MinerServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub miner: Arc<Mutex<SimMiner>>,
}

impl MinerServer {
    /// Binds `addr` (port 0 for any) and serves `miner` on a thread until dropped.
    pub fn spawn(addr: SocketAddr, miner: SimMiner) -> std::io::Result<MinerServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let miner = Arc::new(Mutex::new(miner));
        let (stop2, miner2) = (stop.clone(), miner.clone());
        let thread = std::thread::Builder::new().name(format!("miner-{addr}")).spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(stream) = conn {
                    let miner = miner2.clone();
                    // One short thread per connection: a slow client never blocks the others.
                    let _ = std::thread::Builder::new().spawn(move || {
                        serve(stream, |body| {
                            let faults = miner.lock().map(|m| m.faults).unwrap_or_default();
                            if faults.delay_s > 0.0 {
                                std::thread::sleep(Duration::from_secs_f64(faults.delay_s));
                            }
                            let mut m = miner.lock().ok()?;
                            if m.firmware.drops(faults.loss) { None } else { m.request(body) }
                        })
                    });
                }
            }
        })?;
        Ok(MinerServer { addr, stop, thread: Some(thread), miner })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MinerServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves one connection of the miner API framing: reads one JSON request (the client does not
/// half-close; a trailing NUL is allowed), writes `answer`'s reply (none: a dropped request)
/// and closes.
pub(crate) fn serve(mut stream: TcpStream, answer: impl FnOnce(&[u8]) -> Option<Vec<u8>>) {
    let Some(body) = read_request(&mut stream) else { return };
    reply(stream, answer(&body));
}

/// Reads one request of the miner API framing (the client does not half-close: read until the
/// bytes parse as one JSON value; a trailing NUL is dropped); `None` when the read fails.
pub(crate) fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut body = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                body.extend_from_slice(&buf[..n]);
                let trimmed: &[u8] = body.strip_suffix(b"\0").unwrap_or(&body);
                if serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok() {
                    break;
                }
                if body.len() > 65_536 {
                    break;
                }
            }
            Err(_) => return None,
        }
    }
    if body.last() == Some(&0) {
        body.pop();
    }
    Some(body)
}

/// Writes `answer` (none: a dropped request) and closes the connection.
pub(crate) fn reply(mut stream: TcpStream, answer: Option<Vec<u8>>) {
    if let Some(bytes) = answer {
        let _ = stream.write_all(&bytes);
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Sends one request to a miner API and returns the parsed reply (a tiny client for tests,
/// the exporter and the switching engine).
pub fn send(addr: SocketAddr, command: &str, parameter: Option<&str>, timeout: Duration) -> std::io::Result<Value> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    let mut req = json!({ "command": command });
    if let Some(p) = parameter {
        req["parameter"] = json!(p);
    }
    s.write_all(&serde_json::to_vec(&req).expect("serialisable"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    if out.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no reply (dropped request)"));
    }
    serde_json::from_slice(&out).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asic::{AsicCatalog, SLEEP_POWER_W};

    fn miner(speed: f64) -> SimMiner {
        let model = AsicCatalog::builtin().get("Antminer S19j Pro").unwrap().clone();
        SimMiner::new(model, AsicPhysics { noise_ratio: 0.0, ..AsicPhysics::default() }, 1, 7).with_speed(speed)
    }

    /// Regression: a `devdetails` reply naming the `bitmicro` driver made pyasic take the
    /// simulator for a Whatsminer whenever that probe answered first.
    #[test]
    fn discovery_replies_name_luxminer_and_no_other_firmware() {
        let mut m = miner(1.0);
        for command in ["version", "devdetails"] {
            let reply = serde_json::to_string(&m.command(command, "")).unwrap().to_uppercase();
            assert!(reply.contains("LUXMINER"), "{command}: {reply}");
            for other in ["BOSMINER", "BOSER", "BTMINER", "BITMICRO"] {
                assert!(!reply.contains(other), "{command} names {other}: {reply}");
            }
        }
    }

    #[test]
    fn profiles_span_the_curve_and_include_stock() {
        let model = AsicCatalog::builtin().get("Antminer S19j Pro").unwrap().clone();
        let p = profiles_for(&model);
        assert_eq!(p.first().unwrap().watts, 1905.0);
        assert_eq!(p.last().unwrap().watts, 3100.0);
        assert!(p.iter().any(|x| x.name == "default" && x.watts == 2850.0));
        assert!(p.windows(2).all(|w| w[0].watts <= w[1].watts));
    }

    /// Regression: the S21's lowest profile, 2,339 W (its curve starts at 2,339.47 W), was
    /// refused by the device it was offered on.
    #[test]
    fn every_profile_of_every_model_is_a_target_its_device_takes() {
        for model in AsicCatalog::builtin().models {
            let mut g = AsicGroup::new("g", model.clone(), AsicPhysics::default(), 1, model.stock.power_w, Rng::new(1))
                .unwrap();
            for p in profiles_for(&model) {
                g.set_target(0..1, p.watts)
                    .unwrap_or_else(|e| panic!("{}: {} ({} W): {e}", model.name, p.name, p.watts));
            }
        }
    }

    #[test]
    fn sessions_guard_privileged_commands_and_profiles_set_power() {
        let mut m = miner(1000.0);
        let denied = m.command("curtail", "nope,sleep");
        assert_eq!(denied["STATUS"][0]["STATUS"], "E");
        let sid = m.command("logon", "")["SESSION"][0]["SessionID"].as_str().unwrap().to_string();
        assert_eq!(m.command("session", "")["SESSION"][0]["SessionID"], sid);
        let blocked = m.command("profileset", &format!("{sid},default"));
        assert!(blocked["STATUS"][0]["Msg"].as_str().unwrap().contains("ATM"));
        m.command("atmset", &format!("{sid},enabled=false"));
        let low = profiles_for(&m.device.model)[0].name.clone();
        let r = m.command("profileset", &format!("{sid},{low}"));
        assert_eq!(r["PROFILE"][0]["Profile"], low);
        std::thread::sleep(Duration::from_millis(30)); // 30 simulated seconds at 1000×
        assert_eq!(m.command("power", "")["POWER"][0]["Watts"], 1905.0);
        let multi = m.request(br#"{"command": "config+profiles"}"#).unwrap();
        let multi: Value = serde_json::from_slice(&multi).unwrap();
        assert_eq!(multi["config"][0]["CONFIG"][0]["Profile"], low);
        assert!(multi["profiles"][0]["PROFILES"].as_array().unwrap().len() >= 9);
        let bad = m.request(b"{not json").unwrap();
        assert!(String::from_utf8(bad).unwrap().contains("Invalid JSON"));
    }

    #[test]
    fn sleeping_over_tcp_takes_the_sleep_latency() {
        let server = MinerServer::spawn("127.0.0.1:0".parse().unwrap(), miner(100.0)).unwrap();
        let addr = server.local_addr();
        let t = Duration::from_secs(2);
        let sid = send(addr, "logon", None, t).unwrap()["SESSION"][0]["SessionID"].as_str().unwrap().to_string();
        send(addr, "curtail", Some(&format!("{sid},sleep")), t).unwrap();
        let mode = send(addr, "config", None, t).unwrap()["CONFIG"][0]["CurtailMode"].clone();
        assert_eq!(mode, "Sleep");
        std::thread::sleep(Duration::from_millis(100)); // 10 simulated seconds > 5 s latency
        assert_eq!(send(addr, "power", None, t).unwrap()["POWER"][0]["Watts"], SLEEP_POWER_W);
        assert_eq!(send(addr, "summary", None, t).unwrap()["SUMMARY"][0]["GHS 5s"], 0.0);
        send(addr, "curtail", Some(&format!("{sid},wakeup")), t).unwrap();
        std::thread::sleep(Duration::from_millis(400)); // 40 s > 30 s wake latency
        let ghs = send(addr, "summary", None, t).unwrap()["SUMMARY"][0]["GHS 5s"].as_f64().unwrap();
        assert!(ghs > 70_000.0, "{ghs}");
    }

    #[test]
    fn a_lossy_api_drops_requests_without_applying_them() {
        let server = MinerServer::spawn(
            "127.0.0.1:0".parse().unwrap(),
            miner(1.0).with_faults(ApiFaults { loss: 1.0, delay_s: 0.0 }),
        )
        .unwrap();
        let err = send(server.local_addr(), "pause", None, Duration::from_secs(2)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(server.miner.lock().unwrap().state(), DeviceState::Running);
    }
}
