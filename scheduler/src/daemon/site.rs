//! The daemon's side of a site's network protocols: the control API (clock, prices, GPU pools
//! and jobs; [`hcp_sim::site_server`]) and each miner's JSON API (LuxOS dialect: `config`,
//! `power`, `summary` to read; `logon`, `atmset`, `profileset`, `curtail` to act). One request
//! per connection, read to EOF, with a timeout: a request that times out or gets no reply is
//! counted and the device is read as unknown, which the engine treats as worst case.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hcp_sim::site_server::{SiteClock, SiteStatus};
use hcp_sim::world::Command;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Sends one request and reads the whole reply.
pub async fn request(addr: SocketAddr, body: &Value, timeout: Duration) -> Result<Value, String> {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        s.write_all(&serde_json::to_vec(body).expect("serialisable")).await.map_err(|e| format!("send: {e}"))?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.map_err(|e| format!("read: {e}"))?;
        if out.is_empty() {
            return Err("no reply (request dropped)".to_string());
        }
        serde_json::from_slice(&out).map_err(|e| format!("reply is not JSON: {e}"))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r.map_err(|e| format!("{addr}: {e}")),
        Err(_) => Err(format!("{addr}: no reply within {} ms", timeout.as_millis())),
    }
}

/// The site's control API.
#[derive(Debug, Clone)]
pub struct ControlApi {
    pub addr: SocketAddr,
    pub timeout: Duration,
}

impl ControlApi {
    async fn call(&self, command: &str, parameter: Option<&str>) -> Result<Value, String> {
        let mut body = json!({ "command": command });
        if let Some(p) = parameter {
            body["parameter"] = json!(p);
        }
        let reply = request(self.addr, &body, self.timeout).await?;
        if reply.get("ok") == Some(&Value::Bool(true)) {
            Ok(reply)
        } else {
            Err(format!("{command}: {}", reply.get("error").and_then(Value::as_str).unwrap_or("refused")))
        }
    }

    pub async fn status(&self) -> Result<SiteStatus, String> {
        let reply = self.call("status", None).await?;
        serde_json::from_value(reply["status"].clone()).map_err(|e| format!("status: {e}"))
    }

    pub async fn clock(&self) -> Result<SiteClock, String> {
        let reply = self.call("clock", None).await?;
        serde_json::from_value(reply["clock"].clone()).map_err(|e| format!("clock: {e}"))
    }

    /// A node's hourly prices as published by now: (start µs, real-time, day-ahead), NaN where
    /// not published.
    pub async fn prices(&self, node: &str) -> Result<Vec<(i64, f64, f64)>, String> {
        let reply = self.call("prices", Some(node)).await?;
        let rows = reply["prices"].as_array().ok_or("prices: no `prices` list")?;
        rows.iter()
            .map(|r| {
                let price = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
                Some((r[0].as_i64()?, price(&r[1]), price(&r[2])))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| "prices: a row is not [start_us, rt, da]".to_string())
    }

    pub async fn place(&self, job: &str, pool: &str) -> Result<(), String> {
        self.call("place", Some(&format!("{job},{pool}"))).await.map(drop)
    }

    pub async fn preempt(&self, job: &str) -> Result<(), String> {
        self.call("preempt", Some(job)).await.map(drop)
    }
}

/// What one miner reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// `CurtailMode`: `None` (hashing or failed), `Sleep`, `WakingUp`.
    pub curtail: String,
    pub profile: String,
    pub power_w: f64,
    pub ghs: f64,
}

impl Reading {
    pub fn asleep(&self) -> bool {
        self.curtail == "Sleep"
    }
}

fn reading(reply: &Value) -> Option<Reading> {
    let config = &reply["config"][0]["CONFIG"][0];
    Some(Reading {
        curtail: config["CurtailMode"].as_str()?.to_string(),
        profile: config["Profile"].as_str()?.to_string(),
        power_w: reply["power"][0]["POWER"][0]["Watts"].as_f64()?,
        ghs: reply["summary"][0]["SUMMARY"][0]["GHS 5s"].as_f64()?,
    })
}

/// Counts of the miner requests one round made.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RoundCounts {
    pub ok: u64,
    pub failed: u64,
}

impl std::ops::AddAssign for RoundCounts {
    fn add_assign(&mut self, other: RoundCounts) {
        self.ok += other.ok;
        self.failed += other.failed;
    }
}

/// Talks to the miners: reads them, sets their profile and sleep state, keeping each one's API
/// session.
#[derive(Debug)]
pub struct Miners {
    pub timeout: Duration,
    limit: Arc<Semaphore>,
    sessions: BTreeMap<SocketAddr, String>,
}

impl Miners {
    /// At most `concurrency` requests in flight.
    pub fn new(timeout: Duration, concurrency: usize) -> Miners {
        Miners { timeout, limit: Arc::new(Semaphore::new(concurrency.max(1))), sessions: BTreeMap::new() }
    }

