//! A simulated site on the network, for the scheduler daemon to drive as it would drive a real
//! one: the world of a fleet file advanced by a clock (simulated seconds per wall-clock second),
//! every ASIC on its own port speaking the miner TCP API (LuxOS dialect, [`crate::miner_api`]),
//! and the GPU pools and job queue on a control API with the same framing (one JSON request per
//! connection, the reply, close):
//!
//! - `{"command": "status"}`: the clock, the day's hashprice, the latest published price per
//!   node, every site's groups (model, device count, miner addresses), pools, running jobs, the
//!   queue, and the cap record so far ([`SiteStatus`]).
//! - `{"command": "clock"}`: just the clock ([`SiteClock`]), cheap to poll for the next step.
//! - `{"command": "place", "parameter": "JOB,POOL"}`: places a queued job.
//! - `{"command": "preempt", "parameter": "JOB"}`: preempts a placed job.
//! - `{"command": "prices", "parameter": "NODE"}`: the node's hourly prices as published by
//!   now (`[start_us, real-time, day-ahead]`, `null` where not published yet): the real-time
//!   price of hours that have ended, the day-ahead price from 13:30 Central the day before.
//!
//! Replies carry `"ok": true` or `"ok": false` with an `"error"` naming what was wrong. The world
//! is handed over ([`World::hand_over`]): it neither curtails nor places jobs by itself.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hcp_datasets::time::{MICROS_PER_HOUR, MICROS_PER_SECOND, ercot_calendar};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::miner_api::{ApiFaults, DeviceRef, Firmware, serve};
#[cfg(unix)]
use crate::miner_api::{read_request, reply};
use crate::workload::{JobClass, SimJob};
use crate::world::World;

/// How the site is served.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteServerConfig {
    /// Address of the control API (port 0: any).
    pub control: SocketAddr,
    /// Address the miners listen on.
    pub miner_ip: IpAddr,
    /// First miner port; the others follow it in fleet order. 0: any free ports.
    pub first_miner_port: u16,
    /// Simulated seconds per wall-clock second.
    pub speed: f64,
    /// How every miner's API misbehaves, as `hcp sim miners`' do: a request dropped with
    /// probability `loss`; each answered (and applied) `delay_s` after it arrives, without
    /// holding up other miners' answers.
    pub miner_faults: ApiFaults,
}

/// One ASIC group on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupWire {
    pub id: String,
    pub model: String,
    /// Each device's miner API address, device 0 first.
    pub miners: Vec<SocketAddr>,
}

/// One GPU pool on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolWire {
    pub id: String,
    pub model: String,
    pub gpus: usize,
    pub free_whole_gpus: usize,
    pub idle_w: f64,
    pub tdp_w: f64,
    /// Power of a GPU running batch work, W.
    pub batch_w: f64,
}

/// A job as a scheduler sees it: on the control API's wire, and in the scheduler's observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub id: String,
    pub class: JobClass,
    pub num_gpu: u32,
    pub gpu_milli: u32,
    pub created_us: i64,
    /// Work left, s.
    pub remaining_s: f64,
    pub value_usd_per_gpu_hour: f64,
    pub deadline_us: Option<i64>,
    /// The pool it runs on (placed jobs).
    pub pool: Option<String>,
}

impl JobView {
    /// GPUs the job occupies, a shared GPU counting as its share.
    pub fn gpu_equivalents(&self) -> f64 {
        self.num_gpu as f64 * self.gpu_milli.clamp(1, 1000) as f64 / 1000.0
    }

    /// `remaining_s`: work left (a job stopped part way); `None`: all of it.
    pub fn from_sim(job: &SimJob, remaining_s: Option<f64>, pool: Option<&str>) -> JobView {
        JobView {
            id: job.id.clone(),
            class: job.class,
            num_gpu: job.num_gpu,
            gpu_milli: job.gpu_milli,
            created_us: job.created_us,
            remaining_s: remaining_s.unwrap_or(job.duration_s),
            value_usd_per_gpu_hour: job.value_usd_per_gpu_hour,
            deadline_us: job.deadline_us,
            pool: pool.map(str::to_string),
        }
    }
}

