//! Malformed inputs: each gives a precise error (file, line, field) and leaves no partial output.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use hcp_datasets::Error;
use hcp_datasets::ingest::{Format, IngestOptions, IngestReport, ingest};
use proptest::prelude::*;

use crate::support::files_below;

const HEADER: &str = "delivery_date,hour_ending,settlement_point,dam_lmp,rtm_lmp\n";

fn good_rows(n: usize) -> String {
    (0..n).map(|h| format!("2024-07-01,{},HB_WEST,{}.5,{}.25\n", h % 24 + 1, h, h)).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `text` written to `dir/name` and ingested as `format` into a directory of its own.
fn ingest_text(format: Format, dir: &Path, name: &str, text: &str) -> IngestReport {
    let path = write(dir, name, text.as_bytes());
    let out = tempfile::tempdir().unwrap();
    ingest(format, &[path], &IngestOptions::new(out.path())).unwrap()
}

fn gzip(text: &str) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

/// Ingests and returns the error message, asserting the output directory stayed empty.
fn fails(format: Format, inputs: &[PathBuf], strict: bool) -> String {
    let out = tempfile::tempdir().unwrap();
    let mut opts = IngestOptions::new(out.path().join("ds"));
    opts.strict = strict;
    let err = ingest(format, inputs, &opts).expect_err("ingest should fail");
    assert!(files_below(out.path()).is_empty(), "partial output: {:?}", files_below(out.path()));
    err.to_string()
}

#[test]
fn truncated_gzip_names_the_file_and_says_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = gzip(&format!("{HEADER}{}", good_rows(24 * 50)));
    bytes.truncate(bytes.len() / 2);
    let path = write(dir.path(), "prices.csv.gz", &bytes);
    let msg = fails(Format::Ercot, &[path], false);
    assert!(msg.contains("prices.csv.gz") && msg.contains("truncated"), "{msg}");
}

#[test]
fn a_good_file_then_a_truncated_one_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.csv", format!("{HEADER}{}", good_rows(24)).as_bytes());
    let mut bytes = gzip(&format!("{HEADER}{}", good_rows(2000)));
    bytes.truncate(bytes.len() - 40);
    let bad = write(dir.path(), "bad.csv.gz", &bytes);
    let msg = fails(Format::Ercot, &[good, bad], false);
    assert!(msg.contains("bad.csv.gz"), "{msg}");
}

#[test]
fn wrong_header_shows_expected_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "p.csv", b"delivery_date,hour,settlement_point,dam,rtm\n2024-07-01,1,HB_WEST,1,2\n");
    let msg = fails(Format::Ercot, &[path], false);
    assert!(msg.contains("p.csv") && msg.contains("wrong header"), "{msg}");
    assert!(msg.contains("delivery_date,hour_ending,settlement_point,dam_lmp,rtm_lmp"), "{msg}");
    assert!(msg.contains("delivery_date,hour,settlement_point,dam,rtm"), "{msg}");

    let path = write(dir.path(), "NP.csv", b",Price,Load\n2013-01-01 00:00:00,1,2\n");
    let msg = fails(Format::Epftoolbox, &[path], false);
    assert!(msg.contains("NP.csv") && msg.contains("wrong header") && msg.contains("Grid load forecast"), "{msg}");

    // A list of the headers a format reads quotes each of them once, not the list as well.
    let path = write(dir.path(), "efficiency.csv", b"Date,ASICMiner\n2017-01-01,1\n");
    let msg = fails(Format::Btc, &[path], false);
    assert!(msg.contains("wrong header: expected one of: `,date,difficulty"), "{msg}");
    assert!(msg.contains("found `Date,ASICMiner`"), "{msg}");
}

#[test]
fn empty_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for format in [Format::Ercot, Format::Epftoolbox, Format::Alibaba, Format::Btc] {
        let path = write(dir.path(), "empty.csv", b"");
        let msg = fails(format, &[path], false);
        assert!(msg.contains("empty.csv") && msg.contains("empty file"), "{msg}");
    }
    let path = write(dir.path(), "empty.csv.gz", &gzip(""));
    let msg = fails(Format::Ercot, &[path], false);
    assert!(msg.contains("empty file"), "{msg}");
}

