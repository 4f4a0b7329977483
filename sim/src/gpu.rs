//! GPU pools: GPUs by model with idle and per-utilisation power, jobs placed on them (whole
//! or shared GPUs), preempted with a checkpoint cost, restarted with a model-load time (warm
//! or cold), and GPU failures that evict the jobs on them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::workload::{JobClass, SimJob};

/// A GPU model's power envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuModel {
    pub name: String,
    /// Board power limit (TDP), W.
    pub tdp_w: f64,
    /// Idle power, W.
    pub idle_w: f64,
    pub memory_mib: u64,
    /// Maximum (boost) SM clock, MHz, from the data sheet.
    pub max_sm_clock_mhz: f64,
}

impl GpuModel {
    /// Power of one healthy GPU at utilisation `util` (0-1, higher counts as 1), W.
    pub fn power_at(&self, util: f64) -> f64 {
        self.idle_w + (self.tdp_w - self.idle_w) * util.min(1.0)
    }
}

/// SM clock of an idle GPU, MHz (what `nvidia-smi` shows at rest on these boards).
pub const IDLE_SM_CLOCK_MHZ: f64 = 210.0;
/// XID that a GPU reports when it drops out ("GPU has fallen off the bus").
pub const FAILURE_XID: u32 = 79;

/// Vendor board powers (NVIDIA data sheets: H100 SXM 700 W, H800 SXM 700 W, A100 SXM 400 W,
/// L40S 350 W, A10 150 W, V100 SXM2 300 W, T4 70 W); idle powers are typical `nvidia-smi`
/// readings of an idle board, about a tenth of TDP. Boost clocks from the same data sheets.
pub fn builtin_gpu_models() -> Vec<GpuModel> {
    [
        ("H100", 700.0, 70.0, 81_559, 1980.0),
        ("H800", 700.0, 70.0, 81_559, 1980.0),
        ("A100", 400.0, 50.0, 81_920, 1410.0),
        ("L40S", 350.0, 35.0, 46_068, 2520.0),
        ("A10", 150.0, 20.0, 23_028, 1695.0),
        ("V100", 300.0, 40.0, 32_768, 1530.0),
        ("T4", 70.0, 10.0, 15_360, 1590.0),
    ]
    .into_iter()
    .map(|(name, tdp_w, idle_w, memory_mib, max_sm_clock_mhz)| GpuModel {
        name: name.into(),
        tdp_w,
        idle_w,
        memory_mib,
        max_sm_clock_mhz,
    })
    .collect()
}

/// What one GPU reports, as a monitoring agent (DCGM) reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpuReading {
    pub utilization: f64,
    pub power_w: f64,
    /// Energy since the pool was built, J.
    pub energy_j: f64,
    pub temperature_c: f64,
    pub sm_clock_mhz: f64,
    pub fb_used_mib: f64,
    pub fb_free_mib: f64,
    /// The last XID error (0: none).
    pub last_xid: u32,
    pub failed: bool,
}

pub fn gpu_model(name: &str) -> Result<GpuModel> {
    let models = builtin_gpu_models();
    models.iter().find(|m| m.name.eq_ignore_ascii_case(name)).cloned().ok_or_else(|| {
        let names: Vec<_> = models.iter().map(|m| m.name.as_str()).collect();
        Error::Config(format!("unknown GPU model `{name}`; known: {}", names.join(", ")))
    })
}

/// Switching costs and reliability of a pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GpuPhysics {
    /// Start of a serving job whose model is already in host memory, s.
    pub warm_load_s: f64,
    /// Start of a serving job that loads its model from storage, s.
    pub cold_load_s: f64,
    /// Checkpoint written when a best-effort job is preempted, s (GPU busy, no progress).
    pub checkpoint_s: f64,
    /// Restore of a checkpoint when a preempted job restarts, s.
    pub restore_s: f64,
    /// Utilisation of a running serving job (mean; it follows its request load).
    pub serving_util: f64,
    /// Utilisation of a running training or batch job.
    pub batch_util: f64,
    pub failures_per_year: f64,
    pub repair_hours: f64,
}

