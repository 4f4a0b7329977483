//! Typed rows of the canonical tables and their conversion into Arrow batches.
//!
//! Producers (ingesters, simulators) collect rows and call the matching `*_batch` function; the
//! result is always in the table's canonical [`Table::schema`].

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};

use crate::schema::Table;

/// One hourly (or shorter) price. Market and node are shared strings: a price history repeats
/// a handful of them hundreds of thousands of times.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceRow {
    pub market: Arc<str>,
    pub node: Arc<str>,
    pub interval_start_us: i64,
    pub interval_minutes: i32,
    pub currency: &'static str,
    pub dam_price_per_mwh: Option<f64>,
    pub rtm_price_per_mwh: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExogenousRow {
    pub market: String,
    pub node: String,
    pub interval_start_us: i64,
    pub variable: String,
    pub kind: &'static str,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BtcNetworkRow {
    pub source: String,
    pub day_us: i64,
    pub price_usd: Option<f64>,
    pub difficulty: Option<f64>,
    pub hashrate_ths: Option<f64>,
    pub miners_revenue_usd: Option<f64>,
    pub hashprice_usd_per_ths_day: Option<f64>,
    pub blocks: Option<i32>,
    pub subsidy_btc: Option<f64>,
    pub fees_btc: Option<f64>,
    pub fee_share_ratio: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobRow {
    pub source: String,
    pub job_id: String,
    pub group_id: Option<String>,
    pub role: Option<String>,
    pub cpu_milli: i64,
    pub memory_mib: i64,
    pub num_gpu: i32,
    pub gpu_milli: i32,
    pub gpu_spec: Option<String>,
    pub qos: Option<String>,
    pub phase: Option<String>,
    pub creation_time_us: Option<i64>,
    pub scheduled_time_us: Option<i64>,
    pub deletion_time_us: Option<i64>,
    pub duration_s: Option<i64>,
    pub duration_censored: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuNodeRow {
    pub source: String,
    pub node_id: String,
    pub cpu_milli: i64,
    pub memory_mib: i64,
    pub num_gpu: i32,
    pub gpu_model: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TelemetryRow {
    pub source: String,
    pub device_id: String,
    pub time_us: i64,
    pub power_w: Option<f64>,
    pub hashrate_ths: Option<f64>,
    pub utilization_ratio: Option<f64>,
    pub gpu_memory_used_bytes: Option<i64>,
    pub temperature_c: Option<f64>,
    pub state: Option<String>,
}

/// One value of a forecast in the long (hubverse) format: a mean, or one quantile level.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastRow {
    pub forecast_time_us: i64,
    pub target_time_us: i64,
    pub target: Arc<str>,
    pub node: Arc<str>,
    pub model_id: Arc<str>,
    pub model_version: Arc<str>,
    pub run_id: Arc<str>,
    /// `None` for the mean, `Some(level)` for a quantile.
    pub quantile: Option<f64>,
    pub value: f64,
}

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn opt_strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

fn times(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(values.collect::<TimestampMicrosecondArray>().with_timezone("UTC"))
}

fn f64s(values: impl Iterator<Item = Option<f64>>) -> ArrayRef {
    Arc::new(values.collect::<Float64Array>())
}

fn i64s(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(values.collect::<Int64Array>())
}

fn i32s(values: impl Iterator<Item = Option<i32>>) -> ArrayRef {
    Arc::new(values.collect::<Int32Array>())
}

fn batch(table: Table, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(table.schema(), columns).expect("rows match the canonical schema")
}

pub fn prices_batch(rows: &[PriceRow]) -> RecordBatch {
    batch(
        Table::Prices,
        vec![
            strings(rows.iter().map(|r| &*r.market)),
            strings(rows.iter().map(|r| &*r.node)),
            times(rows.iter().map(|r| Some(r.interval_start_us))),
            i32s(rows.iter().map(|r| Some(r.interval_minutes))),
            strings(rows.iter().map(|r| r.currency)),
            f64s(rows.iter().map(|r| r.dam_price_per_mwh)),
            f64s(rows.iter().map(|r| r.rtm_price_per_mwh)),
        ],
    )
}

pub fn exogenous_batch(rows: &[ExogenousRow]) -> RecordBatch {
    batch(
        Table::Exogenous,
        vec![
            strings(rows.iter().map(|r| r.market.as_str())),
            strings(rows.iter().map(|r| r.node.as_str())),
            times(rows.iter().map(|r| Some(r.interval_start_us))),
            strings(rows.iter().map(|r| r.variable.as_str())),
            strings(rows.iter().map(|r| r.kind)),
            f64s(rows.iter().map(|r| r.value)),
        ],
    )
}

pub fn btc_network_batch(rows: &[BtcNetworkRow]) -> RecordBatch {
    batch(
        Table::BtcNetwork,
        vec![
            strings(rows.iter().map(|r| r.source.as_str())),
            times(rows.iter().map(|r| Some(r.day_us))),
            f64s(rows.iter().map(|r| r.price_usd)),
            f64s(rows.iter().map(|r| r.difficulty)),
            f64s(rows.iter().map(|r| r.hashrate_ths)),
            f64s(rows.iter().map(|r| r.miners_revenue_usd)),
            f64s(rows.iter().map(|r| r.hashprice_usd_per_ths_day)),
            i32s(rows.iter().map(|r| r.blocks)),
            f64s(rows.iter().map(|r| r.subsidy_btc)),
            f64s(rows.iter().map(|r| r.fees_btc)),
            f64s(rows.iter().map(|r| r.fee_share_ratio)),
        ],
    )
}

pub fn jobs_batch(rows: &[JobRow]) -> RecordBatch {
    batch(
        Table::Jobs,
        vec![
            strings(rows.iter().map(|r| r.source.as_str())),
            strings(rows.iter().map(|r| r.job_id.as_str())),
            opt_strings(rows.iter().map(|r| r.group_id.as_deref())),
            opt_strings(rows.iter().map(|r| r.role.as_deref())),
            i64s(rows.iter().map(|r| Some(r.cpu_milli))),
            i64s(rows.iter().map(|r| Some(r.memory_mib))),
            i32s(rows.iter().map(|r| Some(r.num_gpu))),
            i32s(rows.iter().map(|r| Some(r.gpu_milli))),
            opt_strings(rows.iter().map(|r| r.gpu_spec.as_deref())),
            opt_strings(rows.iter().map(|r| r.qos.as_deref())),
            opt_strings(rows.iter().map(|r| r.phase.as_deref())),
            times(rows.iter().map(|r| r.creation_time_us)),
            times(rows.iter().map(|r| r.scheduled_time_us)),
            times(rows.iter().map(|r| r.deletion_time_us)),
            i64s(rows.iter().map(|r| r.duration_s)),
            Arc::new(rows.iter().map(|r| Some(r.duration_censored)).collect::<BooleanArray>()),
        ],
    )
}

pub fn gpu_nodes_batch(rows: &[GpuNodeRow]) -> RecordBatch {
    batch(
        Table::GpuNodes,
        vec![
            strings(rows.iter().map(|r| r.source.as_str())),
            strings(rows.iter().map(|r| r.node_id.as_str())),
            i64s(rows.iter().map(|r| Some(r.cpu_milli))),
            i64s(rows.iter().map(|r| Some(r.memory_mib))),
            i32s(rows.iter().map(|r| Some(r.num_gpu))),
            opt_strings(rows.iter().map(|r| r.gpu_model.as_deref())),
        ],
    )
}

pub fn telemetry_batch(rows: &[TelemetryRow]) -> RecordBatch {
    batch(
        Table::Telemetry,
        vec![
            strings(rows.iter().map(|r| r.source.as_str())),
            strings(rows.iter().map(|r| r.device_id.as_str())),
            times(rows.iter().map(|r| Some(r.time_us))),
            f64s(rows.iter().map(|r| r.power_w)),
            f64s(rows.iter().map(|r| r.hashrate_ths)),
            f64s(rows.iter().map(|r| r.utilization_ratio)),
            i64s(rows.iter().map(|r| r.gpu_memory_used_bytes)),
            f64s(rows.iter().map(|r| r.temperature_c)),
            opt_strings(rows.iter().map(|r| r.state.as_deref())),
        ],
    )
}

pub fn forecasts_batch(rows: &[ForecastRow]) -> RecordBatch {
    batch(
        Table::Forecasts,
        vec![
            times(rows.iter().map(|r| Some(r.forecast_time_us))),
            times(rows.iter().map(|r| Some(r.target_time_us))),
            i32s(rows.iter().map(|r| Some(((r.target_time_us - r.forecast_time_us) / 60_000_000) as i32))),
            strings(rows.iter().map(|r| &*r.target)),
            strings(rows.iter().map(|r| &*r.node)),
            strings(rows.iter().map(|r| &*r.model_id)),
            strings(rows.iter().map(|r| &*r.model_version)),
            strings(rows.iter().map(|r| &*r.run_id)),
            strings(rows.iter().map(|r| if r.quantile.is_some() { "quantile" } else { "mean" })),
            f64s(rows.iter().map(|r| r.quantile)),
            f64s(rows.iter().map(|r| Some(r.value))),
        ],
    )
}
