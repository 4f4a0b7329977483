//! Price and demand forecasts: request checks and the forward pass, shared by the `/v1` routes
//! and the Open Inference Protocol's `infer`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hcp_datasets::rows::price_beyond_limit;
use hcp_datasets::time::{ercot_calendar, ercot_calendar_by_day, format_micros, parse_instant};
use hcp_models::forecast::demand::HORIZONS as DEMAND_HORIZONS;
use hcp_models::forecast::demand_model::{self, DemandModel};
use hcp_models::forecast::price::PriceModel;
use hcp_models::forecast::realtime::{self, HorizonForecast, HourlyPrices};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::{ApiJson, App, ModelLabel};
use crate::config::Limits;
use crate::error::{ApiError, JsonRouteErrors};

const HOUR_US: i64 = 3_600_000_000;
/// Issue times accepted: 2000-01-01 to 2100-01-01 UTC, µs.
const EARLIEST_US: i64 = 946_684_800_000_000;
const LATEST_US: i64 = 4_102_444_800_000_000;

/// `POST /v1/forecast/price`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceForecastRequest {
    /// Settlement point (e.g. `HB_WEST`); a price model of this node must be loaded.
    pub node: String,
    /// Start of the first hour of `rt` and `da`, RFC 3339 (e.g. `2025-05-01T00:00:00Z`), on
    /// the hour.
    pub start: String,
    /// Real-time price of each hour from `start` up to the issue time, USD/MWh (within
    /// ±20,000), `null` where unknown. The issue time is `start` plus one hour per entry; at
    /// least 192 entries (the model reads a week and a day back).
    pub rt: Vec<Option<f64>>,
    /// Day-ahead price of each hour from `start`, USD/MWh (within ±20,000), `null` where
    /// unknown, as far as published at the issue time (ERCOT publishes a day's prices at 13:30
    /// Central the day before); at most 48 entries past the issue hour.
    pub da: Vec<Option<f64>>,
    /// Horizons wanted, 1 to 24 hours (default 24).
    #[serde(default)]
    pub horizons: Option<usize>,
    /// The price model to use (its directory's name); may be left out when one model of the
    /// node is loaded.
    #[serde(default)]
    pub model: Option<String>,
}

/// One horizon of a forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HorizonOut {
    /// Hours ahead of the issue time, 1-based.
    pub horizon: usize,
    /// Start of the forecast hour, RFC 3339 (price forecasts, and demand forecasts given the
    /// history's start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_start: Option<String>,
    pub mean: f64,
    /// The 0.1, 0.5 and 0.9 quantiles (never crossing).
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
}

/// A price forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriceForecastResponse {
    pub model: String,
    pub version: String,
    pub node: String,
    /// The issue time: the first hour whose real-time price the request does not hold.
    pub issued_at: String,
    pub horizons: Vec<HorizonOut>,
    /// Horizons asked for that the history cannot feed (an input hour missing), each named.
    pub unavailable: Vec<usize>,
}

/// A price forecast's inputs once parsed (missing hours are NaN).
#[derive(Debug, Clone)]
pub struct PriceInput {
    pub start_us: i64,
    pub rt: Vec<f64>,
    pub da: Vec<f64>,
    pub horizons: usize,
}

impl PriceInput {
    pub fn issued_us(&self) -> i64 {
        self.start_us + self.rt.len() as i64 * HOUR_US
    }
}

/// The names of a `/v1` price request's fields, as [`check_price`] takes them (the inference
/// route passes `inputs[start_unix_s]`, `inputs[rt]`, `inputs[da]`).
pub const PRICE_FIELDS: [&str; 3] = ["start", "rt", "da"];

/// Checks a price request against the model and the limits; the error names the field
/// (`start`, `rt`, `da`, with `fields` naming them as the route does; `horizons`).
pub fn check_price(input: &PriceInput, model: &PriceModel, limits: &Limits, fields: [&str; 3]) -> Result<(), ApiError> {
    let [start, rt, da] = fields;
    if input.start_us % HOUR_US != 0 {
        return Err(ApiError::invalid(start, "must be on the hour"));
    }
    if !(EARLIEST_US..LATEST_US).contains(&input.start_us) {
        return Err(ApiError::invalid(start, "must lie between 2000 and 2100"));
    }
    let n = input.rt.len();
    if n < model.lookback() || n > limits.max_history_hours {
        return Err(ApiError::invalid(
            rt,
            format!("{n} hours; the model needs {} to {}", model.lookback(), limits.max_history_hours),
        ));
    }
    if input.da.len() > n + 48 {
        return Err(ApiError::invalid(
            da,
            format!("{} hours; at most {} (48 past the issue hour)", input.da.len(), n + 48),
        ));
    }
    if !(1..=realtime::HORIZONS).contains(&input.horizons) {
        return Err(ApiError::invalid("horizons", format!("{} is outside 1..={}", input.horizons, realtime::HORIZONS)));
    }
    for (name, values) in [(rt, &input.rt), (da, &input.da)] {
        if let Some(i) = values.iter().position(|v| v.is_infinite()) {
            return Err(ApiError::invalid(format!("{name}[{i}]"), "not a finite number"));
        }
        within_price_limit(name, values)?;
    }
    let issued = input.issued_us();
    if issued <= model.trained_until_us() {
        return Err(ApiError::invalid(
            rt,
            format!(
                "the issue time {} is not after the model's training data (through {}): the model has seen what it would forecast",
                format_micros(issued),
                format_micros(model.trained_until_us())
            ),
        ));
    }
    // Publication times rise with the hour: walk back from the last price given while they are
    // after the issue, and name the earliest such price.
    let mut earliest_unpublished = None;
    for (i, _) in input.da.iter().enumerate().rev().filter(|(_, v)| v.is_finite()) {
        let hour = input.start_us + i as i64 * HOUR_US;
        let published = ercot_calendar(hour).2;
        if published <= issued {
            break;
        }
        earliest_unpublished = Some((i, hour, published));
    }
    if let Some((i, hour, published)) = earliest_unpublished {
        return Err(ApiError::invalid(
            format!("{da}[{i}]"),
            format!(
                "the day-ahead price of {} is published at {}, after the issue time {}",
                format_micros(hour),
                format_micros(published),
                format_micros(issued)
            ),
        ));
    }
    Ok(())
}

