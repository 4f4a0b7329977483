//! Features of a job known when it is submitted: requested CPU, memory, GPUs and GPU share,
//! the accepted GPU models, and the time of creation. Nothing observed after the start
//! (scheduling delay, phase, deletion) enters.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A job's spec as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub cpu_milli: i64,
    pub memory_mib: i64,
    pub num_gpu: i32,
    /// Share of each GPU, milli (1000 = whole GPU; 0 for CPU-only jobs).
    pub gpu_milli: i32,
    /// Accepted GPU models separated by `|`; `None` when unconstrained.
    #[serde(default)]
    pub gpu_spec: Option<String>,
    /// Creation time, seconds (trace offset or Unix time: only hour of day and day of week
    /// are used).
    pub creation_time_s: i64,
}

/// Names of the feature vector's entries, in order.
pub const FEATURE_NAMES: [&str; 17] = [
    "cpu_cores",
    "memory_gib",
    "num_gpu",
    "gpu_milli",
    "gpu_equivalents",
    "whole_gpu",
    "memory_gib_per_core",
    "cores_per_gpu_equivalent",
    "has_gpu_spec",
    "gpu_spec_models",
    "spec_v100",
    "spec_t4",
    "spec_p100",
    "spec_a10",
    "spec_internal_g",
    "hour_of_day",
    "day_of_week",
];

pub const N_FEATURES: usize = FEATURE_NAMES.len();

impl JobSpec {
    /// Checks the spec; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, why: String| Err(Error::Invalid(format!("`{field}`: {why}")));
        if self.cpu_milli < 0 {
            return bad("cpu_milli", format!("{} is negative", self.cpu_milli));
        }
        if self.memory_mib < 0 {
            return bad("memory_mib", format!("{} is negative", self.memory_mib));
        }
        if !(0..=64).contains(&self.num_gpu) {
            return bad("num_gpu", format!("{} is outside 0..=64", self.num_gpu));
        }
        if !(0..=1000).contains(&self.gpu_milli) {
            return bad("gpu_milli", format!("{} is outside 0..=1000", self.gpu_milli));
        }
        if self.creation_time_s < 0 {
            return bad("creation_time_s", format!("{} is negative", self.creation_time_s));
        }
        Ok(())
    }

    /// The feature vector, in [`FEATURE_NAMES`] order.
    pub fn features(&self) -> [f64; N_FEATURES] {
        let cores = self.cpu_milli as f64 / 1000.0;
        let gib = self.memory_mib as f64 / 1024.0;
        let gpu_eq = self.num_gpu as f64 * self.gpu_milli as f64 / 1000.0;
        let spec = self.gpu_spec.as_deref().unwrap_or("").to_ascii_uppercase();
        let models = if spec.is_empty() { 0 } else { spec.split('|').count() };
        let has = |needle: &str| spec.split('|').any(|m| m.starts_with(needle)) as u8 as f64;
        let internal_g = spec.split('|').any(|m| m.len() == 2 && m.starts_with('G')) as u8 as f64;
        [
            cores,
            gib,
            self.num_gpu as f64,
            self.gpu_milli as f64,
            gpu_eq,
            (self.num_gpu > 0 && self.gpu_milli == 1000) as u8 as f64,
            if cores > 0.0 { gib / cores } else { 0.0 },
            if gpu_eq > 0.0 { cores / gpu_eq } else { 0.0 },
            (models > 0) as u8 as f64,
            models as f64,
            has("V100"),
            has("T4"),
            has("P100"),
            has("A10"),
            internal_g,
            ((self.creation_time_s / 3600) % 24) as f64,
            ((self.creation_time_s / 86_400) % 7) as f64,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_of_a_shared_gpu_job() {
        let spec = JobSpec {
            cpu_milli: 6000,
            memory_mib: 12288,
            num_gpu: 1,
            gpu_milli: 460,
            gpu_spec: Some("V100M16|V100M32".into()),
            creation_time_s: 3 * 86_400 + 5 * 3600 + 7,
        };
        let f = spec.features();
        let get = |name: &str| f[FEATURE_NAMES.iter().position(|n| *n == name).unwrap()];
        assert_eq!(get("cpu_cores"), 6.0);
        assert_eq!(get("memory_gib_per_core"), 2.0);
        assert_eq!(get("gpu_equivalents"), 0.46);
        assert_eq!(get("whole_gpu"), 0.0);
        assert_eq!(get("gpu_spec_models"), 2.0);
        assert_eq!(get("spec_v100"), 1.0);
        assert_eq!(get("spec_t4"), 0.0);
        assert_eq!(get("hour_of_day"), 5.0);
        assert_eq!(get("day_of_week"), 3.0);
    }

    #[test]
    fn invalid_specs_name_the_field() {
        let ok = JobSpec { cpu_milli: 1, memory_mib: 1, num_gpu: 0, gpu_milli: 0, gpu_spec: None, creation_time_s: 0 };
        assert!(ok.validate().is_ok());
        let err = JobSpec { gpu_milli: 1001, ..ok.clone() }.validate().unwrap_err().to_string();
        assert!(err.contains("gpu_milli"), "{err}");
        let err = JobSpec { num_gpu: -1, ..ok }.validate().unwrap_err().to_string();
        assert!(err.contains("num_gpu"), "{err}");
    }
}