#[test]
fn header_only_is_nothing_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "h.csv", HEADER.as_bytes());
    let msg = fails(Format::Ercot, &[path], false);
    assert!(msg.contains("no valid rows"), "{msg}");
}

/// A price no market clears (a corrupted value, a unit mistake) is rejected, in either file;
/// ERCOT's record real-time prices and a negative price are not.
#[test]
fn prices_beyond_any_market_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEADER}2024-07-01,1,HB_WEST,12.5,9000\n2024-07-01,2,HB_WEST,-250,1e300\n2024-07-01,3,HB_WEST,-20001,14\n"
    );
    let report = ingest_text(Format::Ercot, dir.path(), "p.csv", &text);
    let rejected: Vec<_> =
        report.rejections.iter().map(|r| (r.line, r.field.clone().unwrap_or_default(), r.reason.clone())).collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert_eq!((rejected[0].0, rejected[0].1.as_str()), (3, "rtm_lmp"));
    assert!(rejected[0].2.contains("beyond ±20000"), "{rejected:?}");
    assert_eq!((rejected[1].0, rejected[1].1.as_str()), (4, "dam_lmp"));

    let epf =
        ",Price,Grid load forecast,Wind power forecast\n2016-01-01 00:00:00,30.1,1,2\n2016-01-01 01:00:00,30000,1,2\n";
    let report = ingest_text(Format::Epftoolbox, dir.path(), "NP.csv", epf);
    assert_eq!(report.rejections.len(), 1);
    assert_eq!((report.rejections[0].line, report.rejections[0].field.as_deref()), (3, Some("Price")));
}

#[test]
fn non_numeric_value_is_rejected_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        format!("{HEADER}2024-07-01,1,HB_WEST,12.5,13\n2024-07-01,2,HB_WEST,abc,14\n2024-07-01,3,HB_WEST,11,inf\n");
    let path = write(dir.path(), "p.csv", text.as_bytes());
    let out = tempfile::tempdir().unwrap();
    let report = ingest(Format::Ercot, std::slice::from_ref(&path), &IngestOptions::new(out.path())).unwrap();
    let f = &report.files[0];
    assert_eq!((f.rows_read, f.rows_accepted, f.rows_rejected), (3, 1, 2));
    assert_eq!(report.tables[0].rows_written, 1);
    let r = &report.rejections[0];
    assert_eq!((r.line, r.field.as_deref()), (3, Some("dam_lmp")));
    assert!(r.reason.contains("`abc` is not a number"), "{r}");
    assert!(r.to_string().starts_with(&format!("{}:3: field `dam_lmp`", path.display())), "{r}");
    assert_eq!((report.rejections[1].line, report.rejections[1].field.as_deref()), (4, Some("rtm_lmp")));
    // The report on disk holds every rejection.
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report.report_path).unwrap()).unwrap();
    assert_eq!(json["rejections"].as_array().unwrap().len(), 2);

    // Strict mode writes nothing and names the first rejection.
    let msg = fails(Format::Ercot, &[path], true);
    assert!(msg.contains("2 row(s) rejected") && msg.contains("p.csv:3"), "{msg}");
    // Only bad rows: nothing valid, nothing written.
    let bad = write(dir.path(), "bad.csv", format!("{HEADER}2024-07-01,2,HB_WEST,abc,14\n").as_bytes());
    let msg = fails(Format::Ercot, &[bad], false);
    assert!(msg.contains("no valid rows") && msg.contains("1 row(s) rejected"), "{msg}");
}

/// The lines named are the file's own whatever its line ends (the ERCOT and epftoolbox files
/// are CRLF) and after blank lines, gzipped or not.
#[test]
fn rejections_name_the_line_in_crlf_files_and_after_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        HEADER.trim_end(),
        "2024-07-01,1,HB_WEST,12.5,13",
        "",
        "2024-07-01,2,HB_WEST,abc,14",
        "2024-07-01,3,HB_WEST,11,12",
        "2024-07-01,4,HB_WEST,11,x",
    ];
    for (end, gzipped) in [("\r\n", false), ("\r\n", true), ("\n", false)] {
        let text = lines.join(end) + end;
        let bytes = if gzipped { gzip(&text) } else { text.into_bytes() };
        let path = write(dir.path(), "p.csv", &bytes);
        let out = tempfile::tempdir().unwrap();
        let report = ingest(Format::Ercot, std::slice::from_ref(&path), &IngestOptions::new(out.path())).unwrap();
        let named: Vec<(u64, Option<&str>)> = report.rejections.iter().map(|r| (r.line, r.field.as_deref())).collect();
        assert_eq!(named, [(4, Some("dam_lmp")), (6, Some("rtm_lmp"))], "line end {end:?}, gzipped {gzipped}");
        assert_eq!(report.files[0].rows_accepted, 2);
    }
}

