//! `POST /v1/classify`: the workload classifier over a batch of job specs, with the placement
//! policy each class implies (`hcp_models::classifier::placement`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hcp_models::classifier::JobSpec;
use hcp_models::classifier::artifact::{ClassifierBundle, KIND};
use hcp_models::classifier::placement::{Placement, policy_for_qos};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::{ApiJson, App, ModelLabel};
use crate::error::{ApiError, JsonRouteErrors};

/// A job as submitted (what the scheduler knows before it starts).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobIn {
    /// Requested CPU, milli-cores.
    #[schema(minimum = 0)]
    pub cpu_milli: i64,
    /// Requested memory, MiB.
    #[schema(minimum = 0)]
    pub memory_mib: i64,
    /// GPUs, 0 to 64.
    #[schema(minimum = 0, maximum = 64)]
    pub num_gpu: i32,
    /// Share of each GPU, milli (1000 = whole GPU, 0 for CPU-only jobs).
    #[schema(minimum = 0, maximum = 1000)]
    pub gpu_milli: i32,
    /// Accepted GPU models separated by `|` (e.g. `V100M16|V100M32`); absent when any.
    #[serde(default)]
    pub gpu_spec: Option<String>,
    /// Creation time, Unix seconds (only its hour of day and weekday are used).
    #[schema(minimum = 0)]
    pub creation_time_s: i64,
}

impl From<JobIn> for JobSpec {
    fn from(j: JobIn) -> JobSpec {
        JobSpec {
            cpu_milli: j.cpu_milli,
            memory_mib: j.memory_mib,
            num_gpu: j.num_gpu,
            gpu_milli: j.gpu_milli,
            gpu_spec: j.gpu_spec,
            creation_time_s: j.creation_time_s,
        }
    }
}

/// `POST /v1/classify`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    /// The classifier to use; may be left out when one is loaded.
    #[serde(default)]
    pub model: Option<String>,
    /// 1 to `max_jobs` (see `/info`) jobs.
    pub jobs: Vec<JobIn>,
}

/// One task's answer for one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskOut {
    /// `ls_be`, `qos`, `failure`, `duration`.
    pub task: String,
    pub class: String,
    /// Probability of each class.
    pub probabilities: BTreeMap<String, f64>,
}

/// How the scheduler may treat the job.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlacementOut {
    pub preemptible: bool,
    pub curtailable: bool,
    pub reserved_capacity: bool,
}

impl From<Placement> for PlacementOut {
    fn from(p: Placement) -> PlacementOut {
        PlacementOut { preemptible: p.preemptible, curtailable: p.curtailable, reserved_capacity: p.reserved_capacity }
    }
}

/// The answers for one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobOut {
    pub tasks: Vec<TaskOut>,
    /// From the predicted QoS class (or latency-sensitive vs best-effort).
    pub placement: PlacementOut,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClassifyResponse {
    pub model: String,
    pub version: String,
    /// One per job, in the request's order.
    pub predictions: Vec<JobOut>,
}

/// Classifies checked specs.
pub fn run_classify(bundle: &ClassifierBundle, jobs: &[JobSpec]) -> Result<Vec<JobOut>, ApiError> {
    jobs.iter()
        .enumerate()
        .map(|(i, spec)| {
            let tasks = bundle.classify(spec).map_err(|e| ApiError::invalid(format!("jobs[{i}]"), e.to_string()))?;
            let qos = tasks.iter().find(|t| t.task == "qos").or_else(|| tasks.iter().find(|t| t.task == "ls_be"));
            // No class task in the model: the safe side (never preempted).
            let placement = policy_for_qos(qos.map_or("LS", |t| t.class.as_str())).into();
            let tasks = tasks
                .into_iter()
                .map(|t| TaskOut { task: t.task, class: t.class, probabilities: t.probabilities.into_iter().collect() })
                .collect();
            Ok(JobOut { tasks, placement })
        })
        .collect()
}

/// Checks the specs; the error names the job and field.
pub fn check_jobs(jobs: &[JobSpec], max_jobs: usize) -> Result<(), ApiError> {
    if jobs.is_empty() || jobs.len() > max_jobs {
        return Err(ApiError::invalid("jobs", format!("{} jobs; 1 to {max_jobs} per request", jobs.len())));
    }
    for (i, j) in jobs.iter().enumerate() {
        j.validate().map_err(|e| {
            let msg = e.to_string();
            let field = msg.split('`').nth(1).map_or(format!("jobs[{i}]"), |f| format!("jobs[{i}].{f}"));
            ApiError::invalid(field, msg.split_once(": ").map_or(msg.clone(), |(_, m)| m.to_string()))
        })?;
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v1/classify",
    request_body = ClassifyRequest,
    responses(
        (status = 200, description = "One prediction per job", body = ClassifyResponse),
        JsonRouteErrors,
    ),
    security(("bearer" = [])),
    tag = "classify"
)]
pub async fn classify(
    State(app): State<Arc<App>>,
    ApiJson(req): ApiJson<ClassifyRequest>,
) -> Result<Response, ApiError> {
    let served = app
        .registry()
        .named_or_only("classifier", &[KIND], req.model.as_deref())
        .map_err(|e| ApiError::invalid("model", e))?;
    let jobs: Vec<JobSpec> = req.jobs.into_iter().map(JobSpec::from).collect();
    check_jobs(&jobs, app.limits.max_jobs)?;
    let work = Arc::clone(&served);
    let predictions =
        app.batcher.run(move || run_classify(work.model.classifier().expect("a classifier"), &jobs)).await??;
    let body = ClassifyResponse { model: served.name.clone(), version: served.version.clone(), predictions };
    Ok((Extension(ModelLabel::of(&served)), Json(body)).into_response())
}
