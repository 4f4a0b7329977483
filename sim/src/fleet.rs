//! The fleet file (`FLEET.toml`): sites with their power cap, settlement point and climate,
//! ASIC groups, GPU pools, the market, Bitcoin and workload scenarios, and injected faults.
//! Unknown keys are refused, and every check names the field it refers to.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::asic::{AsicCatalog, AsicPhysics};
use crate::btc::{BtcScenario, RentalScenario};
use crate::error::{Error, Result};
use crate::faults::FaultConfig;
use crate::gpu::{GpuPhysics, gpu_model};
use crate::workload::JobEconomics;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    pub name: String,
    /// First simulated day, `YYYY-MM-DD` (UTC midnight).
    pub start: String,
    #[serde(default = "default_step_minutes")]
    pub step_minutes: u32,
    #[serde(default)]
    pub market: MarketConfig,
    #[serde(default)]
    pub bitcoin: BtcScenario,
    #[serde(default)]
    pub rental: RentalScenario,
    #[serde(default)]
    pub workload: WorkloadConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub faults: FaultConfig,
    pub sites: Vec<SiteConfig>,
}

fn default_step_minutes() -> u32 {
    5
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketConfig {
    /// `synthetic` (calibrated model) or `replay` (a real ERCOT file).
    pub source: String,
    /// Calibration per node (`HB_WEST = "ercot_hb_west"`): a built-in name or a JSON path;
    /// default `ercot_<node>`.
    pub calibrations: std::collections::BTreeMap<String, String>,
    /// Correlation of the nodes' price shocks (synthetic).
    pub shock_correlation: f64,
    /// ERCOT hourly file for replay, relative to the fleet file.
    pub replay_file: Option<PathBuf>,
}

impl Default for MarketConfig {
    fn default() -> Self {
        MarketConfig {
            source: "synthetic".into(),
            calibrations: Default::default(),
            shock_correlation: 0.9,
            replay_file: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadConfig {
    /// Traces whose fitted workloads arrive (see `sim/calibration/alibaba_workloads.json`).
    pub traces: Vec<String>,
    /// Arrival multiplier on top of scaling by simulated GPUs / trace GPUs.
    pub load_factor: f64,
    pub economics: JobEconomics,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            traces: vec!["alibaba_v2023_default".into(), "alibaba_v2025_dlrm".into()],
            load_factor: 1.0,
            economics: JobEconomics::default(),
        }
    }
}

/// The operator's default policy when no scheduler drives the simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// `always_on`, or `breakeven`: a group sleeps while the last known real-time price is
    /// above the price at which its mining revenue equals its energy cost (what miners do
    /// today), and wakes when it falls back below; or `scheduler`: hcp's scheduler runs the
    /// groups and places the jobs (backtests, the daemon), and keeps the cap, so the cap may
    /// be below what everything draws at full power.
    pub mining: String,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig { mining: "breakeven".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub id: String,
    /// Settlement point whose price the site pays.
    pub node: String,
    pub power_cap_mw: f64,
    #[serde(default = "default_ambient")]
    pub ambient_mean_c: f64,
    #[serde(default = "default_daily_amplitude")]
    pub ambient_daily_amplitude_c: f64,
    #[serde(default = "default_annual_amplitude")]
    pub ambient_annual_amplitude_c: f64,
    #[serde(default)]
    pub asic_groups: Vec<AsicGroupConfig>,
    #[serde(default)]
    pub gpu_pools: Vec<GpuPoolConfig>,
}

fn default_ambient() -> f64 {
    20.0
}
fn default_daily_amplitude() -> f64 {
    7.0
}
fn default_annual_amplitude() -> f64 {
    10.0
}

/// The most devices of one ASIC group, or GPUs of one pool: beyond any site, and a guard against
/// a count typed with extra digits (and, for a pool, against its nodes × GPUs overflowing).
pub const MAX_DEVICES: usize = 1_000_000;
/// The most GPUs of one node (eight or sixteen in today's servers).
pub const MAX_GPUS_PER_NODE: u32 = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsicGroupConfig {
    pub id: String,
    pub model: String,
    pub count: usize,
    /// Initial power target per device, W; default the model's stock power.
    pub power_target_w: Option<f64>,
    #[serde(default)]
    pub physics: AsicPhysics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuPoolConfig {
    pub id: String,
    pub model: String,
    pub nodes: u32,
    #[serde(default = "default_gpus_per_node")]
    pub gpus_per_node: u32,
    #[serde(default)]
    pub physics: GpuPhysics,
}

fn default_gpus_per_node() -> u32 {
    8
}

impl FleetConfig {
    /// Reads and validates a fleet file; relative paths inside it resolve against its folder.
    pub fn load(path: &Path) -> Result<FleetConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut cfg: FleetConfig = toml::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: {}", path.display(), e.to_string().trim())))?;
        if let Some(f) = &cfg.market.replay_file
            && f.is_relative()
        {
            cfg.market.replay_file = Some(path.parent().unwrap_or(Path::new(".")).join(f));
        }
        cfg.validate().map_err(|e| match e {
            Error::Config(why) => Error::Config(format!("{}: {why}", path.display())),
            other => other,
        })?;
        Ok(cfg)
    }

    pub fn parse(text: &str) -> Result<FleetConfig> {
        let cfg: FleetConfig = toml::from_str(text).map_err(|e| Error::Config(e.to_string().trim().to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The nodes its sites are on, sorted, each once.
    pub fn nodes(&self) -> Vec<&str> {
        let mut nodes: Vec<&str> = self.sites.iter().map(|s| s.node.as_str()).collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }

    pub fn start_us(&self) -> Result<i64> {
        chrono::NaiveDate::parse_from_str(&self.start, "%Y-%m-%d")
            .map(hcp_datasets::time::date_micros)
            .map_err(|_| Error::Config(format!("`start` = `{}` is not a YYYY-MM-DD date", self.start)))
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: String, why: String| Err(Error::Config(format!("`{field}`: {why}")));
        self.start_us()?;
        if self.step_minutes == 0 || 60 % self.step_minutes != 0 {
            return bad("step_minutes".into(), format!("{} does not divide an hour", self.step_minutes));
        }
        if !matches!(self.market.source.as_str(), "synthetic" | "replay") {
            return bad("market.source".into(), format!("`{}` is not `synthetic` or `replay`", self.market.source));
        }
        if self.market.source == "replay" && self.market.replay_file.is_none() {
            return bad("market.replay_file".into(), "replay needs a file".into());
        }
        if !(0.0..=1.0).contains(&self.market.shock_correlation) {
            return bad("market.shock_correlation".into(), "must be in 0..=1".into());
        }
        if !matches!(self.policy.mining.as_str(), "always_on" | "breakeven" | "scheduler") {
            return bad(
                "policy.mining".into(),
                format!("`{}` is not `always_on`, `breakeven` or `scheduler`", self.policy.mining),
            );
        }
        if !(self.workload.load_factor >= 0.0 && self.workload.load_factor.is_finite()) {
            return bad("workload.load_factor".into(), "must be >= 0".into());
        }
        // A trace listed twice would run two generators of it: twice its jobs, silently.
        if let Some((i, t)) =
            self.workload.traces.iter().enumerate().find(|(i, t)| self.workload.traces[..*i].contains(t))
        {
            return bad(format!("workload.traces[{i}]"), format!("`{t}` is listed twice"));
        }
        self.bitcoin.validate()?;
        self.faults.validate()?;
        if self.sites.is_empty() {
            return bad("sites".into(), "at least one site is needed".into());
        }
        let catalog = AsicCatalog::builtin();
        let mut ids = std::collections::HashSet::new();
        for (s, site) in self.sites.iter().enumerate() {
            let at = format!("sites[{s}]");
            if !ids.insert(site.id.clone()) {
                return bad(format!("{at}.id"), format!("`{}` is used twice", site.id));
            }
            if !(site.power_cap_mw > 0.0 && site.power_cap_mw.is_finite()) {
                return bad(format!("{at}.power_cap_mw"), "must be > 0".into());
            }
            let ambient = [
                ("ambient_mean_c", site.ambient_mean_c, -60.0..=60.0),
                ("ambient_daily_amplitude_c", site.ambient_daily_amplitude_c, 0.0..=40.0),
                ("ambient_annual_amplitude_c", site.ambient_annual_amplitude_c, 0.0..=40.0),
            ];
            for (field, value, range) in ambient {
                if !range.contains(&value) {
                    return bad(
                        format!("{at}.{field}"),
                        format!("{value} °C is outside {}..={} °C", range.start(), range.end()),
                    );
                }
            }
            let (mut asics_w, mut gpus_full_w, mut gpus_idle_w) = (0.0, 0.0, 0.0);
            for (g, group) in site.asic_groups.iter().enumerate() {
                let at = format!("{at}.asic_groups[{g}]");
                if !ids.insert(group.id.clone()) {
                    return bad(format!("{at}.id"), format!("`{}` is used twice", group.id));
                }
                let model =
                    catalog.get(&group.model).map_err(|e| Error::Config(format!("`{at}.model`: {}", reason(e))))?;
                // An empty group (`count = 0`, or a pool of `nodes = 0`) is one not installed yet,
                // or taken out.
                if group.count > MAX_DEVICES {
                    return bad(format!("{at}.count"), format!("{} is outside 0..={MAX_DEVICES}", group.count));
                }
                let target = group.power_target_w.unwrap_or(model.stock.power_w);
                if !(model.min_power_w()..=model.max_power_w()).contains(&target) {
                    return bad(
                        format!("{at}.power_target_w"),
                        format!(
                            "{target} W is outside {}'s {:.0}..={:.0} W",
                            model.name,
                            model.min_power_w(),
                            model.max_power_w()
                        ),
                    );
                }
                group.physics.validate(&format!("{at}.physics"))?;
                asics_w += target * group.count as f64;
            }
            for (p, pool) in site.gpu_pools.iter().enumerate() {
                let at = format!("{at}.gpu_pools[{p}]");
                if !ids.insert(pool.id.clone()) {
                    return bad(format!("{at}.id"), format!("`{}` is used twice", pool.id));
                }
                let model =
                    gpu_model(&pool.model).map_err(|e| Error::Config(format!("`{at}.model`: {}", reason(e))))?;
                if !(1..=MAX_GPUS_PER_NODE).contains(&pool.gpus_per_node) {
                    return bad(
                        format!("{at}.gpus_per_node"),
                        format!("{} is outside 1..={MAX_GPUS_PER_NODE}", pool.gpus_per_node),
                    );
                }
                let gpus = u64::from(pool.nodes) * u64::from(pool.gpus_per_node);
                if gpus > MAX_DEVICES as u64 {
                    return bad(format!("{at}.nodes"), format!("{gpus} GPUs in the pool; at most {MAX_DEVICES}"));
                }
                pool.physics.validate(&format!("{at}.physics"))?;
                gpus_full_w += model.tdp_w * (pool.nodes * pool.gpus_per_node) as f64;
                gpus_idle_w += model.idle_w * (pool.nodes * pool.gpus_per_node) as f64;
            }
            // A scheduler takes over a site whose miners run at their targets and whose GPUs
            // are idle: that starting draw must fit, before its first command lands.
            if self.policy.mining == "scheduler" && asics_w + gpus_idle_w > site.power_cap_mw * 1e6 {
                return bad(
                    format!("{at}.power_cap_mw"),
                    format!(
                        "the site starts at {:.3} MW (ASICs at their targets, GPUs idle), above the cap of {} MW",
                        (asics_w + gpus_idle_w) / 1e6,
                        site.power_cap_mw
                    ),
                );
            }
            // Without a scheduler the simulator runs everything at its configured point: that
            // worst case must fit under the cap, or the site would trip its breaker.
            let draw_w = asics_w + gpus_full_w;
            if draw_w > site.power_cap_mw * 1e6 && self.policy.mining != "scheduler" {
                return bad(
                    format!("{at}.power_cap_mw"),
                    format!(
                        "{:.3} MW of ASICs at their targets plus GPUs at full power exceeds the cap of {} MW",
                        draw_w / 1e6,
                        site.power_cap_mw
                    ),
                );
            }
        }
        Ok(())
    }
}

/// What a nested error says, without a second `configuration:` where it is one already.
fn reason(e: Error) -> String {
    match e {
        Error::Config(why) => why,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
name = "t"
start = "2025-01-01"
[[sites]]
id = "a"
node = "HB_WEST"
power_cap_mw = 1.0
[[sites.asic_groups]]
id = "a-s19"
model = "Antminer S19j Pro"
count = 100
"#;

    #[test]
    fn a_small_fleet_parses_with_defaults() {
        let cfg = FleetConfig::parse(SMALL).unwrap();
        assert_eq!(cfg.step_minutes, 5);
        assert_eq!(cfg.policy.mining, "breakeven");
        assert_eq!(cfg.sites[0].asic_groups[0].physics, AsicPhysics::default());
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (SMALL.replace("count = 100", "count = 1000"), "sites[0].power_cap_mw"),
            (SMALL.replace("Antminer S19j Pro", "Antminer S99"), "sites[0].asic_groups[0].model"),
            (
                SMALL.replace("count = 100", "count = 100\npower_target_w = 5000"),
                "sites[0].asic_groups[0].power_target_w",
            ),
            (SMALL.replace("count = 100", "count = 100\ncolour = 1"), "colour"),
            (SMALL.replace("2025-01-01", "2025-13-01"), "start"),
            (SMALL.replace("name = \"t\"", "name = \"t\"\nstep_minutes = 7"), "step_minutes"),
            (format!("{SMALL}\n[faults]\ncommand_loss = 1.5\n"), "faults.command_loss"),
            (
                SMALL.replace("power_cap_mw = 1.0", "power_cap_mw = 1.0\nambient_mean_c = nan"),
                "sites[0].ambient_mean_c",
            ),
            (
                SMALL.replace("power_cap_mw = 1.0", "power_cap_mw = 1.0\nambient_daily_amplitude_c = -3"),
                "sites[0].ambient_daily_amplitude_c",
            ),
            (
                format!(
                    "{SMALL}[[sites.gpu_pools]]\nid = \"g\"\nmodel = \"H100\"\nnodes = 1\nphysics = {{ batch_util = 1.5 }}\n"
                ),
                "sites[0].gpu_pools[0].physics: `batch_util`",
            ),
            (
                format!(
                    "{SMALL}[[sites.gpu_pools]]\nid = \"g\"\nmodel = \"H100\"\nnodes = 1\nphysics = {{ cold_load_s = inf }}\n"
                ),
                "sites[0].gpu_pools[0].physics: `cold_load_s`",
            ),
            (SMALL.replace("count = 100", "count = 1000001"), "sites[0].asic_groups[0].count"),
            (
                format!("{SMALL}[[sites.gpu_pools]]\nid = \"g\"\nmodel = \"H100\"\nnodes = 1\ngpus_per_node = 0\n"),
                "sites[0].gpu_pools[0].gpus_per_node",
            ),
            (
                // 4e9 GPUs: the product overflowed a u32 before it was checked.
                format!(
                    "{SMALL}[[sites.gpu_pools]]\nid = \"g\"\nmodel = \"H100\"\nnodes = 100000000\ngpus_per_node = 40\n"
                ),
                "sites[0].gpu_pools[0].nodes",
            ),
            (
                format!("{SMALL}\n[workload]\ntraces = [\"alibaba_v2023_default\", \"alibaba_v2023_default\"]\n"),
                "workload.traces[1]`: `alibaba_v2023_default` is listed twice",
            ),
        ];
        for (text, field) in cases {
            let err = FleetConfig::parse(&text).unwrap_err().to_string();
            assert!(err.contains(field), "expected `{field}` in: {err}");
            assert_eq!(err.matches("configuration:").count(), 1, "one `configuration:` in: {err}");
        }
    }

    #[test]
    fn example_fleets_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fleets");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                FleetConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 2, "example fleets in fleets/");
    }
}