/// One site on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteWire {
    pub id: String,
    pub node: String,
    pub cap_w: f64,
    /// Whole-site draw over the last step, W (the site meter).
    pub power_w: f64,
    pub groups: Vec<GroupWire>,
    pub pools: Vec<PoolWire>,
    pub running: Vec<JobView>,
}

/// The control API's `clock` reply.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SiteClock {
    pub now_us: i64,
    pub start_us: i64,
    pub step_s: f64,
    pub done: bool,
}

/// The control API's `status` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteStatus {
    pub now_us: i64,
    pub start_us: i64,
    pub end_us: i64,
    pub step_s: f64,
    /// Steps the world has taken.
    pub steps: u64,
    pub done: bool,
    /// Hashprice of the day, USD per TH/s per day.
    pub hashprice: f64,
    /// The latest published real-time price per node.
    pub last_known_price: BTreeMap<String, f64>,
    /// Steps that ended with a site above its cap, and the largest draw / cap seen.
    pub cap_violations: u64,
    pub max_cap_ratio: f64,
    pub sites: Vec<SiteWire>,
    pub queue: Vec<JobView>,
}

/// What the threads share.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
}

#[derive(Debug)]
struct State {
    world: World,
    /// Each group's devices' firmware, by group id.
    firmware: BTreeMap<String, Vec<Firmware>>,
    miners: BTreeMap<String, Vec<SocketAddr>>,
    site_power_w: Vec<f64>,
    cap_violations: u64,
    max_cap_ratio: f64,
    /// Wall-clock instant of the world's current time, and the speed.
    epoch: Instant,
    epoch_us: i64,
    speed: f64,
}

impl State {
    /// Simulated seconds since the world's start, for the miners' `Elapsed`.
    fn elapsed_s(&self) -> f64 {
        (self.epoch_us - self.world.start_us) as f64 / MICROS_PER_SECOND as f64
            + self.epoch.elapsed().as_secs_f64() * self.speed
    }

    fn status(&self) -> SiteStatus {
        let w = &self.world;
        let sites = w
            .sites
            .iter()
            .zip(&self.site_power_w)
            .map(|(site, &power_w)| SiteWire {
                id: site.id.clone(),
                node: site.node.clone(),
                cap_w: site.power_cap_w,
                power_w,
                groups: site
                    .groups
                    .iter()
                    .map(|g| GroupWire {
                        id: g.id.clone(),
                        model: g.model.name.clone(),
                        miners: self.miners[&g.id].clone(),
                    })
                    .collect(),
                pools: site
                    .pools
                    .iter()
                    .map(|p| PoolWire {
                        id: p.id.clone(),
                        model: p.model.name.clone(),
                        gpus: p.len(),
                        free_whole_gpus: p.free_gpus(1000),
                        idle_w: p.model.idle_w,
                        tdp_w: p.model.tdp_w,
                        batch_w: p.gpu_power_at(p.physics.batch_util),
                    })
                    .collect(),
                running: site
                    .pools
                    .iter()
                    .flat_map(|p| p.placed().map(move |j| JobView::from_sim(j, None, Some(&p.id))))
                    .collect(),
            })
            .collect();
        SiteStatus {
            now_us: w.now_us,
            start_us: w.start_us,
            end_us: w.end_us(),
            step_s: w.step_s,
            steps: w.counters().steps,
            done: w.is_done(),
            hashprice: w.hashprice(w.now_us),
            last_known_price: w
                .sites
                .iter()
                .filter_map(|s| Some((s.node.clone(), w.last_known_price(&s.node, w.now_us)?)))
                .collect(),
            cap_violations: self.cap_violations,
            max_cap_ratio: self.max_cap_ratio,
            sites,
            queue: w.queued().map(|(j, rem)| JobView::from_sim(j, rem, None)).collect(),
        }
    }