impl GpuPhysics {
    /// Every time finite and not negative, the repair time positive, the utilisations in
    /// 0..=1; `what` names the table in the message.
    pub fn validate(&self, what: &str) -> Result<()> {
        let time = |v: f64| v.is_finite() && v >= 0.0;
        let checks = [
            ("warm_load_s", time(self.warm_load_s)),
            ("cold_load_s", time(self.cold_load_s)),
            ("checkpoint_s", time(self.checkpoint_s)),
            ("restore_s", time(self.restore_s)),
            ("serving_util", (0.0..=1.0).contains(&self.serving_util)),
            ("batch_util", (0.0..=1.0).contains(&self.batch_util)),
            ("failures_per_year", time(self.failures_per_year)),
            ("repair_hours", time(self.repair_hours) && self.repair_hours > 0.0),
        ];
        Error::first_out_of_range(what, &checks)
    }
}

impl Default for GpuPhysics {
    fn default() -> Self {
        GpuPhysics {
            warm_load_s: 0.3,
            cold_load_s: 60.0,
            checkpoint_s: 30.0,
            restore_s: 45.0,
            serving_util: 0.55,
            batch_util: 0.92,
            failures_per_year: 0.05,
            repair_hours: 48.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuState {
    Healthy,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Loading { remaining_s: f64 },
    Running,
    Checkpointing { remaining_s: f64 },
}

#[derive(Debug, Clone)]
struct Placed {
    job: SimJob,
    gpus: Vec<u32>,
    phase: Phase,
    remaining_work_s: f64,
}

/// Why a placement failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlaceError {
    #[error("job {0} is already placed")]
    AlreadyPlaced(String),
    #[error("no room for job {job}: needs {needed} GPUs with {milli} milli free, {available} available")]
    NoRoom { job: String, needed: u32, milli: u32, available: usize },
    #[error("job {job}: GPU {gpu} is {reason}")]
    BadGpu { job: String, gpu: u32, reason: String },
}

/// What a preemption did.
#[derive(Debug, Clone, PartialEq)]
pub enum Preempted {
    /// Writing a checkpoint; the job is released at the end of it.
    Checkpointing,
    /// Stopped now, with the work it had left.
    Stopped { job: SimJob, remaining_work_s: f64 },
}

/// Events of one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolStep {
    pub power_w: f64,
    pub busy_gpus: usize,
    pub failed_gpus: usize,
    pub mean_utilization: f64,
    /// GPU-hours of useful work done in the step, by class.
    pub gpu_hours: BTreeMap<JobClass, f64>,
    /// What the work done in the step earned: job value × GPU-hours, USD.
    pub value_usd: f64,
    /// Jobs that finished, with their finish time offset in the step (s).
    pub finished: Vec<(SimJob, f64)>,
    /// Jobs evicted by GPU failures, with their remaining work; they need placing again.
    pub evicted: Vec<(SimJob, f64)>,
}

/// One pool of identical GPUs.
#[derive(Debug, Clone)]
pub struct GpuPool {
    pub id: String,
    pub model: GpuModel,
    pub physics: GpuPhysics,
    pub gpus_per_node: u32,
    state: Vec<GpuState>,
    used_milli: Vec<u32>,
    util: Vec<f32>,
    repair_s: Vec<f64>,
    energy_j: Vec<f64>,
    last_xid: Vec<u32>,
    jobs: BTreeMap<String, Placed>,
    rng: Rng,
    /// Extra failures per GPU-year injected by fault configuration.
    pub extra_failures_per_year: f64,
}

impl GpuPool {
    pub fn new(id: &str, model: GpuModel, physics: GpuPhysics, nodes: u32, gpus_per_node: u32, rng: Rng) -> Self {
        let n = (nodes * gpus_per_node) as usize;
        GpuPool {
            id: id.to_string(),
            model,
            physics,
            gpus_per_node,
            state: vec![GpuState::Healthy; n],
            used_milli: vec![0; n],
            util: vec![0.0; n],
            repair_s: vec![0.0; n],
            energy_j: vec![0.0; n],
            last_xid: vec![0; n],
            jobs: BTreeMap::new(),
            rng,
            extra_failures_per_year: 0.0,
        }
    }

