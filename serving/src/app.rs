//! The server: shared state, the router and its layers (auth, load shedding, timeouts, JSON
//! errors, metrics), `/info`, `/metrics`, `/openapi.json`, model reload, and graceful shutdown.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::{OpenApi, ToSchema};

use hcp_models::artifact::MANIFEST_FILE;

use crate::auth::{ApiKeys, Role};
use crate::batcher::Batcher;
use crate::config::{Limits, ServeConfig};
use crate::error::{ApiError, Error, ErrorBody, Result};
use crate::metrics::{Metrics, RequestLabels};
use crate::registry::{Registry, Served};
use crate::{classify, forecast, oip, openapi, propose};

/// Everything the handlers share.
pub struct App {
    pub limits: Limits,
    pub models_dir: std::path::PathBuf,
    registry: RwLock<Arc<Registry>>,
    keys: ApiKeys,
    permits: Arc<Semaphore>,
    pub batcher: Batcher,
    pub metrics: Arc<Mutex<Metrics>>,
    draining: AtomicBool,
    reloading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("limits", &self.limits)
            .field("models_dir", &self.models_dir)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Loads the models (every one must load and pass its smoke test) and starts the
    /// inference workers.
    pub fn new(cfg: &ServeConfig) -> Result<Arc<App>> {
        if cfg.keys.is_empty() && !cfg.keys.is_open() {
            return Err(Error::Config(
                "no API keys: give --keys FILE or HCP_API_KEYS, or --no-auth to serve without authentication".into(),
            ));
        }
        let registry = Registry::load(&cfg.models_dir)?;
        let metrics = Arc::new(Mutex::new(Metrics::default()));
        let sink = Arc::clone(&metrics);
        let batcher = Batcher::start(
            cfg.workers,
            cfg.limits.max_batch,
            Arc::new(move |n| {
                if let Ok(mut m) = sink.lock() {
                    m.batch(n);
                }
            }),
        );
        Ok(Arc::new(App {
            limits: cfg.limits.clone(),
            models_dir: cfg.models_dir.clone(),
            registry: RwLock::new(Arc::new(registry)),
            keys: cfg.keys.clone(),
            permits: Arc::new(Semaphore::new(cfg.limits.max_in_flight)),
            batcher,
            metrics,
            draining: AtomicBool::new(false),
            reloading: tokio::sync::Mutex::new(()),
        }))
    }

    /// The models now (a reload swaps them whole; a request keeps the ones it started with).
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn is_ready(&self) -> bool {
        !self.draining.load(Ordering::SeqCst)
    }

    /// Turns readiness off (a load balancer stops sending); requests are still answered.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Loads the models directory again; swaps only when every model loads and passes its
    /// smoke test, else keeps the models served now and returns why.
    pub async fn reload(&self) -> Result<Arc<Registry>> {
        let _one_at_a_time = self.reloading.lock().await;
        let dir = self.models_dir.clone();
        let loaded = tokio::task::spawn_blocking(move || Registry::load(&dir))
            .await
            .map_err(|e| Error::Config(format!("the reload stopped: {e}")))?;
        let ok = loaded.is_ok();
        if let Ok(mut m) = self.metrics.lock() {
            m.reload(ok);
        }
        let registry = Arc::new(loaded?);
        *self.registry.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&registry);
        Ok(registry)
    }
}

/// The model that answered, for the metrics' labels (set by handlers on their response).
#[derive(Debug, Clone)]
pub struct ModelLabel {
    pub name: String,
    pub version: String,
}

impl ModelLabel {
    pub fn of(served: &Served) -> ModelLabel {
        ModelLabel { name: served.name.clone(), version: served.version.clone() }
    }
}

/// A JSON body whose rejections are JSON errors: 400 unparsable or empty, 413 too large, 415
/// not JSON, 422 the wrong shape (the message names the field, e.g. `rt[3]`).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> std::result::Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(r) => {
                let status = r.status();
                let text = r.body_text();
                let error = match &r {
                    JsonRejection::JsonSyntaxError(_)
                        if text.contains("EOF while parsing a value at line 1 column 0") =>
                    {
                        "the body is empty; a JSON object is expected".to_string()
                    }
                    _ => text,
                };
                let field = match &r {
                    JsonRejection::JsonDataError(_) => {
                        // serde_path_to_error's path: "...: jobs[0].cpu_milli: invalid type ...".
                        error.split(": ").nth(1).filter(|p| !p.contains(' ') && *p != ".").map(str::to_string)
                    }
                    _ => None,
                };
                Err(ApiError { status, body: ErrorBody { error, field }, retry_after_s: None })
            }
        }
    }
}