    /// Steps the world up to the clock's time.
    fn catch_up(&mut self) -> Result<()> {
        let step_us = (self.world.step_s * MICROS_PER_SECOND as f64) as i64;
        let due_us = self.epoch_us + (self.epoch.elapsed().as_secs_f64() * self.speed * 1e6) as i64;
        while !self.world.is_done() && self.world.now_us + step_us <= due_us {
            let report = self.world.step()?;
            for (i, (site, s)) in self.world.sites.iter().zip(&report.sites).enumerate() {
                self.site_power_w[i] = s.power_w;
                let ratio = s.power_w / site.power_cap_w;
                self.max_cap_ratio = self.max_cap_ratio.max(ratio);
                if ratio > 1.0 + 1e-9 {
                    self.cap_violations += 1;
                }
            }
        }
        Ok(())
    }

    fn control(&mut self, body: &[u8]) -> Value {
        let request: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return json!({ "ok": false, "error": format!("request: invalid JSON: {e}") }),
        };
        let command = request.get("command").and_then(Value::as_str).unwrap_or("");
        let parameter = request.get("parameter").and_then(Value::as_str).unwrap_or("");
        let params: Vec<&str> = parameter.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
        match (command, params.as_slice()) {
            ("status", []) => json!({ "ok": true, "status": self.status() }),
            ("clock", []) => {
                let w = &self.world;
                let clock = SiteClock { now_us: w.now_us, start_us: w.start_us, step_s: w.step_s, done: w.is_done() };
                json!({ "ok": true, "clock": clock })
            }
            ("place", [job, pool]) => match self.world.place(job, pool) {
                Ok(()) => json!({ "ok": true }),
                Err(e) => json!({ "ok": false, "error": e.to_string() }),
            },
            ("preempt", [job]) => {
                if self.world.preempt(job) {
                    json!({ "ok": true })
                } else {
                    json!({ "ok": false, "error": format!("preempt: no pool runs job `{job}`") })
                }
            }
            ("prices", [node]) => {
                let now = self.world.now_us;
                let rows: Vec<Value> = self
                    .world
                    .feed
                    .iter()
                    .filter(|r| &*r.node == *node && r.interval_minutes == 60)
                    .filter_map(|r| {
                        let t = r.interval_start_us;
                        let rt = r.rtm_price_per_mwh.filter(|_| t + MICROS_PER_HOUR <= now);
                        let da = r.dam_price_per_mwh.filter(|_| ercot_calendar(t).2 <= now);
                        (rt.is_some() || da.is_some()).then(|| json!([t, rt, da]))
                    })
                    .collect();
                if rows.is_empty() {
                    json!({ "ok": false, "error": format!("`parameter` of `prices`: no prices for node `{node}`") })
                } else {
                    json!({ "ok": true, "prices": rows })
                }
            }
            ("status" | "clock" | "place" | "preempt" | "prices", _) => json!({
                "ok": false,
                "error": format!("`parameter` of `{command}`: `{parameter}` is not {}", match command {
                    "place" => "`JOB,POOL`",
                    "preempt" => "`JOB`",
                    "prices" => "`NODE`",
                    _ => "empty",
                }),
            }),
            ("", _) => json!({ "ok": false, "error": "request: missing `command`" }),
            (other, _) => json!({ "ok": false, "error": format!("`command`: unknown command `{other}`") }),
        }
    }
}

/// A running simulated site; stops its threads when dropped.
#[derive(Debug)]
pub struct SiteServer {
    control: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    miners: MinerListeners,
}