    pub fn len(&self) -> usize {
        self.state.len()
    }
    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }
    pub fn is_placed(&self, job_id: &str) -> bool {
        self.jobs.contains_key(job_id)
    }

    /// Healthy GPUs with at least `milli` of their share free.
    pub fn free_gpus(&self, milli: u32) -> usize {
        let milli = milli.clamp(1, 1000);
        (0..self.len()).filter(|&i| self.state[i] == GpuState::Healthy && self.used_milli[i] + milli <= 1000).count()
    }

    /// The jobs on the pool.
    pub fn placed(&self) -> impl Iterator<Item = &SimJob> {
        self.jobs.values().map(|p| &p.job)
    }

    /// Power of one GPU at utilisation `util` (0-1), W.
    pub fn gpu_power_at(&self, util: f64) -> f64 {
        self.gpu_power(util, GpuState::Healthy)
    }

    fn gpu_power(&self, util: f64, s: GpuState) -> f64 {
        match s {
            GpuState::Healthy => self.model.power_at(util),
            GpuState::Failed => 0.0,
        }
    }

    /// Power the pool could draw if every GPU ran flat out, W (the worst case the scheduler
    /// must keep under the cap).
    pub fn max_power_w(&self) -> f64 {
        self.len() as f64 * self.model.tdp_w
    }

    /// Every GPU's reading after the last step at ambient `ambient_c`: temperature rises
    /// 10 °C at idle and 55 °C at full power above ambient; the SM clock runs from idle to
    /// boost with utilisation; framebuffer in use follows the GPU share placed on it.
    pub fn readings(&self, ambient_c: f64) -> Vec<GpuReading> {
        (0..self.len())
            .map(|i| {
                let failed = self.state[i] == GpuState::Failed;
                let utilization = if failed { 0.0 } else { f64::from(self.util[i]).min(1.0) };
                let power_w = self.gpu_power(utilization, self.state[i]);
                let fb_used_mib = if failed {
                    0.0
                } else {
                    (self.model.memory_mib as f64 * f64::from(self.used_milli[i]) / 1000.0).round()
                };
                GpuReading {
                    utilization,
                    power_w,
                    energy_j: self.energy_j[i],
                    temperature_c: if failed {
                        ambient_c
                    } else {
                        ambient_c + 10.0 + 45.0 * power_w / self.model.tdp_w
                    },
                    sm_clock_mhz: if failed {
                        0.0
                    } else {
                        IDLE_SM_CLOCK_MHZ + (self.model.max_sm_clock_mhz - IDLE_SM_CLOCK_MHZ) * utilization
                    },
                    fb_used_mib,
                    fb_free_mib: if failed { 0.0 } else { self.model.memory_mib as f64 - fb_used_mib },
                    last_xid: self.last_xid[i],
                    failed,
                }
            })
            .collect()
    }