/// The forecast (the input checked by [`check_price`]): the horizons the history feeds, and
/// those it cannot. Only the model's lookback before the issue is read (it reaches no further
/// back), so the work per request is bounded whatever history it sends.
pub fn run_price(model: &PriceModel, input: &PriceInput) -> Result<(Vec<HorizonForecast>, Vec<usize>), ApiError> {
    let k = input.rt.len();
    let first = k.saturating_sub(model.lookback());
    let hours: Vec<(i64, f64, f64)> = (first..k + realtime::HORIZONS)
        .map(|i| {
            let da = input.da.get(i).copied().unwrap_or(f64::NAN);
            (input.start_us + i as i64 * HOUR_US, input.rt.get(i).copied().unwrap_or(f64::NAN), da)
        })
        .collect();
    let Some(grid) = HourlyPrices::from_hours(model.node(), &hours, ercot_calendar_by_day()) else {
        return Ok((Vec::new(), (1..=input.horizons).collect()));
    };
    let out: Vec<HorizonForecast> = model
        .forecast(&grid, k - first)
        .map_err(|e| ApiError::internal(format!("{}: {e}", model.kind())))?
        .into_iter()
        .filter(|h| h.horizon <= input.horizons)
        .collect();
    let unavailable = (1..=input.horizons).filter(|h| !out.iter().any(|f| f.horizon == *h)).collect();
    Ok((out, unavailable))
}

/// Refuses the first of `values` (prices, $/MWh) beyond the limit no market clears past,
/// naming it `field[i]`.
pub(crate) fn within_price_limit(field: &str, values: &[f64]) -> Result<(), ApiError> {
    match values.iter().enumerate().find_map(|(i, v)| Some((i, price_beyond_limit(*v, "$/MWh")?))) {
        Some((i, why)) => Err(ApiError::invalid(format!("{field}[{i}]"), why)),
        None => Ok(()),
    }
}

fn nan_for_null(values: &[Option<f64>]) -> Vec<f64> {
    values.iter().map(|v| v.unwrap_or(f64::NAN)).collect()
}

#[utoipa::path(
    post,
    path = "/v1/forecast/price",
    request_body = PriceForecastRequest,
    responses(
        (status = 200, description = "The forecast", body = PriceForecastResponse),
        JsonRouteErrors,
    ),
    security(("bearer" = [])),
    tag = "forecast"
)]
pub async fn forecast_price(
    State(app): State<Arc<App>>,
    ApiJson(req): ApiJson<PriceForecastRequest>,
) -> Result<Response, ApiError> {
    let registry = app.registry();
    let start_us = parse_instant(&req.start)
        .ok_or_else(|| ApiError::invalid("start", format!("`{}` is not an RFC 3339 instant", req.start)))?;
    let input = PriceInput {
        start_us,
        rt: nan_for_null(&req.rt),
        da: nan_for_null(&req.da),
        horizons: req.horizons.unwrap_or(realtime::HORIZONS),
    };
    let served =
        registry.price_for(&req.node, req.model.as_deref()).map_err(|(field, why)| ApiError::invalid(field, why))?;
    let model = served.model.price().expect("price_for finds price models");
    check_price(&input, model, &app.limits, PRICE_FIELDS)?;
    let issued_us = input.issued_us();
    let work = Arc::clone(&served);
    let (out, unavailable) =
        app.batcher.run(move || run_price(work.model.price().expect("a price model"), &input)).await??;
    let body = PriceForecastResponse {
        model: served.name.clone(),
        version: served.version.clone(),
        node: req.node,
        issued_at: format_micros(issued_us),
        horizons: out
            .iter()
            .map(|h| HorizonOut {
                horizon: h.horizon,
                target_start: Some(format_micros(h.target_start_us)),
                mean: h.mean,
                p10: h.quantiles[0],
                p50: h.quantiles[1],
                p90: h.quantiles[2],
            })
            .collect(),
        unavailable,
    };
    Ok((Extension(ModelLabel::of(&served)), Json(body)).into_response())
}