#[test]
fn duplicate_key_names_the_first_occurrence() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{HEADER}2024-07-01,1,HB_WEST,1,1\n2024-07-01,2,HB_WEST,2,2\n2024-07-01,1,HB_WEST,3,3\n");
    let path = write(dir.path(), "p.csv", text.as_bytes());
    let out = tempfile::tempdir().unwrap();
    let report = ingest(Format::Ercot, std::slice::from_ref(&path), &IngestOptions::new(out.path())).unwrap();
    assert_eq!(report.files[0].rows_rejected, 1);
    let r = &report.rejections[0];
    assert_eq!(r.line, 4);
    assert!(r.reason.contains("duplicate key") && r.reason.contains("p.csv:2"), "{r}");
    // Strict mode: the duplicate stops the run and nothing is written.
    let msg = fails(Format::Ercot, &[path], true);
    assert!(msg.contains("1 row(s) rejected") && msg.contains("duplicate key"), "{msg}");
}

#[test]
fn hour_ending_two_on_the_spring_forward_day_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{HEADER}2024-03-10,1,HB_WEST,1,1\n2024-03-10,2,HB_WEST,2,2\n2024-03-10,3,HB_WEST,3,3\n");
    let report = ingest_text(Format::Ercot, dir.path(), "p.csv", &text);
    assert_eq!(report.files[0].rows_rejected, 1);
    assert_eq!(report.rejections[0].field.as_deref(), Some("hour_ending"));
    assert!(report.rejections[0].reason.contains("does not exist"));
}

#[test]
fn a_dst_flag_column_places_the_repeated_hour() {
    let dir = tempfile::tempdir().unwrap();
    let text = "delivery_date,hour_ending,settlement_point,dam_lmp,rtm_lmp,DSTFlag\n\
                2024-11-03,2,HB_WEST,1,1,N\n2024-11-03,2,HB_WEST,2,2,Y\n2024-11-03,3,HB_WEST,3,3,N\n";
    let report = ingest_text(Format::Ercot, dir.path(), "p.csv", text);
    assert_eq!(report.files[0].rows_rejected, 0, "{:?}", report.rejections);
    assert_eq!(report.tables[0].rows_written, 3);
}