impl SiteServer {
    /// Serves `world` (handed over to the caller's scheduler) until dropped.
    pub fn spawn(mut world: World, cfg: &SiteServerConfig) -> Result<SiteServer> {
        if !(cfg.speed.is_finite() && cfg.speed > 0.0) {
            return Err(Error::Config(format!("site server: speed {} is not a positive number", cfg.speed)));
        }
        world.hand_over();
        let control = TcpListener::bind(cfg.control).map_err(io(&format!("control API on {}", cfg.control)))?;
        let control_addr = control.local_addr().map_err(io("control API"))?;
        let mut listeners = Vec::new();
        let mut miners = BTreeMap::new();
        let mut firmware = BTreeMap::new();
        let mut index = 0u32;
        let devices: usize = world.sites.iter().flat_map(|s| s.groups.iter()).map(|g| g.len()).sum();
        for g in world.sites.iter().flat_map(|s| s.groups.iter()) {
            let mut addrs = Vec::with_capacity(g.len());
            let mut fw = Vec::with_capacity(g.len());
            for i in 0..g.len() {
                let port = if cfg.first_miner_port == 0 { 0 } else { cfg.first_miner_port as u32 + index };
                let port = u16::try_from(port).map_err(|_| {
                    Error::Config(format!(
                        "miner ports: {} devices from port {} pass 65535",
                        index + 1,
                        cfg.first_miner_port
                    ))
                })?;
                let addr = SocketAddr::new(cfg.miner_ip, port);
                let l = TcpListener::bind(addr).map_err(|e| {
                    // Neither is about the address asked for: the open-file limit (EMFILE), no ephemeral port left.
                    let hint = if e.raw_os_error() == Some(24) {
                        format!(
                            " (the site serves {devices} miners, each on a listening socket of its own: \
                             raise the open-file limit, `ulimit -n` (hard: `ulimit -Hn`), to at least {})",
                            open_files_needed(devices)
                        )
                    } else if port == 0 && e.kind() == std::io::ErrorKind::AddrInUse {
                        " (the system had no free port left to give: give the miners ports of their own, \
                         below its ephemeral range, with --first-miner-port)"
                            .to_string()
                    } else {
                        String::new()
                    };
                    Error::Config(format!("miner {} #{i} on {addr}: {e}{hint}", g.id))
                })?;
                addrs.push(l.local_addr().map_err(io("miner"))?);
                listeners.push((l, g.id.clone(), i));
                fw.push(Firmware::new(&g.model, index, 0x517e ^ index as u64));
                index += 1;
            }
            miners.insert(g.id.clone(), addrs);
            firmware.insert(g.id.clone(), fw);
        }
        let site_power_w = vec![0.0; world.sites.len()];
        let epoch_us = world.now_us;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                world,
                firmware,
                miners,
                site_power_w,
                cap_violations: 0,
                max_cap_ratio: 0.0,
                epoch: Instant::now(),
                epoch_us,
                speed: cfg.speed,
            }),
            stop: AtomicBool::new(false),
        });
        let mut threads = Vec::new();
        // The clock.
        let s = shared.clone();
        threads.push(spawn_named("site-clock", move || {
            while !s.stop.load(Ordering::Relaxed) {
                if let Err(e) = lock(&s).catch_up() {
                    eprintln!("site clock stopped: {e}");
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })?);
        let s = shared.clone();
        threads.push(spawn_named("site-control", move || {
            accept(control, &s, |body, s| {
                let mut st = lock(s);
                // Answer as of now: steps due are taken first.
                let _ = st.catch_up();
                Some(serde_json::to_vec(&st.control(body)).expect("serialisable"))
            })
        })?);
        let miners = serve_miners(listeners, &shared, &mut threads, cfg.miner_faults)?;
        Ok(SiteServer { control: control_addr, shared, threads, miners })
    }

    /// The control API's address.
    pub fn control_addr(&self) -> SocketAddr {
        self.control
    }

    /// The status as the control API would answer it.
    pub fn status(&self) -> SiteStatus {
        let mut st = lock(&self.shared);
        let _ = st.catch_up();
        st.status()
    }
}