/// Records every response in the metrics and the log (one `answered` event in the request's
/// span, which carries its trace id), and returns the trace id in `x-request-id`.
async fn record(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    // A label value from a bounded set: any method the routes do not know counts as `other`.
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "HEAD" | "PUT" | "DELETE" | "PATCH" | "OPTIONS") => m.to_string(),
        _ => "other".to_string(),
    };
    let (trace_id, parent) = crate::logging::trace_context(req.headers());
    let span = tracing::info_span!(
        "request",
        trace_id = %trace_id,
        parent_span_id = tracing::field::Empty,
        method = %method,
        route = %route
    );
    if let Some(parent) = &parent {
        span.record("parent_span_id", parent.as_str());
    }
    let started = Instant::now();
    if let Ok(mut m) = app.metrics.lock() {
        m.in_flight += 1;
    }
    let mut response = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    let (model, version) = response
        .extensions()
        .get::<ModelLabel>()
        .map_or((String::new(), String::new()), |l| (l.name.clone(), l.version.clone()));
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, model = %model, version = %version, duration_ms = seconds * 1e3, "answered");
        } else {
            tracing::info!(status, model = %model, version = %version, duration_ms = seconds * 1e3, "answered");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&trace_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    if let Ok(mut m) = app.metrics.lock() {
        m.in_flight -= 1;
        m.request(RequestLabels { route, method, status, model, version }, seconds);
    }
    response
}

/// Any error response whose body is not JSON (axum's own 404, 405, ...) gets a JSON one.
async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let error = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_string() } else { text };
    let mut out = (status, Json(ErrorBody { error, field: None })).into_response();
    for (k, v) in parts.headers.iter().filter(|(k, _)| *k == header::ALLOW || *k == header::RETRY_AFTER) {
        out.headers_mut().insert(k, v.clone());
    }
    out
}

/// A request not answered within the limit gets 503.
async fn timeout(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let limit = Duration::from_millis(app.limits.request_timeout_ms);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::unavailable(format!("no answer within the {} ms request timeout", limit.as_millis()))
            .into_response(),
    }
}

/// Sheds load: over `max_in_flight` requests at once, 429 with `Retry-After`.
async fn shed(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    match Arc::clone(&app.permits).try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => ApiError::overloaded(format!("{} requests in flight; retry shortly", app.limits.max_in_flight), 1)
            .into_response(),
    }
}

/// 401 without a known bearer token, 403 when its role is below the route's.
async fn authorize(State((app, needed)): State<(Arc<App>, Role)>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    let role = match token {
        Some(t) => app.keys.role_of(t.trim()),
        None if app.keys.is_open() => Some(Role::Operate),
        None => None,
    };
    match role {
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            if token.is_some() {
                "the API key is not known"
            } else {
                "an API key is required: `Authorization: Bearer KEY`"
            },
        )
        .into_response(),
        Some(r) if r < needed => ApiError::new(
            StatusCode::FORBIDDEN,
            format!("the key has the {} role; this route needs {}", r.name(), needed.name()),
        )
        .into_response(),
        Some(_) => next.run(req).await,
    }
}

/// What `/info` reports.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Info {
    pub service: String,
    pub version: String,
    pub ready: bool,
    pub limits: Limits,
    pub models: Vec<ModelInfo>,
    /// Subdirectories of the models directory not served: they hold no `manifest.json`.
    pub skipped: Vec<String>,
    /// Roles of the configured keys (labels only), or `open` without authentication.
    pub auth: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelInfo {
    pub name: String,
    pub kind: String,
    pub version: String,
    pub sha256: String,
    /// What it was trained on and its validation metrics, from its manifest.
    pub training: serde_json::Value,
    pub validation: serde_json::Value,
}

#[utoipa::path(get, path = "/info", responses((status = 200, body = Info), (status = 401, body = ErrorBody)), security(("bearer" = [])), tag = "service")]
pub async fn info(State(app): State<Arc<App>>) -> Json<Info> {
    let registry = app.registry();
    Json(Info {
        service: "hcp".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ready: app.is_ready(),
        limits: app.limits.clone(),
        models: registry
            .models
            .iter()
            .map(|m| ModelInfo {
                name: m.name.clone(),
                kind: m.model.kind().into(),
                version: m.version.clone(),
                sha256: m.manifest.model_sha256.clone(),
                training: m.manifest.training.clone(),
                validation: m.manifest.validation.clone(),
            })
            .collect(),
        skipped: registry.skipped_names(),
        auth: if app.keys.is_open() {
            vec!["open".into()]
        } else {
            app.keys.describe().into_iter().map(|(label, role)| format!("{label}: {role}")).collect()
        },
    })
}