#[test]
fn alibaba_and_btc_row_errors_name_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let pods = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n\
                p0,1000,1024,1,1000,,LS,Running,0,100,0\n\
                p1,1000,1024,1,1500,,LS,Running,0,100,0\n\
                p2,1000,1024,1,500,,LS,Exploded,0,100,0\n\
                p3,1000,1024,1,500,,BE,Succeeded,50,10,50\n";
    let report = ingest_text(Format::Alibaba, dir.path(), "openb_pod_list_x.csv", pods);
    let fields: Vec<_> = report.rejections.iter().map(|r| (r.line, r.field.clone().unwrap_or_default())).collect();
    assert_eq!(fields, [(3, "gpu_milli".into()), (4, "pod_phase".into()), (5, "deletion_time".into())]);
    // In the file's unit: seconds from the trace start.
    assert_eq!(report.rejections[2].reason, "10 s is before creation_time 50 s");

    let blocks =
        "height,time,subsidy,totalfee,txs\n840000,1713571767,312500000,100,1\n840001,1713571800,625000000,100,1\n";
    let report = ingest_text(Format::Btc, dir.path(), "blocks.csv", blocks);
    assert_eq!(report.rejections.len(), 1);
    assert_eq!(report.rejections[0].field.as_deref(), Some("subsidy"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever mix of good and bad lines: read = accepted + rejected = data lines, and every
    /// accepted row is written.
    #[test]
    fn no_row_is_lost(kinds in prop::collection::vec(0u8..6, 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from(HEADER);
        for (i, k) in kinds.iter().enumerate() {
            let day = 1 + i / 24;
            let he = i % 24 + 1;
            text.push_str(&match k {
                0 | 1 => format!("2024-07-{day:02},{he},HB_WEST,{i}.5,{i}\n"),
                2 => format!("2024-07-{day:02},{he},HB_WEST,x{i},1\n"),
                3 => format!("2024-07-{day:02},{he},HB_WEST,1\n"),
                4 => format!("2024-07-{day:02},0,HB_WEST,1,1\n"),
                _ => format!("2024-07-{day:02},{he},HB_WEST,,\n"),
            });
        }
        let path = write(dir.path(), "p.csv", text.as_bytes());
        let out = tempfile::tempdir().unwrap();
        let accepted = kinds.iter().filter(|k| matches!(k, 0 | 1 | 5)).count() as u64;
        match ingest(Format::Ercot, &[path], &IngestOptions::new(out.path())) {
            Ok(report) => {
                let f = &report.files[0];
                prop_assert_eq!(f.rows_read, kinds.len() as u64);
                prop_assert_eq!(f.rows_accepted, accepted);
                prop_assert_eq!(f.rows_read, f.rows_accepted + f.rows_rejected);
                prop_assert_eq!(report.rejections.len() as u64, f.rows_rejected);
                prop_assert_eq!(report.tables[0].rows_written as u64, accepted);
            }
            Err(Error::NothingValid { rejected, .. }) => {
                prop_assert_eq!(accepted, 0);
                prop_assert_eq!(rejected, kinds.len() as u64);
            }
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}

#[test]
fn duplicates_across_files_name_the_earliest_row() {
    let dir = tempfile::tempdir().unwrap();
    let a =
        write(dir.path(), "a.csv", format!("{HEADER}2024-07-01,1,HB_WEST,1,1\n2024-07-01,2,HB_WEST,2,2\n").as_bytes());
    let b = write(
        dir.path(),
        "b.csv",
        format!("{HEADER}2024-07-01,2,HB_WEST,3,3\n2024-07-01,2,HB_WEST,4,4\n2024-07-01,3,HB_WEST,5,5\n").as_bytes(),
    );
    let out = tempfile::tempdir().unwrap();
    let report = ingest(Format::Ercot, &[a.clone(), b], &IngestOptions::new(out.path())).unwrap();
    let counts: Vec<_> = report.files.iter().map(|f| (f.rows_read, f.rows_accepted, f.rows_rejected)).collect();
    assert_eq!(counts, [(2, 2, 0), (3, 1, 2)]);
    assert_eq!(report.tables[0].rows_written, 3);
    let lines: Vec<u64> = report.rejections.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 3]);
    let first = format!("{}:3", a.display());
    assert!(report.rejections.iter().all(|r| r.reason.contains(&first)), "{:?}", report.rejections);
}

#[test]
fn a_repeated_genai_sample_is_rejected_and_the_first_stands() {
    use arrow::array::{Array, Float64Array};
    use hcp_datasets::{ReadOptions, Table, read_table};
    let dir = tempfile::tempdir().unwrap();
    let csv =
        "value,timestamp_anon,container_ip\n10.0,1662858720.0,abc\n90.0,1662858720.0,abc\n50.0,1662858780.0,abc\n";
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    let mut header = tar::Header::new_gnu();
    header.set_size(csv.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, "pod_gpu_duty_cycle_anon.csv", csv.as_bytes()).unwrap();
    let bytes = builder.into_inner().unwrap().finish().unwrap();
    let path = write(dir.path(), "pod_gpu_duty_cycle_anon.tar.gz", &bytes);
    let out = tempfile::tempdir().unwrap();
    let report = ingest(Format::Alibaba, &[path], &IngestOptions::new(out.path())).unwrap();
    assert_eq!((report.files[0].rows_read, report.files[0].rows_rejected), (3, 1));
    assert_eq!(report.rejections[0].line, 3);
    assert!(report.rejections[0].reason.contains("duplicate key"), "{:?}", report.rejections);
    let (t, _) = read_table(out.path(), Table::Telemetry, &ReadOptions::default()).unwrap();
    let util = t.column_by_name("utilization_ratio").unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(util.iter().collect::<Vec<_>>(), [Some(0.1), Some(0.5)]);
}
