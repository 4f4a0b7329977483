//! Alibaba GPU cluster traces.
//!
//! - v2023 (ATC'23 "Beware of Fragmentation") pod lists → `jobs`; node lists → `gpu_nodes`;
//! - v2025 (NSDI'25) disaggregated DLRM inference instances → `jobs`;
//! - v2026 GenAI per-container GPU duty cycle and GPU memory, read straight from the tar.gz
//!   archives → `telemetry`.
//!
//! Each file is recognised by its header, not its name. Trace times are seconds from the trace
//! start; they are stored as `1970-01-01T00:00:00Z + offset` (`hcp.time_basis =
//! offset_from_trace_start`). Pods still running or pending at the end of the trace have their
//! duration marked censored rather than being dropped.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use super::csv_input::{CsvInput, FieldError, FieldResult, Fields, Lines, Tally, open_decompressed};
use super::{Parsed, ParsedTable};
use crate::error::{Error, Result};
use crate::rows::{GpuNodeRow, JobRow, TelemetryRow, gpu_nodes_batch, jobs_batch, telemetry_batch};
use crate::schema::Table;
use crate::time::MICROS_PER_SECOND;

pub const OFFSET_TIME_BASIS: &str = "offset_from_trace_start";
pub const GENAI_TIME_BASIS: &str = "anonymised_unix_seconds";

const POD_HEADER: [&str; 11] = [
    "name",
    "cpu_milli",
    "memory_mib",
    "num_gpu",
    "gpu_milli",
    "gpu_spec",
    "qos",
    "pod_phase",
    "creation_time",
    "deletion_time",
    "scheduled_time",
];
const POD_SPEC_HEADER: [&str; 5] = ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"];
const NODE_HEADER: [&str; 5] = ["sn", "cpu_milli", "memory_mib", "gpu", "model"];
const DLRM_HEADER: [&str; 17] = [
    "instance_sn",
    "role",
    "app_name",
    "cpu_request",
    "cpu_limit",
    "gpu_request",
    "gpu_limit",
    "rdma_request",
    "rdma_limit",
    "memory_request",
    "memory_limit",
    "disk_request",
    "disk_limit",
    "max_instance_per_node",
    "creation_time",
    "scheduled_time",
    "deletion_time",
];

#[derive(Default)]
struct Collected {
    jobs: Vec<JobRow>,
    job_keys: HashMap<(String, String), (String, u64)>,
    nodes: Vec<GpuNodeRow>,
    node_keys: HashMap<(String, String), (String, u64)>,
    /// GenAI samples by (container, time); a metric already set there is a duplicate.
    telemetry: HashMap<(String, i64), TelemetryRow>,
}

pub(crate) fn parse(inputs: &[PathBuf]) -> Result<Parsed> {
    let mut parsed = Parsed::default();
    let mut c = Collected::default();
    for path in inputs {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            parse_genai_archive(path, &mut c, &mut parsed)?;
            continue;
        }
        let mut input = CsvInput::open(path)?;
        let header: Vec<&str> = input.header.iter().map(String::as_str).collect();
        if header == POD_HEADER || header == POD_SPEC_HEADER {
            let source = source_name("alibaba_v2023", path, "openb_pod_list_");
            parse_pods(&mut input, &source, &mut c, &mut parsed)?;
        } else if header == NODE_HEADER {
            let source = source_name("alibaba_v2023", path, "openb_node_list_");
            parse_nodes(&mut input, &source, &mut c, &mut parsed)?;
        } else if header == DLRM_HEADER {
            parse_dlrm(&mut input, &mut c, &mut parsed)?;
        } else {
            return Err(input.wrong_header(&format!(
                "one of: v2023 pods `{}`; v2023 pods without times `{}`; v2023 nodes `{}`; v2025 DLRM `{}`; or a v2026 GenAI .tar.gz",
                POD_HEADER.join(","),
                POD_SPEC_HEADER.join(","),
                NODE_HEADER.join(","),
                DLRM_HEADER.join(",")
            )));
        }
    }
    if !c.jobs.is_empty() {
        parsed.tables.push(ParsedTable {
            table: Table::Jobs,
            batch: jobs_batch(&c.jobs),
            source: "alibaba".into(),
            time_basis: Some(OFFSET_TIME_BASIS),
        });
    }
    if !c.nodes.is_empty() {
        parsed.tables.push(ParsedTable {
            table: Table::GpuNodes,
            batch: gpu_nodes_batch(&c.nodes),
            source: "alibaba".into(),
            time_basis: None,
        });
    }
    if !c.telemetry.is_empty() {
        let mut rows: Vec<TelemetryRow> = c.telemetry.into_values().collect();
        rows.sort_by(|a, b| (&a.device_id, a.time_us).cmp(&(&b.device_id, b.time_us)));
        parsed.tables.push(ParsedTable {
            table: Table::Telemetry,
            batch: telemetry_batch(&rows),
            source: "alibaba_v2026_genai".into(),
            time_basis: Some(GENAI_TIME_BASIS),
        });
    }
    Ok(parsed)
}