    /// Places `job` (first fit, or on `gpus` when given). `warm`: its model is in host
    /// memory. `remaining_work_s`: work left (a restarted job pays its restore time too).
    pub fn place(
        &mut self,
        job: SimJob,
        gpus: Option<Vec<u32>>,
        warm: bool,
        remaining_work_s: Option<f64>,
    ) -> Result<(), PlaceError> {
        if self.jobs.contains_key(&job.id) {
            return Err(PlaceError::AlreadyPlaced(job.id));
        }
        let milli = job.gpu_milli.clamp(1, 1000);
        let gpus = match gpus {
            Some(g) => {
                for &i in &g {
                    let reason = match self.state.get(i as usize) {
                        None => Some("not in the pool".to_string()),
                        Some(GpuState::Failed) => Some("failed".to_string()),
                        Some(GpuState::Healthy) if self.used_milli[i as usize] + milli > 1000 => {
                            Some(format!("full ({} milli used)", self.used_milli[i as usize]))
                        }
                        _ => None,
                    };
                    if let Some(reason) = reason {
                        return Err(PlaceError::BadGpu { job: job.id, gpu: i, reason });
                    }
                }
                g
            }
            None => {
                let free: Vec<u32> = (0..self.len() as u32)
                    .filter(|&i| {
                        self.state[i as usize] == GpuState::Healthy && self.used_milli[i as usize] + milli <= 1000
                    })
                    .take(job.num_gpu as usize)
                    .collect();
                if free.len() < job.num_gpu as usize {
                    return Err(PlaceError::NoRoom { job: job.id, needed: job.num_gpu, milli, available: free.len() });
                }
                free
            }
        };
        for &i in &gpus {
            self.used_milli[i as usize] += milli;
        }
        let restarted = remaining_work_s.is_some();
        let load = match (job.class, warm) {
            (JobClass::LatencySensitive, true) => self.physics.warm_load_s,
            (JobClass::LatencySensitive, false) => self.physics.cold_load_s,
            (JobClass::BestEffort, _) if restarted => self.physics.restore_s,
            (JobClass::BestEffort, _) => self.physics.cold_load_s,
        };
        let remaining = remaining_work_s.unwrap_or(job.duration_s);
        self.jobs.insert(
            job.id.clone(),
            Placed { job, gpus, phase: Phase::Loading { remaining_s: load }, remaining_work_s: remaining },
        );
        Ok(())
    }

    /// Preempts a job. Running best-effort work first writes a checkpoint: its GPUs stay busy
    /// for `checkpoint_s`, then the job comes back in that step's `evicted` list with its
    /// remaining work. Anything else stops at once and is returned. `None`: unknown job.
    pub fn preempt(&mut self, job_id: &str) -> Option<Preempted> {
        let p = self.jobs.get_mut(job_id)?;
        if p.job.class == JobClass::BestEffort && p.phase == Phase::Running {
            p.phase = Phase::Checkpointing { remaining_s: self.physics.checkpoint_s };
            return Some(Preempted::Checkpointing);
        }
        let p = self.jobs.remove(job_id)?;
        self.release(&p);
        Some(Preempted::Stopped { job: p.job, remaining_work_s: p.remaining_work_s })
    }

    fn release(&mut self, p: &Placed) {
        let milli = p.job.gpu_milli.clamp(1, 1000);
        for &i in &p.gpus {
            self.used_milli[i as usize] -= milli;
        }
    }

    /// Fails GPU `gpu` now (fault injection); jobs on it are evicted at the next step.
    pub fn fail(&mut self, gpu: usize) {
        self.state[gpu] = GpuState::Failed;
        self.last_xid[gpu] = FAILURE_XID;
        self.repair_s[gpu] = self.physics.repair_hours * 3600.0;
    }