impl Drop for SiteServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect_timeout(&self.control, Duration::from_millis(200));
        self.miners.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panic in one handler leaves the world as it was between requests: keep serving.
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// An I/O error as a configuration error naming `what` failed.
fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.to_string();
    move |e| Error::Config(format!("{what}: {e}"))
}

fn spawn_named(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(256 * 1024)
        .spawn(f)
        .map_err(|e| Error::Config(format!("thread {name}: {e}")))
}

/// Open files a site of `miners` needs: a listening socket each, and room for the connections
/// being answered or waiting (up to [`QUEUED_CONNECTIONS`]), the control API and the process's own.
pub fn open_files_needed(miners: usize) -> u64 {
    miners as u64 + QUEUED_CONNECTIONS as u64 + 64
}

/// Accepted miner connections waiting for a worker, at most.
const QUEUED_CONNECTIONS: usize = 1024;

/// Threads answering the miners: one polls every miner's listening socket and hands each
/// connection to a few workers. A site of 20,000 miners needs 20,000 listening sockets (open
/// files) but not 20,000 threads.
#[derive(Debug)]
struct MinerListeners {
    #[cfg(unix)]
    waker: mio::Waker,
    /// Each miner's address, connected to once to wake its thread.
    #[cfg(not(unix))]
    addrs: Vec<SocketAddr>,
}

/// Workers answering miner connections: requests are short and the world is behind one lock,
/// so a few suffice; more than one keeps a slow client from holding up the rest.
#[cfg(unix)]
const MINER_WORKERS: usize = 4;

impl MinerListeners {
    fn stop(&self) {
        #[cfg(unix)]
        let _ = self.waker.wake();
        #[cfg(not(unix))]
        for addr in &self.addrs {
            let _ = TcpStream::connect_timeout(addr, Duration::from_millis(200));
        }
    }
}

/// Answers one miner API request to miner `i` of `group`; `None` (no reply) when the request
/// is dropped, with probability `loss`.
fn answer_miner(shared: &Shared, group: &str, i: usize, body: &[u8], loss: f64) -> Option<Vec<u8>> {
    let mut st = lock(shared);
    let elapsed_s = st.elapsed_s();
    let State { world, firmware, .. } = &mut *st;
    let g = world.group_mut(group)?;
    let fw = firmware.get_mut(group)?.get_mut(i)?;
    if fw.drops(loss) {
        return None;
    }
    Some(fw.request(DeviceRef { group: g, index: i, elapsed_s }, body))
}