/// `alibaba_v2023_default` from `openb_pod_list_default.csv`.
fn source_name(prefix: &str, path: &Path, strip: &str) -> String {
    let stem = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = stem.split('.').next().unwrap_or_default();
    let stem = stem.strip_prefix(strip).unwrap_or(stem);
    let clean: String =
        stem.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    format!("{prefix}_{clean}")
}

/// Seconds from the trace start (possibly fractional, e.g. `4031.0000000000005`) to
/// microseconds on the offset time basis.
fn offset_us(f: &Fields<'_>, i: usize) -> FieldResult<Option<i64>> {
    match f.opt_f64(i)? {
        Some(s) if s < 0.0 => Err(FieldError::field(&f.header[i], format!("{s} is negative"))),
        Some(s) => Ok(Some((s * MICROS_PER_SECOND as f64).round() as i64)),
        None => Ok(None),
    }
}

/// Whole seconds between two offsets.
fn duration_s(creation_us: Option<i64>, deletion_us: Option<i64>) -> Option<i64> {
    creation_us.zip(deletion_us).map(|(c, d)| ((d - c) as f64 / MICROS_PER_SECOND as f64).round() as i64)
}

fn check_unique(
    keys: &mut HashMap<(String, String), (String, u64)>,
    source: &str,
    id: &str,
    file: &str,
    line: u64,
) -> FieldResult<()> {
    if let Some((f, l)) = keys.get(&(source.to_string(), id.to_string())) {
        return Err(FieldError::row(format!("duplicate key: `{id}` already at {f}:{l}")));
    }
    keys.insert((source.to_string(), id.to_string()), (file.to_string(), line));
    Ok(())
}

fn check_order(creation: Option<i64>, deletion: Option<i64>) -> FieldResult<()> {
    match (creation, deletion) {
        (Some(c), Some(d)) if d < c => {
            // In the file's unit, seconds from the trace start.
            let s = |us: i64| us as f64 / MICROS_PER_SECOND as f64;
            Err(FieldError::field("deletion_time", format!("{} s is before creation_time {} s", s(d), s(c))))
        }
        _ => Ok(()),
    }
}

fn parse_pods(input: &mut CsvInput, source: &str, c: &mut Collected, parsed: &mut Parsed) -> Result<()> {
    let name = input.name.clone();
    let header = input.header.clone();
    let with_times = header.len() == POD_HEADER.len();
    let mut tally = Tally::new(&name, "alibaba_v2023_pods");
    while let Some((line, record)) = input.next_record()? {
        let row = (|| {
            let f = Fields::new(record, &header)?;
            let job_id = f.required_str(0)?;
            let num_gpu = f.i32_in(3, 0, 64)?;
            let gpu_milli = f.i32_in(4, 0, 1000)?;
            let mut row = JobRow {
                source: source.to_string(),
                job_id: job_id.to_string(),
                cpu_milli: f.non_negative_i64(1)?,
                memory_mib: f.non_negative_i64(2)?,
                num_gpu,
                gpu_milli,
                ..JobRow::default()
            };
            if with_times {
                row.gpu_spec = f.opt_str(5).map(str::to_string);
                row.qos = Some(f.required_str(6)?.to_string());
                let phase = f.required_str(7)?;
                if !matches!(phase, "Succeeded" | "Running" | "Pending" | "Failed") {
                    return Err(FieldError::field("pod_phase", format!("unknown phase `{phase}`")));
                }
                row.phase = Some(phase.to_string());
                let creation = offset_us(&f, 8)?;
                let deletion = offset_us(&f, 9)?;
                check_order(creation, deletion)?;
                row.creation_time_us = creation;
                row.deletion_time_us = deletion;
                row.scheduled_time_us = offset_us(&f, 10)?;
                row.duration_s = duration_s(creation, deletion);
                row.duration_censored = matches!(phase, "Running" | "Pending") || row.duration_s.is_none();
            } else {
                row.duration_censored = true;
            }
            check_unique(&mut c.job_keys, source, job_id, &name, line)?;
            Ok(row)
        })();
        if let Some(row) = tally.record(line, row) {
            c.jobs.push(row);
        }
    }
    tally.merge_into(parsed);
    Ok(())
}

