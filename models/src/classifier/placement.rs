//! The placement policy derived from a job's class, which the scheduler applies.
//!
//! - **Latency-sensitive** (QoS LS or Guaranteed, or classified so): serves users; never
//!   preempted or curtailed for mining or price; keeps reserved GPUs (capacity is held back
//!   for it even when mining would pay more); placed on GPUs its spec accepts, whole or shared
//!   as requested; restarts warm.
//! - **Best-effort** (BE, Burstable): batch work with a deadline; preemptible (checkpoint, then
//!   resume) and curtailable when power is dear; may wait in the queue; placed where power is
//!   cheapest.
//!
//! A job predicted likely to fail is placed last among equals (it is not refused: the
//! prediction is a risk, not a verdict); a job predicted long avoids GPUs that are about to be
//! curtailed.

use serde::{Deserialize, Serialize};

/// How the scheduler may treat a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub preemptible: bool,
    pub curtailable: bool,
    pub reserved_capacity: bool,
}

/// The policy for a QoS class name (`LS`, `Guaranteed`, `BE`, `Burstable`); unknown classes
/// get the safe side (treated as latency-sensitive).
pub fn policy_for_qos(qos: &str) -> Placement {
    match qos {
        "BE" | "Burstable" => Placement { preemptible: true, curtailable: true, reserved_capacity: false },
        _ => Placement { preemptible: false, curtailable: false, reserved_capacity: true },
    }
}

/// What a GPU placement needs: which GPU models, how many, whole or shared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceFit {
    /// Accepted GPU models; empty = any.
    pub gpu_models: Vec<String>,
    pub gpus: u32,
    /// Share of each GPU, milli.
    pub gpu_milli: u32,
    pub whole_gpu: bool,
}

/// The resource that fits a spec (deterministic: it is in the spec).
pub fn resource_fit(spec: &super::JobSpec) -> ResourceFit {
    ResourceFit {
        gpu_models: spec
            .gpu_spec
            .as_deref()
            .map(|s| s.split('|').filter(|m| !m.is_empty()).map(str::to_string).collect())
            .unwrap_or_default(),
        gpus: spec.num_gpu.max(0) as u32,
        gpu_milli: spec.gpu_milli.max(0) as u32,
        whole_gpu: spec.num_gpu > 0 && spec.gpu_milli == 1000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_sensitive_work_is_never_preempted_and_unknown_is_safe() {
        assert!(!policy_for_qos("LS").preemptible && policy_for_qos("LS").reserved_capacity);
        assert!(policy_for_qos("BE").preemptible && policy_for_qos("BE").curtailable);
        assert!(!policy_for_qos("mystery").preemptible);
        let spec = super::super::JobSpec {
            cpu_milli: 1,
            memory_mib: 1,
            num_gpu: 1,
            gpu_milli: 500,
            gpu_spec: Some("V100M16|V100M32".into()),
            creation_time_s: 0,
        };
        let fit = resource_fit(&spec);
        assert_eq!(fit.gpu_models, vec!["V100M16", "V100M32"]);
        assert!(!fit.whole_gpu);
    }
}
