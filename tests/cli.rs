//! The `hcp` binary end to end: the README's main command and the ingest contract.

use std::path::Path;
use std::process::Command;

fn hcp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hcp"))
}

#[test]
fn run_on_the_synthetic_default_writes_history_and_report() {
    let out = tempfile::tempdir().unwrap();
    let status = hcp().args(["run", "--out"]).arg(out.path()).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    for node in ["HB_WEST", "LZ_WEST", "HB_NORTH"] {
        assert!(report.contains(&format!("| ERCOT | {node} | USD | 2160 |")), "{report}");
    }
    assert!(out.path().join("history/prices/market=ERCOT/year=2024/part-synthetic-seed42.parquet").is_file());

    // Deterministic: a second run writes byte-identical history.
    let again = tempfile::tempdir().unwrap();
    assert!(hcp().args(["run", "--out"]).arg(again.path()).status().unwrap().success());
    let file = "history/prices/market=ERCOT/year=2024/part-synthetic-seed42.parquet";
    assert_eq!(std::fs::read(out.path().join(file)).unwrap(), std::fs::read(again.path().join(file)).unwrap());
}

#[test]
fn ingest_reports_rejections_and_fails_when_nothing_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("p.csv");
    std::fs::write(
        &csv,
        "delivery_date,hour_ending,settlement_point,dam_lmp,rtm_lmp\n2024-07-01,1,HB_WEST,1,2\n2024-07-01,2,HB_WEST,x,2\n",
    )
    .unwrap();
    let out = dir.path().join("ds");
    let o = hcp().args(["ingest", "ercot"]).arg(&csv).arg("--out").arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stdout.contains("wrote         1 rows to `prices`"), "{stdout}");
    assert!(stderr.contains("p.csv:3: field `dam_lmp`: `x` is not a number"), "{stderr}");

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "delivery_date,hour_ending,settlement_point,dam_lmp,rtm_lmp\n2024-07-01,1,HB_WEST,x,2\n")
        .unwrap();
    let out2 = dir.path().join("ds2");
    let o = hcp().args(["ingest", "ercot"]).arg(&bad).arg("--out").arg(&out2).output().unwrap();
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("no valid rows"), "{stderr}");
    assert!(stderr.contains("rejected ") && stderr.contains("bad.csv:2: field `dam_lmp`"), "{stderr}");
    assert!(!Path::new(&out2).exists(), "nothing written");
}

#[test]
fn run_with_real_data_ingests_ercot() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if !data.join("ercot").is_dir() {
        eprintln!("SKIPPED run_with_real_data_ingests_ercot: {} not found", data.display());
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let o = hcp().args(["run", "--data"]).arg(&data).arg("--out").arg(out.path()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert_eq!(report.matches("| ERCOT |").count(), 15, "{report}");
    for market in ["| NP | SYSTEM | EUR | 34944 |", "| PJM | COMED | USD | 34944 |", "| DE | DE | EUR | 34944 |"] {
        assert!(report.contains(market), "{market} missing from\n{report}");
    }
    for table in ["| prices | 296682 |", "| jobs | 29577 |", "| telemetry | 161415 |", "| btc_network |"] {
        assert!(report.contains(table), "{table} missing from\n{report}");
    }
}
