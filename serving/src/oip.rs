//! The Open Inference Protocol v2 (KServe, Triton, MLServer): server and model metadata,
//! readiness, and `infer` with tensors in and out. Tensors are flat (row-major) arrays of
//! numbers or strings; a missing value has no encoding here (use `/v1/forecast/price`, whose
//! `null` marks an unknown hour).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hcp_models::classifier::JobSpec;
use hcp_models::forecast::demand_model::DemandModel;
use hcp_models::forecast::realtime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::{ApiJson, App, ModelLabel};
use crate::classify::{check_jobs, run_classify};
use crate::error::{ApiError, ErrorBody, JsonRouteErrors};
use crate::forecast::{DemandInput, PriceInput, check_demand, check_price, run_demand, run_price};
use crate::registry::{Model, Served};

/// A tensor's values, flat in row-major order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum TensorData {
    Numbers(Vec<f64>),
    Strings(Vec<String>),
}

impl TensorData {
    fn len(&self) -> usize {
        match self {
            TensorData::Numbers(v) => v.len(),
            TensorData::Strings(v) => v.len(),
        }
    }
}

/// An input tensor.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputTensor {
    pub name: String,
    pub shape: Vec<usize>,
    /// `FP64`, `FP32`, `INT64`, `INT32` or `BYTES`.
    pub datatype: String,
    pub data: TensorData,
    #[serde(default)]
    pub parameters: Option<BTreeMap<String, String>>,
}

/// An output the caller wants.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestedOutput {
    pub name: String,
    #[serde(default)]
    pub parameters: Option<BTreeMap<String, String>>,
}

/// `POST /v2/models/{name}/infer`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InferRequest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub parameters: Option<BTreeMap<String, String>>,
    pub inputs: Vec<InputTensor>,
    /// Outputs to return (all when left out).
    #[serde(default)]
    pub outputs: Option<Vec<RequestedOutput>>,
}

/// An output tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OutputTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub datatype: String,
    pub data: TensorData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub outputs: Vec<OutputTensor>,
}

/// A tensor's name, type and shape (-1: any length).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelMetadata {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: String,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServerMetadata {
    pub name: String,
    pub version: String,
    pub extensions: Vec<String>,
}

fn meta(name: &str, datatype: &str, shape: &[i64]) -> TensorMetadata {
    TensorMetadata { name: name.into(), datatype: datatype.into(), shape: shape.to_vec() }
}