/// `POST /v1/forecast/demand`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DemandForecastRequest {
    /// The demand model to use; may be left out when one is loaded.
    #[serde(default)]
    pub model: Option<String>,
    /// The hourly series the model forecasts (e.g. GPUs held by live pods: counts, not
    /// negative), oldest first; at least the model's lookback (336 hours for lear_demand, the
    /// window and a week for lstm_demand). The forecast covers the 168 hours after the last one.
    pub history: Vec<f64>,
    /// Start of the history's first hour, Unix seconds (a trace's hour 0 is 0). lstm_demand
    /// needs it (it reads each hour's hour of day and day of week); with it, every horizon
    /// carries its `target_start`.
    #[serde(default)]
    pub start_unix_s: Option<i64>,
}

/// A demand request's inputs, checked by [`check_demand`].
#[derive(Debug, Clone)]
pub struct DemandInput {
    pub history: Vec<f64>,
    pub start_us: Option<i64>,
}

/// A week-ahead demand forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DemandForecastResponse {
    pub model: String,
    pub version: String,
    /// The series the model was trained on.
    pub series: String,
    pub horizons: Vec<HorizonOut>,
}

/// Checks a demand request for `model`; errors name the field (`history`, `start_unix_s`, with
/// `fields` naming them as the route does).
pub fn check_demand(
    input: &DemandInput,
    model: &DemandModel,
    limits: &Limits,
    fields: [&str; 2],
) -> Result<(), ApiError> {
    let [history, start] = fields;
    let need = model.lookback();
    if input.history.len() < need || input.history.len() > limits.max_history_hours {
        return Err(ApiError::invalid(
            history,
            format!(
                "{} hours; {} `{}` needs {need} to {}",
                input.history.len(),
                model.model_id(),
                model.series(),
                limits.max_history_hours
            ),
        ));
    }
    if let Some(i) = input.history.iter().position(|v| !v.is_finite()) {
        return Err(ApiError::invalid(format!("{history}[{i}]"), "not a finite number"));
    }
    if let Some(i) = input.history.iter().position(|v| *v < 0.0) {
        return Err(ApiError::invalid(
            format!("{history}[{i}]"),
            format!("{} is negative: it counts GPUs", input.history[i]),
        ));
    }
    match (input.start_us, model) {
        (None, DemandModel::Lstm(_)) => Err(ApiError::invalid(
            start,
            "lstm_demand reads each hour's hour of day and day of week: give the start of the history's first hour",
        )),
        (Some(us), _) if !(0..LATEST_US).contains(&us) => {
            Err(ApiError::invalid(start, "outside 1970-01-01 .. 2100-01-01 UTC"))
        }
        _ => Ok(()),
    }
}

/// The demand forecast (the input checked by [`check_demand`]).
pub fn run_demand(model: &DemandModel, input: &DemandInput) -> Result<Vec<HorizonOut>, ApiError> {
    let out = model
        .forecast(&input.history, input.start_us.unwrap_or(0))
        .map_err(|e| ApiError::invalid("history", e.to_string()))?;
    debug_assert_eq!(out.len(), DEMAND_HORIZONS);
    let issue_us = input.start_us.map(|s| s + input.history.len() as i64 * HOUR_US);
    Ok(out
        .into_iter()
        .enumerate()
        .map(|(h, (mean, q))| HorizonOut {
            horizon: h + 1,
            target_start: issue_us.map(|t| format_micros(t + h as i64 * HOUR_US)),
            mean,
            p10: q[0],
            p50: q[1],
            p90: q[2],
        })
        .collect())
}

#[utoipa::path(
    post,
    path = "/v1/forecast/demand",
    request_body = DemandForecastRequest,
    responses(
        (status = 200, description = "The forecast", body = DemandForecastResponse),
        JsonRouteErrors,
    ),
    security(("bearer" = [])),
    tag = "forecast"
)]
pub async fn forecast_demand(
    State(app): State<Arc<App>>,
    ApiJson(req): ApiJson<DemandForecastRequest>,
) -> Result<Response, ApiError> {
    let registry = app.registry();
    let served = registry
        .named_or_only("demand", &demand_model::KINDS, req.model.as_deref())
        .map_err(|e| ApiError::invalid("model", e))?;
    let model = served.model.demand().expect("named_or_only finds demand models");
    let start_us = match req.start_unix_s {
        Some(s) => Some(s.checked_mul(1_000_000).ok_or_else(|| ApiError::invalid("start_unix_s", "out of range"))?),
        None => None,
    };
    let input = DemandInput { history: req.history, start_us };
    check_demand(&input, model, &app.limits, ["history", "start_unix_s"])?;
    let series = model.series().to_string();
    let work = Arc::clone(&served);
    let horizons = app.batcher.run(move || run_demand(work.model.demand().expect("a demand model"), &input)).await??;
    let body = DemandForecastResponse { model: served.name.clone(), version: served.version.clone(), series, horizons };
    Ok((Extension(ModelLabel::of(&served)), Json(body)).into_response())
}