fn parse_nodes(input: &mut CsvInput, source: &str, c: &mut Collected, parsed: &mut Parsed) -> Result<()> {
    let name = input.name.clone();
    let header = input.header.clone();
    let mut tally = Tally::new(&name, "alibaba_v2023_nodes");
    while let Some((line, record)) = input.next_record()? {
        let row = (|| {
            let f = Fields::new(record, &header)?;
            let node_id = f.required_str(0)?;
            let row = GpuNodeRow {
                source: source.to_string(),
                node_id: node_id.to_string(),
                cpu_milli: f.non_negative_i64(1)?,
                memory_mib: f.non_negative_i64(2)?,
                num_gpu: f.i32_in(3, 0, 64)?,
                gpu_model: f.opt_str(4).map(str::to_string),
            };
            if row.num_gpu > 0 && row.gpu_model.is_none() {
                return Err(FieldError::field("model", format!("empty for a node with {} GPUs", row.num_gpu)));
            }
            check_unique(&mut c.node_keys, source, node_id, &name, line)?;
            Ok(row)
        })();
        if let Some(row) = tally.record(line, row) {
            c.nodes.push(row);
        }
    }
    tally.merge_into(parsed);
    Ok(())
}

fn parse_dlrm(input: &mut CsvInput, c: &mut Collected, parsed: &mut Parsed) -> Result<()> {
    const SOURCE: &str = "alibaba_v2025_dlrm";
    let name = input.name.clone();
    let header = input.header.clone();
    let mut tally = Tally::new(&name, "alibaba_v2025_dlrm");
    while let Some((line, record)) = input.next_record()? {
        let row = (|| {
            let f = Fields::new(record, &header)?;
            let job_id = f.required_str(0)?;
            let role = f.required_str(1)?;
            if !matches!(role, "CN" | "HN") {
                return Err(FieldError::field("role", format!("unknown role `{role}` (CN or HN)")));
            }
            let cpu = f.f64(3)?;
            let gpus = f.i32_in(5, 0, 64)?;
            let memory_gib = f.f64(9)?;
            if cpu < 0.0 {
                return Err(FieldError::field("cpu_request", format!("{cpu} is negative")));
            }
            if memory_gib < 0.0 {
                return Err(FieldError::field("memory_request", format!("{memory_gib} is negative")));
            }
            let creation = offset_us(&f, 14)?;
            let deletion = offset_us(&f, 16)?;
            check_order(creation, deletion)?;
            let duration = duration_s(creation, deletion);
            check_unique(&mut c.job_keys, SOURCE, job_id, &name, line)?;
            Ok(JobRow {
                source: SOURCE.to_string(),
                job_id: job_id.to_string(),
                group_id: f.opt_str(2).map(str::to_string),
                role: Some(role.to_string()),
                cpu_milli: (cpu * 1000.0).round() as i64,
                memory_mib: (memory_gib * 1024.0).round() as i64,
                num_gpu: gpus,
                gpu_milli: if gpus > 0 { 1000 } else { 0 },
                gpu_spec: None,
                // The trace's README: every instance is a latency-sensitive inference service.
                qos: Some("LS".to_string()),
                phase: None,
                creation_time_us: creation,
                scheduled_time_us: offset_us(&f, 15)?,
                deletion_time_us: deletion,
                duration_s: duration,
                duration_censored: duration.is_none(),
                ..JobRow::default()
            })
        })();
        if let Some(row) = tally.record(line, row) {
            c.jobs.push(row);
        }
    }
    tally.merge_into(parsed);
    Ok(())
}