const QUANTILE_OUTPUTS: [&str; 4] = ["mean", "p10", "p50", "p90"];
const JOB_INPUTS: [&str; 5] = ["cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "creation_time_s"];

/// The tensors a model reads and writes.
pub fn tensors(model: &Model) -> (Vec<TensorMetadata>, Vec<TensorMetadata>) {
    match model {
        Model::Price(_) => (
            vec![meta("start_unix_s", "INT64", &[1]), meta("rt", "FP64", &[-1]), meta("da", "FP64", &[-1])],
            std::iter::once(meta("horizon", "INT64", &[-1]))
                .chain(std::iter::once(meta("target_start_unix_s", "INT64", &[-1])))
                .chain(QUANTILE_OUTPUTS.iter().map(|n| meta(n, "FP64", &[-1])))
                .collect(),
        ),
        Model::Demand(m) => (
            match m {
                DemandModel::Lear(_) => vec![meta("history", "FP64", &[-1])],
                // The LSTM reads the clock of each hour.
                DemandModel::Lstm(_) => vec![meta("start_unix_s", "INT64", &[1]), meta("history", "FP64", &[-1])],
            },
            QUANTILE_OUTPUTS
                .iter()
                .map(|n| meta(n, "FP64", &[hcp_models::forecast::demand::HORIZONS as i64]))
                .collect(),
        ),
        Model::Classifier(b) => (
            JOB_INPUTS
                .iter()
                .map(|n| meta(n, "INT64", &[-1]))
                .chain(std::iter::once(meta("gpu_spec", "BYTES", &[-1])))
                .collect(),
            b.tasks
                .iter()
                .flat_map(|t| {
                    [
                        meta(&t.task, "BYTES", &[-1]),
                        meta(&format!("{}_probabilities", t.task), "FP64", &[-1, t.classes.len() as i64]),
                    ]
                })
                .collect(),
        ),
    }
}

fn find_model(app: &App, name: &str, version: Option<&str>) -> Result<Arc<Served>, ApiError> {
    let registry = app.registry();
    let served = registry
        .get(name)
        .ok_or_else(|| ApiError::not_found(format!("no model `{name}` is loaded (models: {:?})", registry.names())))?;
    if let Some(v) = version
        && v != served.version
    {
        return Err(ApiError::not_found(format!("model `{name}` has version {}, not {v}", served.version)));
    }
    Ok(Arc::clone(served))
}

#[utoipa::path(get, path = "/v2", responses((status = 200, body = ServerMetadata)), tag = "v2")]
pub async fn server_metadata() -> Json<ServerMetadata> {
    Json(ServerMetadata { name: "hcp".into(), version: env!("CARGO_PKG_VERSION").into(), extensions: Vec::new() })
}

#[utoipa::path(get, path = "/v2/health/live", responses((status = 200, description = "The process is up")), tag = "v2")]
pub async fn live() -> StatusCode {
    StatusCode::OK
}

#[utoipa::path(
    get,
    path = "/v2/health/ready",
    responses((status = 200, description = "Taking requests"), (status = 503, description = "Draining", body = ErrorBody)),
    tag = "v2"
)]
pub async fn ready(State(app): State<Arc<App>>) -> Response {
    if app.is_ready() {
        StatusCode::OK.into_response()
    } else {
        ApiError::unavailable("draining: shutting down").into_response()
    }
}

fn metadata(served: &Served) -> ModelMetadata {
    let (inputs, outputs) = tensors(&served.model);
    ModelMetadata {
        name: served.name.clone(),
        versions: vec![served.version.clone()],
        platform: format!("hcp/{}", served.model.kind()),
        inputs,
        outputs,
    }
}

#[utoipa::path(
    get,
    path = "/v2/models/{name}",
    params(("name" = String, Path, description = "Model name")),
    responses((status = 200, body = ModelMetadata), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "v2"
)]
pub async fn model_metadata(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Json<ModelMetadata>, ApiError> {
    let served = find_model(&app, &name, None)?;
    Ok(Json(metadata(&served)))
}

#[utoipa::path(
    get,
    path = "/v2/models/{name}/versions/{version}",
    params(("name" = String, Path, description = "Model name"), ("version" = String, Path, description = "Model version")),
    responses((status = 200, body = ModelMetadata), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "v2"
)]
pub async fn model_version_metadata(
    State(app): State<Arc<App>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<ModelMetadata>, ApiError> {
    let served = find_model(&app, &name, Some(&version))?;
    Ok(Json(metadata(&served)))
}

#[utoipa::path(
    get,
    path = "/v2/models/{name}/ready",
    params(("name" = String, Path, description = "Model name")),
    responses((status = 200, description = "Loaded and passed its smoke test"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "v2"
)]
pub async fn model_ready(State(app): State<Arc<App>>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    find_model(&app, &name, None)?;
    if app.is_ready() { Ok(StatusCode::OK) } else { Err(ApiError::unavailable("draining: shutting down")) }
}

#[utoipa::path(
    get,
    path = "/v2/models/{name}/versions/{version}/ready",
    params(("name" = String, Path, description = "Model name"), ("version" = String, Path, description = "Model version")),
    responses((status = 200, description = "Loaded and passed its smoke test"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "v2"
)]
pub async fn model_version_ready(
    State(app): State<Arc<App>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    find_model(&app, &name, Some(&version))?;
    if app.is_ready() { Ok(StatusCode::OK) } else { Err(ApiError::unavailable("draining: shutting down")) }
}

/// The inputs of a request by name, checked against the model's tensors.
struct Inputs<'a> {
    by_name: BTreeMap<&'a str, (usize, &'a InputTensor)>,
}