    /// Advances the pool by `dt_s`; `load` scales serving utilisation (request load, 0-1.5).
    pub fn step(&mut self, dt_s: f64, load: f64) -> PoolStep {
        let mut out = PoolStep::default();
        let rate = (self.physics.failures_per_year + self.extra_failures_per_year) / (365.0 * 86_400.0);
        for _ in 0..self.rng.poisson(rate * dt_s * self.len() as f64) {
            let i = (self.rng.uniform() * self.len() as f64) as usize;
            if self.state[i] == GpuState::Healthy {
                self.fail(i);
            }
        }
        for i in 0..self.len() {
            if self.state[i] == GpuState::Failed {
                self.repair_s[i] -= dt_s;
                if self.repair_s[i] <= 0.0 {
                    self.state[i] = GpuState::Healthy;
                }
            }
        }
        let failed_jobs: Vec<String> = self
            .jobs
            .iter()
            .filter(|(_, p)| p.gpus.iter().any(|&g| self.state[g as usize] == GpuState::Failed))
            .map(|(id, _)| id.clone())
            .collect();
        for id in failed_jobs {
            let p = self.jobs.remove(&id).expect("listed");
            self.release(&p);
            out.evicted.push((p.job, p.remaining_work_s));
        }
        self.util.iter_mut().for_each(|u| *u = 0.0);
        let mut done = Vec::new();
        let serving_util = (self.physics.serving_util * load).clamp(0.0, 1.0);
        for (id, p) in self.jobs.iter_mut() {
            let mut t = dt_s;
            let share = p.job.gpu_milli.clamp(1, 1000) as f64 / 1000.0;
            let mut busy_s = 0.0;
            if let Phase::Loading { remaining_s } = p.phase {
                if remaining_s > t {
                    p.phase = Phase::Loading { remaining_s: remaining_s - t };
                    t = 0.0;
                } else {
                    p.phase = Phase::Running;
                    t -= remaining_s;
                }
                busy_s += dt_s - t;
            }
            if let Phase::Checkpointing { remaining_s } = p.phase {
                if remaining_s > t {
                    p.phase = Phase::Checkpointing { remaining_s: remaining_s - t };
                } else {
                    done.push((id.clone(), dt_s - t + remaining_s, false));
                }
                busy_s += t.min(remaining_s);
                t = 0.0;
            }
            let util_running = match p.job.class {
                JobClass::LatencySensitive => serving_util,
                JobClass::BestEffort => self.physics.batch_util,
            };
            if p.phase == Phase::Running && t > 0.0 {
                let work = t.min(p.remaining_work_s);
                p.remaining_work_s -= work;
                let gpu_hours = work / 3600.0 * p.job.gpu_equivalents();
                *out.gpu_hours.entry(p.job.class).or_default() += gpu_hours;
                out.value_usd += gpu_hours * p.job.value_usd_per_gpu_hour;
                if p.remaining_work_s <= 1e-9 {
                    done.push((id.clone(), dt_s - t + work, true));
                }
                let util = (busy_s * 0.3 + work * util_running) / dt_s;
                for &g in &p.gpus {
                    self.util[g as usize] += (share * util) as f32;
                }
            } else {
                // Loading and checkpointing keep the GPU at about a third of its range.
                for &g in &p.gpus {
                    self.util[g as usize] += (share * 0.3 * busy_s / dt_s) as f32;
                }
            }
        }
        for (id, at, completed) in done {
            let p = self.jobs.remove(&id).expect("listed");
            self.release(&p);
            if completed {
                out.finished.push((p.job, at));
            } else {
                out.evicted.push((p.job, p.remaining_work_s));
            }
        }
        let mut util_sum = 0.0;
        for i in 0..self.len() {
            let w = self.gpu_power(self.util[i] as f64, self.state[i]);
            self.energy_j[i] += w * dt_s;
            out.power_w += w;
            util_sum += self.util[i].min(1.0) as f64;
            if self.used_milli[i] > 0 {
                out.busy_gpus += 1;
            }
            if self.state[i] == GpuState::Failed {
                out.failed_gpus += 1;
            }
        }
        out.mean_utilization = util_sum / self.len().max(1) as f64;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, class: JobClass, gpus: u32, milli: u32, duration_s: f64) -> SimJob {
        SimJob {
            id: id.into(),
            source: "t".into(),
            qos: "x".into(),
            class,
            num_gpu: gpus,
            gpu_milli: milli,
            cpu_milli: 1000,
            memory_mib: 1024,
            created_us: 0,
            duration_s,
            value_usd_per_gpu_hour: 1.0,
            deadline_us: None,
            sla_latency_ms: None,
        }
    }