/// Reads every CSV member of a GenAI archive without unpacking it to disk.
fn parse_genai_archive(path: &Path, c: &mut Collected, parsed: &mut Parsed) -> Result<()> {
    let mut archive = tar::Archive::new(open_decompressed(path)?);
    let corrupt =
        |e: std::io::Error| Error::input(path, format!("cannot read the tar archive: {e} (truncated or corrupt?)"));
    let mut members = 0;
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let member = entry.path().map_err(corrupt)?.to_string_lossy().into_owned();
        let base = member.rsplit('/').next().unwrap_or_default().to_string();
        if !entry.header().entry_type().is_file() || base.starts_with("._") || !base.ends_with(".csv") {
            continue;
        }
        members += 1;
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(corrupt)?;
        let name = format!("{}:{member}", path.display());
        let metric = if base.contains("duty_cycle") {
            Metric::DutyCycle
        } else if base.contains("gpu_memory_used_bytes") {
            Metric::GpuMemory
        } else {
            return Err(Error::input(
                &name,
                "unsupported GenAI member: hcp ingests pod_gpu_duty_cycle and pod_gpu_memory_used_bytes",
            ));
        };
        let mut input = CsvInput::from_reader(name, Lines::new(Cursor::new(bytes)), true)?;
        parse_genai_member(&mut input, metric, c, parsed)?;
    }
    if members == 0 {
        return Err(Error::input(path, "the archive holds no CSV member"));
    }
    Ok(())
}

enum Value {
    Ratio(f64),
    Bytes(i64),
}

#[derive(Clone, Copy)]
enum Metric {
    DutyCycle,
    GpuMemory,
}

fn parse_genai_member(input: &mut CsvInput, metric: Metric, c: &mut Collected, parsed: &mut Parsed) -> Result<()> {
    let value_col = input.column("value")?;
    let time_col = input.column("timestamp_anon")?;
    let device_col = input.column("container_ip")?;
    let name = input.name.clone();
    let header = input.header.clone();
    let kind = match metric {
        Metric::DutyCycle => "alibaba_v2026_gpu_duty_cycle",
        Metric::GpuMemory => "alibaba_v2026_gpu_memory",
    };
    let mut tally = Tally::new(&name, kind);
    while let Some((line, record)) = input.next_record()? {
        let row = (|| {
            let f = Fields::new(record, &header)?;
            let device = f.required_str(device_col)?;
            if device == "None" || device == "NULL" {
                return Err(FieldError::field("container_ip", "no container"));
            }
            let seconds = f.f64(time_col)?;
            let time_us = (seconds * MICROS_PER_SECOND as f64).round() as i64;
            let value = match metric {
                Metric::DutyCycle => {
                    let pct = f.f64(value_col)?;
                    if !(0.0..=100.0).contains(&pct) {
                        return Err(FieldError::field("value", format!("duty cycle {pct}% is outside 0..=100")));
                    }
                    Value::Ratio(pct / 100.0)
                }
                Metric::GpuMemory => {
                    // The trace's values are window averages with fractional bytes: the
                    // nearest whole byte is kept.
                    let bytes = f.f64(value_col)?;
                    if bytes < 0.0 {
                        return Err(FieldError::field("value", format!("{bytes} bytes is negative")));
                    }
                    Value::Bytes(bytes.round() as i64)
                }
            };
            let row = c.telemetry.entry((device.to_string(), time_us)).or_insert_with(|| TelemetryRow {
                source: "alibaba_v2026_genai".to_string(),
                device_id: device.to_string(),
                time_us,
                ..TelemetryRow::default()
            });
            // The first sample of a container and minute stands; a second one is rejected.
            let already = match value {
                Value::Ratio(_) => row.utilization_ratio.is_some(),
                Value::Bytes(_) => row.gpu_memory_used_bytes.is_some(),
            };
            if already {
                return Err(FieldError::row(format!("duplicate key: container {device} at {seconds} already sampled")));
            }
            match value {
                Value::Ratio(r) => row.utilization_ratio = Some(r),
                Value::Bytes(b) => row.gpu_memory_used_bytes = Some(b),
            }
            Ok(())
        })();
        tally.record(line, row);
    }
    tally.merge_into(parsed);
    Ok(())
}