#[cfg(unix)]
fn serve_miners(
    listeners: Vec<(TcpListener, String, usize)>,
    shared: &Arc<Shared>,
    threads: &mut Vec<JoinHandle<()>>,
    faults: ApiFaults,
) -> Result<MinerListeners> {
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token, Waker};
    use std::os::fd::AsRawFd;

    let mut poll = Poll::new().map_err(io("miner sockets: poll"))?;
    let wake = Token(listeners.len());
    let waker = Waker::new(poll.registry(), wake).map_err(io("miner sockets: waker"))?;
    for (token, (l, group, i)) in listeners.iter().enumerate() {
        l.set_nonblocking(true).map_err(io(&format!("miner {group} #{i}")))?;
        poll.registry()
            .register(&mut SourceFd(&l.as_raw_fd()), Token(token), Interest::READABLE)
            .map_err(io(&format!("miner {group} #{i}: poll")))?;
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<(TcpStream, usize)>(QUEUED_CONNECTIONS);
    let rx = Arc::new(Mutex::new(rx));
    let names: Arc<Vec<(String, usize)>> = Arc::new(listeners.iter().map(|(_, g, i)| (g.clone(), *i)).collect());
    let delay = Duration::from_secs_f64(faults.delay_s);
    let delayed =
        (!delay.is_zero()).then(|| delayed_answers(threads, shared.clone(), names.clone(), faults.loss)).transpose()?;
    for w in 0..MINER_WORKERS {
        let (rx, names, s, delayed) = (rx.clone(), names.clone(), shared.clone(), delayed.clone());
        threads.push(spawn_named(&format!("site-miners-{w}"), move || {
            loop {
                // The poller's end closes when the site stops.
                let Ok((mut stream, m)) = rx.lock().unwrap_or_else(|e| e.into_inner()).recv() else { return };
                let Some(body) = read_request(&mut stream) else { continue };
                match &delayed {
                    // Answered on the delay's own thread: this worker takes the next request.
                    Some(d) => {
                        let _ = d.send((Instant::now() + delay, stream, m, body));
                    }
                    None => {
                        let (group, i) = &names[m];
                        reply(stream, answer_miner(&s, group, *i, &body, faults.loss));
                    }
                }
            }
        })?);
    }
    threads.push(spawn_named("site-miners-poll", move || {
        let mut events = Events::with_capacity(1024);
        loop {
            if let Err(e) = poll.poll(&mut events, None) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                eprintln!("site miners stopped: {e}");
                return;
            }
            for event in &events {
                if event.token() == wake {
                    return;
                }
                let m = event.token().0;
                // Readiness is edge-triggered: take every connection waiting.
                loop {
                    match listeners[m].0.accept() {
                        Ok((stream, _)) => {
                            // Accepted sockets inherit non-blocking mode on some systems.
                            if stream.set_nonblocking(false).is_ok() && tx.send((stream, m)).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            // Out of open files, say: the miner's client times out, and says so.
                            let (group, i) = &names[m];
                            eprintln!("miner {group} #{i}: accepting a connection: {e}");
                            break;
                        }
                    }
                }
            }
        }
    })?);
    Ok(MinerListeners { waker })
}

/// A request held back until its time: (due, connection, miner, body).
#[cfg(unix)]
type Delayed = (Instant, TcpStream, usize, Vec<u8>);