    /// Reads every address (`None`: no usable reply).
    pub async fn read_all(&self, addrs: &[SocketAddr]) -> (Vec<Option<Reading>>, RoundCounts) {
        let body = json!({ "command": "config+power+summary" });
        let mut tasks = tokio::task::JoinSet::new();
        for (i, &addr) in addrs.iter().enumerate() {
            let (limit, body, timeout) = (self.limit.clone(), body.clone(), self.timeout);
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("semaphore open");
                (i, request(addr, &body, timeout).await.ok().and_then(|r| reading(&r)))
            });
        }
        let mut out = vec![None; addrs.len()];
        let mut counts = RoundCounts::default();
        while let Some(done) = tasks.join_next().await {
            let (i, r) = done.expect("reading task does not panic");
            if r.is_some() {
                counts.ok += 1;
            } else {
                counts.failed += 1;
            }
            out[i] = r;
        }
        (out, counts)
    }

    /// The profiles one miner offers: (name, watts), lowest first.
    pub async fn profiles(&self, addr: SocketAddr) -> Result<Vec<(String, f64)>, String> {
        let reply = request(addr, &json!({ "command": "profiles" }), self.timeout).await?;
        let list = reply["PROFILES"].as_array().ok_or_else(|| format!("{addr}: `profiles` reply has no PROFILES"))?;
        let mut out: Vec<(String, f64)> =
            list.iter().filter_map(|p| Some((p["Profile Name"].as_str()?.to_string(), p["Watts"].as_f64()?))).collect();
        if out.is_empty() {
            return Err(format!("{addr}: no profiles"));
        }
        out.sort_by(|a, b| a.1.total_cmp(&b.1));
        Ok(out)
    }

    /// Sends privileged `command` with `args` to one miner, logging on (and switching ATM off
    /// for a profile change) as the firmware asks.
    async fn privileged(
        addr: SocketAddr,
        session: Option<String>,
        command: &str,
        args: &str,
        timeout: Duration,
    ) -> (Option<String>, Result<(), String>) {
        let mut sid = session;
        for _ in 0..3 {
            let id = match &sid {
                Some(id) => id.clone(),
                None => match request(addr, &json!({ "command": "logon" }), timeout).await {
                    Ok(r) => match r["SESSION"][0]["SessionID"].as_str() {
                        Some(id) => {
                            sid = Some(id.to_string());
                            id.to_string()
                        }
                        None => return (None, Err(format!("{addr}: logon gave no session"))),
                    },
                    Err(e) => return (None, Err(e)),
                },
            };
            let reply =
                match request(addr, &json!({ "command": command, "parameter": format!("{id},{args}") }), timeout).await
                {
                    Ok(r) => r,
                    Err(e) => return (sid, Err(e)),
                };
            let status = &reply["STATUS"][0];
            if status["STATUS"] == "S" {
                return (sid, Ok(()));
            }
            let msg = status["Msg"].as_str().unwrap_or("").to_string();
            if status["Code"] == 45 {
                sid = None; // the session expired: log on again
            } else if msg.contains("ATM") {
                let atm = json!({ "command": "atmset", "parameter": format!("{id},enabled=false") });
                if let Err(e) = request(addr, &atm, timeout).await {
                    return (sid, Err(e));
                }
            } else {
                return (sid, Err(format!("{addr}: {command}: {msg}")));
            }
        }
        (sid, Err(format!("{addr}: {command}: refused after logging on again")))
    }

    /// Carries out a group command on the group's miners, sending only to those whose reading
    /// differs from what it asks (or was not read): returns the counts.
    pub async fn carry_out(
        &mut self,
        command: &Command,
        addrs: &[SocketAddr],
        readings: &[Option<Reading>],
        profiles: &[(String, f64)],
    ) -> RoundCounts {
        let mut work: Vec<(SocketAddr, &'static str, String)> = Vec::new();
        for (i, &addr) in addrs.iter().enumerate() {
            let r = readings.get(i).cloned().flatten();
            let want_awake = match command {
                Command::SetAwake { count, .. } => Some(i < *count),
                Command::Sleep { .. } => Some(false),
                Command::Wake { .. } => Some(true),
                Command::SetPowerTarget { .. } => None,
            };
            if let Some(awake) = want_awake
                && r.as_ref().is_none_or(|r| r.asleep() == awake)
            {
                work.push((addr, "curtail", if awake { "wakeup" } else { "sleep" }.to_string()));
            }
            if let Command::SetPowerTarget { power_w, .. } = command {
                let name = profile_at_most(profiles, *power_w).0.clone();
                if r.as_ref().is_none_or(|r| r.profile != name) {
                    work.push((addr, "profileset", name));
                }
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (addr, cmd, args) in work {
            let (limit, timeout, session) = (self.limit.clone(), self.timeout, self.sessions.get(&addr).cloned());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("semaphore open");
                let (sid, result) = Miners::privileged(addr, session, cmd, &args, timeout).await;
                (addr, sid, result)
            });
        }
        let mut counts = RoundCounts::default();
        while let Some(done) = tasks.join_next().await {
            let (addr, sid, result) = done.expect("command task does not panic");
            match sid {
                Some(id) => self.sessions.insert(addr, id),
                None => self.sessions.remove(&addr),
            };
            match result {
                Ok(()) => counts.ok += 1,
                Err(_) => counts.failed += 1,
            }
        }
        counts
    }
}

/// The highest profile at or below `watts` (the lowest when all are above): a profile never
/// draws more than the target the plan counted.
pub fn profile_at_most(profiles: &[(String, f64)], watts: f64) -> &(String, f64) {
    profiles.iter().rev().find(|p| p.1 <= watts + 1e-6).unwrap_or(&profiles[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_chosen_never_exceeds_the_target() {
        let p = vec![("low".to_string(), 1900.0), ("mid".to_string(), 2500.0), ("default".to_string(), 2850.0)];
        assert_eq!(profile_at_most(&p, 2850.0).0, "default");
        assert_eq!(profile_at_most(&p, 2849.0).0, "mid");
        assert_eq!(profile_at_most(&p, 1900.0).0, "low");
        // Below every profile: the lowest (the plan's targets are never below the curve's
        // lowest point, which is the lowest profile).
        assert_eq!(profile_at_most(&p, 1000.0).0, "low");
    }
}