    fn pool() -> GpuPool {
        let physics = GpuPhysics { failures_per_year: 0.0, ..GpuPhysics::default() };
        GpuPool::new("p", gpu_model("H100").unwrap(), physics, 1, 8, Rng::new(1))
    }

    #[test]
    fn idle_and_full_power_follow_the_model() {
        let mut p = pool();
        assert_eq!(p.step(60.0, 1.0).power_w, 8.0 * 70.0);
        for i in 0..8 {
            p.place(job(&format!("b{i}"), JobClass::BestEffort, 1, 1000, 1e6), None, false, None).unwrap();
        }
        p.step(60.0, 1.0); // cold load 60 s
        let s = p.step(60.0, 1.0);
        assert!((s.power_w - 8.0 * (70.0 + 630.0 * 0.92)).abs() < 1e-3, "{}", s.power_w);
        assert!(s.power_w <= p.max_power_w());
        let err = p.place(job("x", JobClass::BestEffort, 1, 1000, 1.0), None, false, None).unwrap_err();
        assert!(matches!(err, PlaceError::NoRoom { .. }), "{err}");
    }

    #[test]
    fn shared_gpus_warm_and_cold_loads_and_completion() {
        let mut p = pool();
        p.place(job("a", JobClass::LatencySensitive, 1, 500, 100.0), Some(vec![0]), true, None).unwrap();
        p.place(job("b", JobClass::LatencySensitive, 1, 500, 100.0), Some(vec![0]), false, None).unwrap();
        let err = p.place(job("c", JobClass::LatencySensitive, 1, 500, 10.0), Some(vec![0]), true, None).unwrap_err();
        assert!(err.to_string().contains("full"), "{err}");
        // After 100.3 s the warm job is done; the cold one still has 60 s of work left.
        let s = p.step(100.3, 1.0);
        assert_eq!(s.finished.len(), 1);
        assert_eq!(s.finished[0].0.id, "a");
        assert!((s.finished[0].1 - 100.3).abs() < 1e-9);
        let s = p.step(60.0, 1.0);
        assert_eq!(s.finished[0].0.id, "b");
    }

    #[test]
    fn preemption_checkpoints_then_restore_costs_time() {
        let mut p = pool();
        p.place(job("t", JobClass::BestEffort, 2, 1000, 1000.0), None, false, None).unwrap();
        p.step(160.0, 1.0); // 60 s load + 100 s work
        assert_eq!(p.preempt("t"), Some(Preempted::Checkpointing));
        let s = p.step(10.0, 1.0);
        assert!(s.evicted.is_empty() && p.is_placed("t"), "checkpoint takes 30 s");
        let mut s = p.step(30.0, 1.0);
        assert_eq!(s.evicted.len(), 1);
        assert!(!p.is_placed("t"));
        let (j, left) = s.evicted.remove(0);
        assert!((left - 900.0).abs() < 1e-9);
        p.place(j, None, false, Some(left)).unwrap();
        let s = p.step(945.0, 1.0); // 45 s restore + 900 s work
        assert_eq!(s.finished.len(), 1);
        // A serving job stops at once.
        p.place(job("s", JobClass::LatencySensitive, 1, 1000, 1000.0), None, true, None).unwrap();
        assert!(matches!(p.preempt("s"), Some(Preempted::Stopped { .. })));
        assert!(!p.is_placed("s") && p.preempt("s").is_none());
    }

    #[test]
    fn a_failed_gpu_evicts_its_jobs_and_draws_nothing() {
        let mut p = pool();
        p.place(job("t", JobClass::BestEffort, 1, 1000, 1000.0), Some(vec![3]), false, None).unwrap();
        p.fail(3);
        let s = p.step(1.0, 1.0);
        assert_eq!(s.evicted.len(), 1);
        assert_eq!(s.failed_gpus, 1);
        assert!((s.power_w - 7.0 * 70.0).abs() < 1e-9);
    }
}