/// A thread that answers each request sent to it at its time and replies. Every request waits
/// the same delay, so they fall due in the order they came (workers racing to send can swap two
/// by microseconds, and then the later one waits a little longer, never less). It ends once
/// every sender is gone and what it holds is answered.
#[cfg(unix)]
fn delayed_answers(
    threads: &mut Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    names: Arc<Vec<(String, usize)>>,
    loss: f64,
) -> Result<std::sync::mpsc::Sender<Delayed>> {
    use std::sync::mpsc::RecvTimeoutError;
    let (tx, rx) = std::sync::mpsc::channel::<Delayed>();
    threads.push(spawn_named("site-miners-delayed", move || {
        let mut held: std::collections::VecDeque<Delayed> = std::collections::VecDeque::new();
        let mut open = true;
        while open || !held.is_empty() {
            let got = match held.front() {
                Some((due, ..)) => {
                    let wait = due.saturating_duration_since(Instant::now());
                    if wait.is_zero() {
                        let (_, stream, m, body) = held.pop_front().expect("a front");
                        let (group, i) = &names[m];
                        reply(stream, answer_miner(&shared, group, *i, &body, loss));
                        continue;
                    }
                    if !open {
                        std::thread::sleep(wait);
                        continue;
                    }
                    rx.recv_timeout(wait)
                }
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match got {
                Ok(request) => held.push_back(request),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        }
    })?);
    Ok(tx)
}

/// Elsewhere, a thread per miner.
#[cfg(not(unix))]
fn serve_miners(
    listeners: Vec<(TcpListener, String, usize)>,
    shared: &Arc<Shared>,
    threads: &mut Vec<JoinHandle<()>>,
    faults: ApiFaults,
) -> Result<MinerListeners> {
    let mut addrs = Vec::with_capacity(listeners.len());
    for (l, group, i) in listeners {
        addrs.push(l.local_addr().map_err(io(&format!("miner {group} #{i}")))?);
        let s = shared.clone();
        threads.push(spawn_named(&format!("miner-{group}-{i}"), move || {
            accept(l, &s, |body, s| {
                // One thread a miner: holding its answer back holds up only this miner.
                std::thread::sleep(Duration::from_secs_f64(faults.delay_s));
                answer_miner(s, &group, i, body, faults.loss)
            })
        })?);
    }
    Ok(MinerListeners { addrs })
}

/// Accepts connections on `listener` until the server stops, answering each on the accept
/// thread (requests are short and the world is behind one lock anyway).
fn accept(listener: TcpListener, shared: &Arc<Shared>, answer: impl Fn(&[u8], &Shared) -> Option<Vec<u8>>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        if let Ok(stream) = conn {
            serve(stream, |body| answer(body, shared));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::FleetConfig;
    use crate::miner_api::send;

    const DEMO: &str = include_str!("../../fleets/daemon-demo.toml");

    fn site(speed: f64) -> SiteServer {
        site_with_faults(speed, ApiFaults::default())
    }

    fn site_with_faults(speed: f64, miner_faults: ApiFaults) -> SiteServer {
        let world = World::new(FleetConfig::parse(DEMO).unwrap(), 2, 7).unwrap();
        let cfg = SiteServerConfig {
            control: "127.0.0.1:0".parse().unwrap(),
            miner_ip: "127.0.0.1".parse().unwrap(),
            first_miner_port: 0,
            speed,
            miner_faults,
        };
        SiteServer::spawn(world, &cfg).unwrap()
    }

    fn control(addr: SocketAddr, command: &str, parameter: Option<&str>) -> Value {
        send(addr, command, parameter, Duration::from_secs(5)).unwrap()
    }

    #[test]
    fn status_lists_every_miner_and_the_clock_runs() {
        let s = site(6000.0); // a 5-minute step every 50 ms
        let st: SiteStatus =
            serde_json::from_value(control(s.control_addr(), "status", None)["status"].clone()).unwrap();
        assert_eq!(st.sites.len(), 1);
        let miners: usize = st.sites[0].groups.iter().map(|g| g.miners.len()).sum();
        assert_eq!(miners, 58);
        assert_eq!(st.sites[0].cap_w, 180_000.0);
        std::thread::sleep(Duration::from_millis(300));
        let later = s.status();
        assert!(later.steps >= 3 && later.now_us > st.now_us, "{} steps", later.steps);
        // Handed over: nothing places jobs but the scheduler, so they queue.
        assert!(later.sites[0].running.is_empty());
    }

    #[test]
    fn a_miner_put_to_sleep_over_its_api_stops_drawing_in_the_site_meter() {
        let s = site(6000.0);
        let st = s.status();
        let addr = st.sites[0].groups[0].miners[3];
        let t = Duration::from_secs(5);
        let sid = send(addr, "logon", None, t).unwrap()["SESSION"][0]["SessionID"].as_str().unwrap().to_string();
        let r = send(addr, "curtail", Some(&format!("{sid},sleep")), t).unwrap();
        assert_eq!(r["STATUS"][0]["STATUS"], "S", "{r}");
        std::thread::sleep(Duration::from_millis(200));
        let config = send(addr, "config+power", None, t).unwrap();
        assert_eq!(config["config"][0]["CONFIG"][0]["CurtailMode"], "Sleep");
        assert!(config["power"][0]["POWER"][0]["Watts"].as_f64().unwrap() < 50.0, "{config}");
        // Its neighbour still hashes.
        let other = send(st.sites[0].groups[0].miners[4], "power", None, t).unwrap();
        assert!(other["POWER"][0]["Watts"].as_f64().unwrap() > 2000.0, "{other}");
    }

    #[test]
    fn every_miner_answers_when_all_are_asked_at_once() {
        // One poller and a few workers serve all 58 listening sockets: three requests to each
        // miner at once, 174 connections, every one answered by its own miner.
        let s = site(60.0);
        let st = s.status();
        let miners: Vec<SocketAddr> = st.sites[0].groups.iter().flat_map(|g| g.miners.clone()).collect();
        let askers: Vec<_> = miners
            .iter()
            .flat_map(|&addr| std::iter::repeat_n(addr, 3))
            .map(|addr| std::thread::spawn(move || send(addr, "config", None, Duration::from_secs(10))))
            .collect();
        let macs: Vec<String> = askers
            .into_iter()
            .map(|t| t.join().unwrap().unwrap()["CONFIG"][0]["MACAddr"].as_str().unwrap().to_string())
            .collect();
        // A miner's three replies carry its MAC address, and no two miners share one.
        for (m, three) in macs.chunks(3).enumerate() {
            assert!(three.iter().all(|mac| *mac == three[0]), "miner {} answered as {three:?}", miners[m]);
        }
        let distinct: std::collections::BTreeSet<&String> = macs.iter().collect();
        assert_eq!(distinct.len(), 58);
    }

    #[test]
    fn a_miner_delay_holds_every_answer_back_and_each_still_comes() {
        let latency = Duration::from_millis(150);
        let s = site_with_faults(60.0, ApiFaults { loss: 0.0, delay_s: latency.as_secs_f64() });
        let st = s.status();
        let miners: Vec<SocketAddr> = st.sites[0].groups.iter().flat_map(|g| g.miners.clone()).take(12).collect();
        // Twelve miners asked at once, three times the workers: every reply is its own miner's,
        // and none comes before the latency.
        let askers: Vec<_> = miners
            .iter()
            .map(|&addr| {
                std::thread::spawn(move || {
                    let sent = Instant::now();
                    let r = send(addr, "config", None, Duration::from_secs(10)).unwrap();
                    (sent.elapsed(), r["CONFIG"][0]["MACAddr"].as_str().unwrap().to_string())
                })
            })
            .collect();
        let answers: Vec<(Duration, String)> = askers.into_iter().map(|t| t.join().unwrap()).collect();
        for (took, _) in &answers {
            assert!(*took >= latency, "a reply after {took:?}, before the {latency:?} latency");
        }
        let macs: std::collections::BTreeSet<&String> = answers.iter().map(|(_, m)| m).collect();
        assert_eq!(macs.len(), 12);
        // The control API is not held back.
        assert_eq!(control(s.control_addr(), "clock", None)["ok"], true);
    }

    #[test]
    fn a_miner_dropping_every_request_answers_none() {
        let s = site_with_faults(60.0, ApiFaults { loss: 1.0, delay_s: 0.0 });
        let addr = s.status().sites[0].groups[0].miners[0];
        let err = send(addr, "config", None, Duration::from_secs(5)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
        assert_eq!(control(s.control_addr(), "clock", None)["ok"], true);
    }

    #[test]
    fn control_errors_name_the_field_and_the_value() {
        let s = site(1.0);
        let c = s.control_addr();
        let e = control(c, "place", Some("nope"));
        assert_eq!(e["ok"], false);
        assert!(e["error"].as_str().unwrap().contains("`parameter` of `place`: `nope`"), "{e}");
        let e = control(c, "place", Some("job-x,kermit-h100"));
        assert_eq!(e["error"], "place: job `job-x` is not queued", "{e}");
        let e = control(c, "preempt", Some("job-y"));
        assert!(e["error"].as_str().unwrap().contains("job-y"), "{e}");
        let e = control(c, "reboot", None);
        assert!(e["error"].as_str().unwrap().contains("unknown command `reboot`"), "{e}");
        let e = send(c, "", None, Duration::from_secs(5)).unwrap();
        assert!(e["error"].as_str().unwrap().contains("missing `command`"), "{e}");
    }
}