impl<'a> Inputs<'a> {
    fn new(req: &'a InferRequest, expected: &[TensorMetadata], optional: &[&str]) -> Result<Inputs<'a>, ApiError> {
        let mut by_name = BTreeMap::new();
        for (i, t) in req.inputs.iter().enumerate() {
            let field = format!("inputs[{i}]");
            let Some(m) = expected.iter().find(|m| m.name == t.name) else {
                let names: Vec<&str> = expected.iter().map(|m| m.name.as_str()).collect();
                return Err(ApiError::invalid(
                    format!("{field}.name"),
                    format!("`{}` is not an input of this model (inputs: {names:?})", t.name),
                ));
            };
            if by_name.insert(t.name.as_str(), (i, t)).is_some() {
                return Err(ApiError::invalid(format!("{field}.name"), format!("`{}` is given twice", t.name)));
            }
            let numeric = ["FP64", "FP32", "INT64", "INT32"];
            let type_ok =
                if m.datatype == "BYTES" { t.datatype == "BYTES" } else { numeric.contains(&t.datatype.as_str()) };
            if !type_ok {
                return Err(ApiError::invalid(
                    format!("{field}.datatype"),
                    format!("`{}`; `{}` takes {}", t.datatype, t.name, m.datatype),
                ));
            }
            let product: usize = t.shape.iter().product();
            if product != t.data.len() {
                return Err(ApiError::invalid(
                    format!("{field}.shape"),
                    format!("{:?} holds {product} values, `data` has {}", t.shape, t.data.len()),
                ));
            }
            if t.shape.len() != m.shape.len() {
                return Err(ApiError::invalid(
                    format!("{field}.shape"),
                    format!("{:?}; `{}` has {} dimension(s)", t.shape, t.name, m.shape.len()),
                ));
            }
            // Strings for BYTES, numbers otherwise (an empty array parses as numbers: fine for both).
            let data_ok = match (&t.data, m.datatype == "BYTES") {
                (TensorData::Strings(_), bytes) => bytes,
                (TensorData::Numbers(v), true) => v.is_empty(),
                (TensorData::Numbers(_), false) => true,
            };
            if !data_ok {
                return Err(ApiError::invalid(
                    format!("{field}.data"),
                    format!("`{}` takes {} values", t.name, m.datatype),
                ));
            }
            if m.datatype.starts_with("INT")
                && let TensorData::Numbers(v) = &t.data
                && let Some(j) = v.iter().position(|x| x.fract() != 0.0 || x.abs() > 9.0e15)
            {
                return Err(ApiError::invalid(format!("{field}.data[{j}]"), format!("{} is not an integer", v[j])));
            }
        }
        for m in expected {
            if !by_name.contains_key(m.name.as_str()) && !optional.contains(&m.name.as_str()) {
                return Err(ApiError::invalid("inputs", format!("`{}` is missing", m.name)));
            }
        }
        Ok(Inputs { by_name })
    }

    fn numbers(&self, name: &str) -> Vec<f64> {
        match self.by_name.get(name).map(|(_, t)| &t.data) {
            Some(TensorData::Numbers(v)) => v.clone(),
            _ => Vec::new(),
        }
    }

    fn strings(&self, name: &str) -> Option<Vec<String>> {
        match self.by_name.get(name).map(|(_, t)| &t.data) {
            Some(TensorData::Strings(v)) => Some(v.clone()),
            _ => None,
        }
    }
}

fn out(name: &str, datatype: &str, shape: Vec<usize>, data: TensorData) -> OutputTensor {
    OutputTensor { name: name.into(), shape, datatype: datatype.into(), data }
}

fn quantile_outputs(rows: &[(f64, [f64; 3])]) -> Vec<OutputTensor> {
    // QUANTILE_OUTPUTS: the mean, then the three quantiles.
    let column = |i: usize| TensorData::Numbers(rows.iter().map(|(m, q)| if i == 0 { *m } else { q[i - 1] }).collect());
    QUANTILE_OUTPUTS.iter().enumerate().map(|(i, name)| out(name, "FP64", vec![rows.len()], column(i))).collect()
}

async fn infer_with(app: &App, served: Arc<Served>, req: InferRequest) -> Result<Response, ApiError> {
    let (expected_in, expected_out) = tensors(&served.model);
    if let Some(wanted) = &req.outputs
        && let Some((i, o)) = wanted.iter().enumerate().find(|(_, o)| !expected_out.iter().any(|m| m.name == o.name))
    {
        let names: Vec<&str> = expected_out.iter().map(|m| m.name.as_str()).collect();
        return Err(ApiError::invalid(
            format!("outputs[{i}].name"),
            format!("`{}` is not an output of this model (outputs: {names:?})", o.name),
        ));
    }
    let work = Arc::clone(&served);
    let outputs = match &served.model {
        Model::Price(model) => {
            let inputs = Inputs::new(&req, &expected_in, &[])?;
            let start = inputs.numbers("start_unix_s");
            if start.len() != 1 {
                return Err(ApiError::invalid("inputs", "`start_unix_s` holds one value"));
            }
            // Integers reach 9e15 here: seconds that many overflow µs.
            let start_us = (start[0] as i64)
                .checked_mul(1_000_000)
                .ok_or_else(|| ApiError::invalid("inputs[start_unix_s]", "outside 2000-01-01 .. 2100-01-01 UTC"))?;
            let input = PriceInput {
                start_us,
                rt: inputs.numbers("rt"),
                da: inputs.numbers("da"),
                horizons: realtime::HORIZONS,
            };
            check_price(&input, model, &app.limits, ["inputs[start_unix_s]", "inputs[rt]", "inputs[da]"])?;
            let (rows, _) =
                app.batcher.run(move || run_price(work.model.price().expect("a price model"), &input)).await??;
            let q: Vec<(f64, [f64; 3])> = rows.iter().map(|h| (h.mean, h.quantiles)).collect();
            let mut outs = vec![
                out(
                    "horizon",
                    "INT64",
                    vec![rows.len()],
                    TensorData::Numbers(rows.iter().map(|h| h.horizon as f64).collect()),
                ),
                out(
                    "target_start_unix_s",
                    "INT64",
                    vec![rows.len()],
                    TensorData::Numbers(rows.iter().map(|h| (h.target_start_us / 1_000_000) as f64).collect()),
                ),
            ];
            outs.extend(quantile_outputs(&q));
            outs
        }
        Model::Demand(model) => {
            let inputs = Inputs::new(&req, &expected_in, &[])?;
            let start_us = match model {
                DemandModel::Lear(_) => None,
                DemandModel::Lstm(_) => match inputs.numbers("start_unix_s").as_slice() {
                    [s] => Some((*s as i64).checked_mul(1_000_000).ok_or_else(|| {
                        ApiError::invalid("inputs[start_unix_s]", "outside 1970-01-01 .. 2100-01-01 UTC")
                    })?),
                    _ => return Err(ApiError::invalid("inputs", "`start_unix_s` holds one value")),
                },
            };
            let input = DemandInput { history: inputs.numbers("history"), start_us };
            check_demand(&input, model, &app.limits, ["inputs[history]", "inputs[start_unix_s]"])?;
            let rows =
                app.batcher.run(move || run_demand(work.model.demand().expect("a demand model"), &input)).await??;
            quantile_outputs(&rows.iter().map(|h| (h.mean, [h.p10, h.p50, h.p90])).collect::<Vec<_>>())
        }
        Model::Classifier(bundle) => {
            let inputs = Inputs::new(&req, &expected_in, &["gpu_spec"])?;
            let cols: Vec<Vec<f64>> = JOB_INPUTS.iter().map(|n| inputs.numbers(n)).collect();
            let n = cols[0].len();
            if let Some((c, _)) = cols.iter().enumerate().find(|(_, c)| c.len() != n) {
                return Err(ApiError::invalid(
                    "inputs",
                    format!("`{}` has {} values, `cpu_milli` {n}", JOB_INPUTS[c], cols[c].len()),
                ));
            }
            let specs = inputs.strings("gpu_spec");
            if let Some(s) = &specs
                && s.len() != n
            {
                return Err(ApiError::invalid("inputs", format!("`gpu_spec` has {} values, `cpu_milli` {n}", s.len())));
            }
            let jobs: Vec<JobSpec> = (0..n)
                .map(|i| JobSpec {
                    cpu_milli: cols[0][i] as i64,
                    memory_mib: cols[1][i] as i64,
                    num_gpu: cols[2][i].clamp(i32::MIN as f64, i32::MAX as f64) as i32,
                    gpu_milli: cols[3][i].clamp(i32::MIN as f64, i32::MAX as f64) as i32,
                    gpu_spec: specs.as_ref().map(|s| s[i].clone()).filter(|s| !s.is_empty()),
                    creation_time_s: cols[4][i] as i64,
                })
                .collect();
            check_jobs(&jobs, app.limits.max_jobs)?;
            let preds =
                app.batcher.run(move || run_classify(work.model.classifier().expect("a classifier"), &jobs)).await??;
            bundle
                .tasks
                .iter()
                .enumerate()
                .flat_map(|(t, task)| {
                    let classes = TensorData::Strings(preds.iter().map(|p| p.tasks[t].class.clone()).collect());
                    let probs = TensorData::Numbers(
                        preds.iter().flat_map(|p| task.classes.iter().map(|c| p.tasks[t].probabilities[c])).collect(),
                    );
                    [
                        out(&task.task, "BYTES", vec![n], classes),
                        out(&format!("{}_probabilities", task.task), "FP64", vec![n, task.classes.len()], probs),
                    ]
                })
                .collect()
        }
    };
    let outputs = match &req.outputs {
        Some(wanted) => outputs.into_iter().filter(|o| wanted.iter().any(|w| w.name == o.name)).collect(),
        None => outputs,
    };
    let body =
        InferResponse { model_name: served.name.clone(), model_version: served.version.clone(), id: req.id, outputs };
    Ok((Extension(ModelLabel::of(&served)), Json(body)).into_response())
}

#[utoipa::path(
    post,
    path = "/v2/models/{name}/infer",
    params(("name" = String, Path, description = "Model name")),
    request_body = InferRequest,
    responses(
        (status = 200, body = InferResponse),
        (status = 404, description = "No such model or version", body = ErrorBody),
        JsonRouteErrors,
    ),
    security(("bearer" = [])),
    tag = "v2"
)]
pub async fn infer(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<InferRequest>,
) -> Result<Response, ApiError> {
    let served = find_model(&app, &name, None)?;
    infer_with(&app, served, req).await
}

#[utoipa::path(
    post,
    path = "/v2/models/{name}/versions/{version}/infer",
    params(("name" = String, Path, description = "Model name"), ("version" = String, Path, description = "Model version")),
    request_body = InferRequest,
    responses(
        (status = 200, body = InferResponse),
        (status = 404, description = "No such model or version", body = ErrorBody),
        JsonRouteErrors,
    ),
    security(("bearer" = [])),
    tag = "v2"
)]
pub async fn infer_version(
    State(app): State<Arc<App>>,
    Path((name, version)): Path<(String, String)>,
    ApiJson(req): ApiJson<InferRequest>,
) -> Result<Response, ApiError> {
    let served = find_model(&app, &name, Some(&version))?;
    infer_with(&app, served, req).await
}