/// The models after a reload.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReloadResponse {
    pub models: Vec<String>,
    pub versions: Vec<String>,
    /// Subdirectories of the models directory not served: they hold no `manifest.json`.
    pub skipped: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/reload",
    responses(
        (status = 200, description = "The new models are served", body = ReloadResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 424, description = "A model failed to load or its smoke test; the old ones are still served", body = ErrorBody),
    ),
    security(("bearer" = [])),
    tag = "service"
)]
pub async fn reload(State(app): State<Arc<App>>) -> std::result::Result<Json<ReloadResponse>, ApiError> {
    match app.reload().await {
        Ok(r) => Ok(Json(ReloadResponse {
            models: r.models.iter().map(|m| m.name.clone()).collect(),
            versions: r.models.iter().map(|m| m.version.clone()).collect(),
            skipped: r.skipped_names(),
        })),
        Err(e) => {
            Err(ApiError::new(StatusCode::FAILED_DEPENDENCY, format!("reload refused, the previous models stay: {e}")))
        }
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let registry = app.registry();
    let text = app.metrics.lock().map(|m| m.render(&registry, app.is_ready())).unwrap_or_default();
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], text)
        .into_response()
}

async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], openapi::document()).into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see /openapi.json")
}

/// The whole service.
pub fn router(app: Arc<App>) -> Router {
    let read = Router::new()
        .route("/v1/forecast/price", post(forecast::forecast_price))
        .route("/v1/forecast/demand", post(forecast::forecast_demand))
        .route("/v1/classify", post(classify::classify))
        .route("/v2/models/{name}", get(oip::model_metadata))
        .route("/v2/models/{name}/ready", get(oip::model_ready))
        .route("/v2/models/{name}/infer", post(oip::infer))
        .route("/v2/models/{name}/versions/{version}", get(oip::model_version_metadata))
        .route("/v2/models/{name}/versions/{version}/ready", get(oip::model_version_ready))
        .route("/v2/models/{name}/versions/{version}/infer", post(oip::infer_version))
        .route("/info", get(info))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&app), shed))
        .route_layer(middleware::from_fn_with_state((Arc::clone(&app), Role::Read), authorize));
    let operate = Router::new()
        .route("/v1/schedule/propose", post(propose::propose))
        .route("/v1/admin/reload", post(reload))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&app), shed))
        .route_layer(middleware::from_fn_with_state((Arc::clone(&app), Role::Operate), authorize));
    let open = Router::new()
        .route("/v2", get(oip::server_metadata))
        .route("/v2/health/live", get(oip::live))
        .route("/v2/health/ready", get(oip::ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi_json));
    Router::new()
        .merge(read)
        .merge(operate)
        .merge(open)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(app.limits.body_bytes))
        .layer(middleware::from_fn_with_state(Arc::clone(&app), timeout))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(Arc::clone(&app), record))
        .with_state(app)
}

/// Serves until `shutdown` resolves: then readiness turns 503 for `drain`, the listener
/// closes, and in-flight requests finish before this returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    drain: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let addr = listener.local_addr().ok();
    let draining = Arc::clone(&app);
    let signal = async move {
        shutdown.await;
        draining.start_draining();
        tokio::time::sleep(drain).await;
    };
    axum::serve(listener, router(app))
        .with_graceful_shutdown(signal)
        .await
        .map_err(|source| Error::Io { path: addr.map_or_else(Default::default, |a| a.to_string().into()), source })
}

/// Logs each subdirectory of the models directory that is not served (a warning; the log is
/// stderr's JSON lines).
fn warn_skipped(registry: &Registry) {
    for d in &registry.skipped {
        tracing::warn!(dir = %d.display(), "not served: no {MANIFEST_FILE}");
    }
}

/// Reloads the models on every SIGHUP (a failed reload is logged and the old models stay).
pub async fn reload_on_hangup(app: Arc<App>) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        while hup.recv().await.is_some() {
            match app.reload().await {
                Ok(r) => {
                    tracing::info!(models = ?r.names(), "reloaded {} model(s) on SIGHUP", r.models.len());
                    warn_skipped(&r);
                }
                Err(e) => tracing::error!(error = %e, "reload refused, the previous models stay"),
            }
        }
    }
    #[cfg(not(unix))]
    drop(app);
}

/// The OpenAPI document as one value (for the committed snapshot).
pub fn openapi_value() -> utoipa::openapi::OpenApi {
    openapi::ApiDoc::openapi()
}

/// `hcp serve`: checks the limits ([`ServeConfig::check`]), loads the models, binds, prints
/// `listening on http://ADDR` on stdout, and serves until SIGINT or SIGTERM (draining first),
/// reloading the models on SIGHUP.
pub fn run_until_signal(cfg: ServeConfig) -> Result<()> {
    cfg.check()?;
    let app = App::new(&cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.workers)
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("tokio runtime: {e}")))?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(cfg.addr)
            .await
            .map_err(|source| Error::Io { path: cfg.addr.to_string().into(), source })?;
        let addr = listener.local_addr().map_err(|source| Error::Io { path: cfg.addr.to_string().into(), source })?;
        let registry = app.registry();
        println!("listening on http://{addr} with {} model(s): {}", registry.models.len(), registry.names().join(", "));
        tracing::info!(%addr, models = ?registry.names(), "listening");
        warn_skipped(&registry);
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        tokio::spawn(reload_on_hangup(Arc::clone(&app)));
        serve(listener, app, cfg.drain, hcp_scheduler::daemon::shutdown_signal()).await
    })
}
