//! The `hcp` binary end to end: the README's main command and the ingest contract.

use std::path::Path;
use std::process::Command;

fn hcp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hcp"))
}

/// An external tool a test drives, named by the environment variable `var` (`.ci/run` installs
/// it and sets `var` and `HCP_REQUIRE_<what>`); without it the test says it skipped, unless
/// required.
fn external_tool(var: &str, require: &str, what: &str) -> Option<std::ffi::OsString> {
    let tool = std::env::var_os(var);
    if tool.is_none() {
        assert!(std::env::var_os(require).is_none(), "{require} is set but {var} is not");
        println!("SKIPPED {what}: set {var}");
    }
    tool
}

#[test]
fn run_on_the_synthetic_default_writes_history_and_report() {
    let out = tempfile::tempdir().unwrap();
    let status = hcp().args(["run", "--out"]).arg(out.path()).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    for node in ["HB_WEST", "LZ_WEST"] {
        assert!(report.contains(&format!("| ERCOT | {node} | USD | 1440 |")), "{report}");
        assert!(report.contains(&format!("| {node} | ")) && report.contains("| 24 | `"), "{report}");
        assert!(report.contains("GPU demand (GPUs held by jobs) a week ahead"), "{report}");
    }
    for table in ["prices", "btc_network", "jobs", "telemetry"] {
        assert!(report.contains(&format!("| {table} |")), "{report}");
    }
    let file = "history/prices/market=ERCOT/year=2025/part-sim-west-texas-42.parquet";
    assert!(out.path().join(file).is_file());
    // The week's backtest of every policy after the history, in the report and on disk.
    assert!(report.contains("## Backtest: hb-west-joint"), "{report}");
    let summary = read_json(&out.path().join("backtest/summary.json"));
    let policies = summary["policies"].as_array().unwrap();
    let names: Vec<&str> = policies.iter().map(|p| p["policy"].as_str().unwrap()).collect();
    assert_eq!(names, ["always_on", "threshold", "optimiser_perfect", "optimiser_hcp"]);
    for p in policies {
        assert_eq!(p["cap_violations"], 0, "{p}");
    }
    assert!(out.path().join("backtest/decisions.parquet").is_file());
    // The holdout's walk-forward forecasts, one run id per node, beside the product forecasts.
    let holdout = walk(&out.path().join("evaluation/forecasts"));
    for node in ["HB_WEST", "LZ_WEST"] {
        assert!(holdout.iter().any(|p| p.ends_with(format!("part-holdout-42-{node}.parquet"))), "{holdout:?}");
    }
    query_reads_what_run_wrote(out.path());
    notebooks_execute_on(out.path());

    // Deterministic: a second run writes byte-identical history.
    let again = tempfile::tempdir().unwrap();
    assert!(hcp().args(["run", "--out"]).arg(again.path()).status().unwrap().success());
    assert_eq!(std::fs::read(out.path().join(file)).unwrap(), std::fs::read(again.path().join(file)).unwrap());
}

/// `hcp query` over a run's output: its tables found one level down, an ambiguous name
/// qualified by its directory, answers printed and written, and bad input named.
fn query_reads_what_run_wrote(run: &Path) {
    let query = |args: &[&str]| hcp().arg("query").arg("--data").arg(run).args(args).output().unwrap();
    let o = query(&["--tables"]);
    let tables = String::from_utf8_lossy(&o.stdout);
    for name in ["prices ", "telemetry ", "jobs ", "decisions ", "evaluation_forecasts ", "forecasts_forecasts "] {
        assert!(tables.lines().any(|l| l.starts_with(name)), "{name}: {tables}");
    }
    // Golden: the run's report says HB_WEST has 1,440 hours of history.
    let o = query(&["SELECT node, count(*) AS hours FROM prices GROUP BY node ORDER BY node"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["node", "hours"], "{text}");
    assert!(lines[2].starts_with("HB_WEST") && lines[2].ends_with(" 1440"), "{text}");
    assert!(text.ends_with("2 rows × 2 columns\n"), "{text}");
    // The holdout forecasts joined to realised prices: the MAE of lear_rt by horizon, every row
    // written to CSV (24 horizons × 2 nodes).
    let csv = run.join("mae_by_horizon.csv");
    let sql = "SELECT f.node, f.horizon_minutes / 60 + 1 AS horizon, avg(abs(f.value - p.rtm_price_per_mwh)) AS mae \
               FROM evaluation_forecasts f JOIN prices p ON p.node = f.node AND p.interval_start = f.target_time \
               WHERE f.model_id = 'lear_rt' GROUP BY f.node, horizon ORDER BY f.node, horizon";
    let o = query(&[sql, "--out", csv.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let written = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(written.lines().next(), Some("node,horizon,mae"), "{written}");
    assert_eq!(written.lines().count(), 1 + 48, "{written}");
    // Bad input: an unknown table names the tables there; a bad extension leaves the old file.
    let o = query(&["SELECT * FROM nowhere"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("nowhere") && err.contains("telemetry"), "{err}");
    let o = query(&["SELECT 1 AS x", "--out", run.join("x.txt").to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains(".csv or .parquet"));
    let o = query(&["SELEC node FROM prices", "--out", csv.to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("SQL"));
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), written, "a failed query rewrote the file");
    // An answer over one of the run's tables is refused before the query runs; the table stays.
    let decisions = run.join("backtest").join("decisions.parquet");
    let before = std::fs::read(&decisions).unwrap();
    let o = query(&["SELECT 1 AS x", "--out", decisions.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("would replace or join table `decisions`"), "{err}");
    assert_eq!(std::fs::read(&decisions).unwrap(), before);
}

/// The analyst notebooks (`notebooks/*.ipynb`) executed with nbmake against a run's output:
/// every cell runs (they assert their own consistency: holdout MAE equals the manifest's,
/// polars equals DuckDB, profit is the sum of its parts) and each saves its figures as PNG.
/// `.ci/run` installs `notebooks/requirements.txt` and sets HCP_NOTEBOOK_PYTHON.
fn notebooks_execute_on(run: &Path) {
    let what = "the notebooks (a Python with notebooks/requirements.txt)";
    let Some(python) = external_tool("HCP_NOTEBOOK_PYTHON", "HCP_REQUIRE_NOTEBOOKS", what) else { return };
    let figures = run.join("figures");
    let notebooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("notebooks");
    let o = Command::new(python)
        .args(["-m", "pytest", "--nbmake", "-p", "no:cacheprovider", "-q"])
        .arg(&notebooks)
        .current_dir(&notebooks)
        .env("HCP_RUN_DIR", run)
        .env("HCP_FIGURES_DIR", &figures)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("3 passed"), "{stdout}");
    for png in [
        "forecast_mae_by_horizon",
        "forecast_vs_actual",
        "backtest_profit",
        "backtest_power_targets",
        "fleet_efficiency",
        "site_power",
        "gpu_utilisation",
    ] {
        let bytes = std::fs::read(figures.join(format!("{png}.png"))).unwrap_or_default();
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000, "{png}.png missing or empty");
    }
}

/// What the synthetic default cannot answer is refused before anything is simulated: too few
/// days for the price forecaster, a node the built-in fleet has no site on.
#[test]
fn run_refuses_what_the_synthetic_default_cannot_answer() {
    let out = tempfile::tempdir().unwrap();
    for (args, want) in [
        (["--days", "50"], "--days 50: the price forecaster needs at least 51 days"),
        (["--node", "HB_NOPE"], "--node HB_NOPE: the built-in fleet's sites are on HB_WEST, LZ_WEST"),
    ] {
        let o = hcp().arg("run").args(args).arg("--out").arg(out.path().join("run")).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && stderr.contains(want), "{stderr}");
        assert!(!out.path().join("run").exists(), "nothing written");
    }
}

/// A count out of range is refused by its flag before anything runs: zero (which was run as
/// one, or served nothing), or past what the command could do (a century of days, more
/// threads or workers than a process can start, sizes that exhaust memory); so is a miner
/// named twice (two series with the same labels, which Prometheus refuses), and a server told
/// both to check keys and not to.
#[test]
fn counts_out_of_range_and_repeats_are_refused_by_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let cases: [(&[&str], &str); 15] = [
        (
            &["exporter", "asic", "--miner", "127.0.0.1:4028", "--miner", "127.0.0.1:4028"],
            "--miner 127.0.0.1:4028 is given twice",
        ),
        (&["run", "--node", "HB_WEST", "--node", "HB_WEST", "--out", o], "--node HB_WEST is given twice"),
        (&["ingest", "ercot", "Cargo.toml", "./Cargo.toml", "--out", o], "Cargo.toml is given twice"),
        (&["run", "--days", "3651", "--out", o], "--days <DAYS>': 3651 is not in 0..=3650"),
        (&["sim", "miners", "--count", "0"], "--count <COUNT>': 0 is not in 1..=65536"),
        (&["sim", "miners", "--speed", "NaN"], "--speed NaN: above 0"),
        (&["scheduler", "--fleet", "fleets/small.toml", "--ga-ms", "0"], "--ga-ms <GA_MS>': 0 is not in 1..=60000"),
        (
            &["scheduler", "--fleet", "fleets/small.toml", "--miner-concurrency", "0"],
            "--miner-concurrency <MINER_CONCURRENCY>': 0 is not in 1..=4096",
        ),
        (
            &["sim", "site", "--fleet", "fleets/daemon-demo.toml", "--delay-s", "3601"],
            "--delay-s 3601: 0 to 3600 seconds",
        ),
        (&["serve", "--models", o, "--no-auth", "--workers", "0"], "--workers 0: 1 to 1024"),
        (&["serve", "--models", o, "--no-auth", "--body-limit", "0"], "--body-limit 0: 1024 to"),
        (&["serve", "--models", o, "--no-auth", "--keys", "k"], "--no-auth (or HCP_SERVE_NO_AUTH) with --keys"),
        (
            &["ingest", "ercot", "x.csv", "--out", o, "--row-group-rows", "0"],
            "--row-group-rows <ROW_GROUP_ROWS>': 0 is not in 1..",
        ),
        (
            &["evaluate", "demand", "--input", "x.csv", "--test-start", "0", "--out", o, "--band-days", "40000"],
            "40000 days is more than 36500",
        ),
        (
            &[
                "backtest",
                "--prices",
                "x.csv",
                "--point",
                "HB_WEST",
                "--fleet",
                "fleets/hb-west-joint.toml",
                "--from",
                "2025-01-01",
                "--to",
                "2025-01-02",
                "--out",
                o,
                "--horizon-hours",
                "169",
            ],
            "--horizon-hours <HORIZON_HOURS>': 169 is not in 1..=168",
        ),
    ];
    for (args, want) in cases {
        let output = hcp().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(want), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
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
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(!stdout.contains("not found"), "{stdout}");
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert_eq!(report.matches("| ERCOT |").count(), 15, "{report}");
    for market in ["| NP | SYSTEM | EUR | 34944 |", "| PJM | COMED | USD | 34944 |", "| DE | DE | EUR | 34944 |"] {
        assert!(report.contains(market), "{market} missing from\n{report}");
    }
    for table in ["| prices | 296682 |", "| jobs | 29577 |", "| telemetry | 161415 |", "| btc_network |"] {
        assert!(report.contains(table), "{table} missing from\n{report}");
    }
    // The backtest's week is the file's last whole week (it ends 2025-07-01T05:00Z), every
    // hour priced.
    assert!(report.contains("## Backtest: hb-west-joint from 2025-06-24T00:00:00Z for 7 days"), "{report}");
    assert!(report.contains(" 0 hours had no price"), "{report}");

    // A data directory with only some of the files: each one missing is named, and without
    // the ERCOT prices the run stops, saying so.
    let partial = tempfile::tempdir().unwrap();
    std::fs::create_dir(partial.path().join("epftoolbox")).unwrap();
    std::fs::copy(data.join("epftoolbox/NP.csv.gz"), partial.path().join("epftoolbox/NP.csv.gz")).unwrap();
    let o = hcp().args(["run", "--data"]).arg(partial.path()).arg("--out").arg(out.path().join("p")).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("ercot: not found, skipped: ") && stdout.contains("ercot_system_hourly_exog.csv.gz"),
        "{stdout}"
    );
    assert!(stdout.contains("epftoolbox: not found, skipped: ") && stdout.contains("PJM.csv.gz"), "{stdout}");
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("nor a data directory"));
}

/// pyasic (PyPI), a miner client nobody here wrote, discovers simulated miners on loopback,
/// reads their watts and state, pauses and resumes them and sets their power limit.
/// `.ci/run` creates the venv and sets HCP_PYASIC_PYTHON; elsewhere the test says it skipped.
#[test]
fn pyasic_drives_simulated_miners_over_tcp() {
    let what = "pyasic (a Python with tests/pyasic/requirements.txt)";
    let Some(python) = external_tool("HCP_PYASIC_PYTHON", "HCP_REQUIRE_PYASIC", what) else { return };
    // pyasic finds miners on port 4028: give this run its own loopback addresses.
    let base = 10 + (std::process::id() % 200) as u8;
    let first = format!("127.0.{base}.2");
    let mut server = hcp()
        .args(["sim", "miners", "--count", "2", "--speed", "20", "--first-ip", &first])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(server.stdout.take().unwrap()));
    let ready = lines.by_ref().take(3).map(|l| l.unwrap()).any(|l| l == "ready");
    assert!(ready, "the miner simulator did not start");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyasic/drive_miners.py");
    let out = Command::new(python).arg(script).arg("20").arg(&first).arg(format!("127.0.{base}.3")).output().unwrap();
    server.kill().unwrap();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.contains("LUXMinerS19jPro")).count(), 2, "{stdout}");
}

/// A site's miners each hold a listening socket: the site raises its soft open-file limit as far
/// as it needs when the hard limit allows; past the hard limit it is refused, naming the miner
/// and the limit to raise, rather than served in part.
#[test]
fn a_site_past_the_open_file_limit_raises_it_or_is_refused_naming_it() {
    let fleet = Path::new(env!("CARGO_MANIFEST_DIR")).join("fleets/daemon-demo.toml");
    // A soft limit of 40 under a higher hard one: raised, and the site starts (the demo needs
    // `open_files_needed(58)`, 1,146).
    let hard = Command::new("bash").args(["-c", "ulimit -H -n"]).output().unwrap();
    let hard = String::from_utf8_lossy(&hard.stdout).trim().to_string();
    if hard != "unlimited" && hard.parse::<u64>().unwrap() < hcp_sim::site_server::open_files_needed(58) {
        println!("SKIPPED raising the open-file limit: the hard limit here is {hard}");
    } else {
        let mut raised = Command::new("bash")
            .args([
                "-c",
                "ulimit -S -n 40 && exec \"$0\" sim site --control 127.0.0.1:0 --fleet \"$1\"",
                env!("CARGO_BIN_EXE_hcp"),
            ])
            .arg(&fleet)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (stdout, stderr) = (raised.stdout.take().unwrap(), raised.stderr.take().unwrap());
        let _raised = Child(raised);
        let said = wait_for_line(stderr, "open-file limit raised");
        assert!(said.contains("from 40 to 1146 for 58 miners"), "{said}");
        wait_for_line(stdout, "site ready");
    }
    // The demo's 58 miners under a hard limit of 40 open files (the shell's `ulimit`, then exec).
    let out = Command::new("bash")
        .args([
            "-c",
            "ulimit -n 40 && exec \"$0\" sim site --control 127.0.0.1:0 --fleet \"$1\"",
            env!("CARGO_BIN_EXE_hcp"),
        ])
        .arg(&fleet)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("Too many open files"), "{stderr}");
    assert!(stderr.contains("the site serves 58 miners") && stderr.contains("to at least 1146"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("site ready"));
}

/// Each miner request the daemon has in flight is a socket: a `--miner-concurrency` the hard
/// open-file limit cannot hold is refused at start, naming both, rather than seen later as miners
/// failing to answer.
#[test]
fn a_miner_concurrency_past_the_open_file_limit_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Path::new(env!("CARGO_MANIFEST_DIR")).join("fleets/daemon-demo.toml");
    let out = Command::new("bash")
        .args([
            "-c",
            "ulimit -n 300 && exec \"$0\" scheduler --fleet \"$1\" --state \"$2\" --miner-concurrency 1000",
            env!("CARGO_BIN_EXE_hcp"),
        ])
        .arg(&fleet)
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--miner-concurrency 1000") && stderr.contains("need 1064 open files"), "{stderr}");
    assert!(stderr.contains("the hard limit here is 300"), "{stderr}");
    assert!(!dir.path().join("state").exists(), "nothing written before the refusal");
}

#[test]
fn sim_writes_a_fleets_history_and_names_a_bad_field() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Path::new(env!("CARGO_MANIFEST_DIR")).join("fleets/small.toml");
    let out = dir.path().join("ds");
    let o = hcp()
        .args(["sim", "--quiet", "--days", "1", "--seed", "3", "--fleet"])
        .arg(&fleet)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("288 steps") && stdout.contains("telemetry: 1152 rows"), "{stdout}");
    for table in ["prices", "btc_network", "jobs", "telemetry", "exogenous"] {
        assert!(out.join(table).is_dir(), "{table}");
    }

    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(&fleet).unwrap().replace("count = 300", "count = 3000");
    std::fs::write(&bad, text).unwrap();
    let o = hcp().args(["sim", "--quiet", "--fleet"]).arg(&bad).arg("--out").arg(&out).output().unwrap();
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("bad.toml") && stderr.contains("sites[0].power_cap_mw"), "{stderr}");
    assert_eq!(stderr.matches("bad.toml").count(), 1, "the file named once: {stderr}");

    // A file that is not there: the path and the system's reason, each once.
    let o = hcp().args(["sim", "--quiet", "--fleet"]).arg(dir.path().join("none.toml")).arg("--out").arg(&out).output();
    let stderr = String::from_utf8_lossy(&o.unwrap().stderr).into_owned();
    assert!(stderr.contains("none.toml"), "{stderr}");
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "{stderr}");
}

/// A small pod list in the v2023 format: LS pods ask for whole GPUs by day, BE pods share
/// GPUs; a tenth fail.
/// `hcp train classifier --grid small` on a pod list.
fn train_classifier(pods: &Path, out: &Path) {
    let o = hcp()
        .args(["train", "classifier", "--grid", "small", "--input"])
        .arg(pods)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn synthetic_pods(path: &Path, n: usize) {
    let mut text = String::from(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n",
    );
    for i in 0..n {
        let ls = i % 3 != 0;
        let (gpu_milli, qos) = if ls { (1000, "LS") } else { (300 + (i % 5) as i64 * 100, "BE") };
        let phase = if i % 10 == 0 { "Failed" } else { "Succeeded" };
        let created = 1000 + i as i64 * 600;
        let duration = if ls { 90_000 } else { 1_800 };
        text.push_str(&format!(
            "pod-{i:04},{},{},1,{gpu_milli},,{qos},{phase},{created},{},{created}\n",
            4000 + (i % 4) as i64 * 2000,
            16384,
            created + duration
        ));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn evaluate_and_train_classifier_write_metrics_predictions_and_a_checked_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods.csv");
    synthetic_pods(&pods, 600);
    let out = dir.path().join("eval");
    let o = hcp()
        .args(["evaluate", "classifier", "--grid", "small", "--test-start", "250000", "--input"])
        .arg(&pods)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let metrics = read_json(&out.join("metrics.json"));
    let ls_be = &metrics["tasks"][0];
    assert_eq!(ls_be["task"], "ls_be");
    let selected = ls_be["test"].as_object().unwrap().iter().find(|(k, _)| k.starts_with("selected")).unwrap().1;
    assert!(selected["macro_f1"].as_f64().unwrap() > 0.99, "{selected}");
    assert!(out.join("predictions.parquet").is_file());
    // The human report: every task, its chosen model's test scores as metrics.json has them.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for task in ["## ls_be (BE, LS)", "## qos", "## failure", "## duration"] {
        assert!(report.contains(task), "{task}: {report}");
    }
    let (name, m) = ls_be["test"].as_object().unwrap().iter().find(|(k, _)| k.starts_with("selected:")).unwrap();
    let row = format!("| {name} | {:.4} | {:.4} |", m["macro_f1"].as_f64().unwrap(), m["accuracy"].as_f64().unwrap());
    assert!(report.contains(&row), "{row}: {report}");

    let o = hcp()
        .args(["evaluate", "classifier", "--test-start", "99999999", "--input"])
        .arg(&pods)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--test-start 99999999 leaves"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Training pods of one class only (the first pod is BE; the next LS one comes at 1,600 s):
    // refused, naming the task, rather than scored as if a classifier had been chosen.
    let o = hcp()
        .args(["evaluate", "classifier", "--grid", "small", "--test-start", "1500", "--input"])
        .arg(&pods)
        .arg("--out")
        .arg(dir.path().join("one-class"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && said.contains("task ls_be: the one pod created before --test-start 1500 is BE"),
        "{said}"
    );
    assert!(!dir.path().join("one-class").exists());

    let model = dir.path().join("model");
    train_classifier(&pods, &model);
    let (bundle, _) = hcp_models::classifier::artifact::load(&model).unwrap();
    let spec = hcp_models::classifier::JobSpec {
        cpu_milli: 4000,
        memory_mib: 16384,
        num_gpu: 1,
        gpu_milli: 400,
        gpu_spec: None,
        creation_time_s: 400_000,
    };
    let classes = bundle.classify(&spec).unwrap();
    assert_eq!(classes[0].class, "BE", "{classes:?}");

    // The same pods from a dataset (hcp ingest alibaba) give the same model.
    let data = dir.path().join("data");
    assert!(hcp().args(["ingest", "alibaba"]).arg(&pods).arg("--out").arg(&data).output().unwrap().status.success());
    let from_data = dir.path().join("model-data");
    let o = hcp()
        .args(["train", "classifier", "--grid", "small", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&from_data)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (again, _) = hcp_models::classifier::artifact::load(&from_data).unwrap();
    assert_eq!(again.tasks, bundle.tasks);
}

/// A JSON file the command wrote.
fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn shared_data(rel: &str) -> Option<std::path::PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(rel);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("SKIPPED: {} is not here", path.display());
        None
    }
}

#[test]
fn evaluate_price_walks_real_markets_and_names_a_missing_point() {
    let out = tempfile::tempdir().unwrap();
    let no_point = hcp()
        .args(["evaluate", "price", "--format", "ercot", "--input", "x.csv", "--test-start", "2025-01-01", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!no_point.status.success());
    assert!(
        String::from_utf8_lossy(&no_point.stderr).contains("--point"),
        "{}",
        String::from_utf8_lossy(&no_point.stderr)
    );
    // Fine-tuning an LSTM that is not asked for is refused, not ignored.
    let no_lstm = hcp()
        .args(["evaluate", "price", "--format", "ercot", "--point", "HB_WEST", "--input", "x.csv"])
        .args(["--test-start", "2025-01-01", "--lstm-finetune-epochs", "2", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&no_lstm.stderr);
    assert!(!no_lstm.status.success() && said.contains("--lstm-finetune-epochs") && said.contains("--lstm"), "{said}");
    // The day-ahead perceptron is the epftoolbox walk's; on ERCOT it is refused, not ignored.
    let dnn = hcp()
        .args(["evaluate", "price", "--format", "ercot", "--point", "HB_WEST", "--input", "x.csv"])
        .args(["--test-start", "2025-01-01", "--dnn", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&dnn.stderr);
    assert!(!dnn.status.success() && said.contains("--dnn") && said.contains("epftoolbox"), "{said}");

    let Some(np) = shared_data("epftoolbox/NP.csv.gz") else { return };
    let dir = out.path().join("np");
    let run = hcp()
        .args(["evaluate", "price", "--format", "epftoolbox", "--input"])
        .arg(&np)
        .args(["--test-start", "2016-12-13", "--windows", "56,84", "--band-days", "14", "--quiet", "--out"])
        .arg(&dir)
        // Two small perceptrons on the last 400 days, fine-tuned weekly.
        .args([
            "--dnn",
            "--dnn-members",
            "2",
            "--dnn-window",
            "400",
            "--dnn-epochs",
            "20",
            "--dnn-finetune-epochs",
            "2",
        ])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let metrics = read_json(&dir.join("metrics.json"));
    assert_eq!(metrics["test_days"], 14);
    assert_eq!(metrics["market"], "NP");
    // 28 walked days: fitted on the first, fine-tuned on the 8th, 15th and 22nd.
    let fits = metrics["dnn"]["fits"].as_array().unwrap();
    assert!(fits.len() == 2 && fits.iter().all(|m| m.as_array().unwrap().len() == 4), "{fits:?}");
    assert_eq!(metrics["dnn"]["config"]["hidden"], serde_json::json!([128, 64]));
    assert_eq!(metrics["dnn"]["config"]["finetune_scalers"], "refit");
    assert_eq!(metrics["dnn"]["ensemble_weight"], 0.5, "the default weight of dnn in ensemble_lear_dnn");
    assert_eq!(metrics["lear_penalty"], "epftoolbox", "LEAR's penalties as the benchmark's code chose them");
    // Every 24-hour window of the training days trains: 24 rows a day, less the shifted rows
    // of the last training day (its next day validates).
    assert_eq!(metrics["dnn"]["config"]["augment"], "hourly");
    let first = &fits[0][0];
    let days = first["train_days"].as_u64().unwrap();
    assert_eq!(first["train_rows"].as_u64().unwrap(), days + 23 * (days - 1), "{first}");
    for model in [
        "naive_daily",
        "seasonal_naive_weekly",
        "naive_benchmark",
        "lear_56",
        "lear_84",
        "lear",
        "dnn",
        "ensemble_lear_dnn",
    ] {
        let mae = metrics["models"][model]["mae"].as_f64().unwrap();
        assert!(mae > 0.0 && mae < 20.0, "{model}: MAE {mae}");
    }
    assert!(metrics["models"].get("lear_56_hp1e6").is_none(), "the default trends: the benchmark's LEAR alone");
    assert!(dir.join("forecasts.parquet").exists() && dir.join("report.md").exists());

    let Some(ercot) = shared_data("ercot/ercot_dam_rtm_hourly_15sp.csv.gz") else { return };
    let dir = out.path().join("ercot");
    let run = hcp()
        .args(["evaluate", "price", "--format", "ercot", "--point", "HB_NORTH", "--input"])
        .arg(&ercot)
        .args(["--test-start", "2025-06-01", "--test-end", "2025-06-07", "--band-days", "7", "--quiet", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let metrics = read_json(&dir.join("metrics.json"));
    assert_eq!(metrics["issues"], 7 * 24);
    let mae = |m: &str| metrics["models"][m]["mae"].as_f64().unwrap();
    assert!(mae("dam_latest") < mae("same_hour_yesterday"), "the day-ahead price is the better naive forecast");
}

#[test]
fn evaluate_demand_walks_the_spot_trace() {
    let Some(spot) = shared_data("alibaba/v2026-spot-gpu/spot_hourly.csv") else { return };
    let out = tempfile::tempdir().unwrap();
    let run = hcp()
        .args(["evaluate", "demand", "--input"])
        .arg(&spot)
        .args(["--test-start", &(3_360 * 3_600).to_string(), "--band-days", "7", "--quiet", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let metrics = read_json(&out.path().join("metrics.json"));
    assert_eq!(metrics["series"], "gpus_requested_active");
    assert_eq!(metrics["issues"], 10, "days 140..=149: the last issue whose week is in the trace");
    let rmae = metrics["models"]["lear_demand"]["rmae"].as_f64().unwrap();
    assert!(rmae.is_finite() && rmae > 0.0);

    let model = out.path().join("model");
    let train = hcp().args(["train", "demand", "--input"]).arg(&spot).arg("--out").arg(&model).output().unwrap();
    assert!(train.status.success(), "{}", String::from_utf8_lossy(&train.stderr));
    let fc_dir = out.path().join("fc");
    // `hcp forecast demand` with a model on the trace, into `fc_dir`: its stdout.
    let forecast = |model: &Path, run_id: &str| {
        let fc = hcp()
            .args(["forecast", "demand", "--run-id", run_id, "--model"])
            .arg(model)
            .arg("--input")
            .arg(&spot)
            .arg("--out")
            .arg(&fc_dir)
            .output()
            .unwrap();
        assert!(fc.status.success(), "{}", String::from_utf8_lossy(&fc.stderr));
        String::from_utf8_lossy(&fc.stdout).into_owned()
    };
    let stdout = forecast(&model, "w1");
    assert!(
        stdout.contains("target=gpus_requested_active/forecast_date=") && stdout.contains("(672 rows)"),
        "{stdout}"
    );

    // The LSTM: trained on the whole trace, then forecasting the same week in the same layout.
    let lstm = out.path().join("lstm");
    let train = hcp()
        .args(["train", "demand", "--lstm", "--lstm-window", "48", "--lstm-hidden", "8", "--lstm-epochs", "2"])
        .args(["--lstm-valid-days", "14", "--quiet", "--input"])
        .arg(&spot)
        .arg("--out")
        .arg(&lstm)
        .output()
        .unwrap();
    assert!(train.status.success(), "{}", String::from_utf8_lossy(&train.stderr));
    let manifest = read_json(&lstm.join("manifest.json"));
    assert_eq!(manifest["kind"], "demand_lstm");
    assert_eq!(manifest["training"]["config"]["window"], 48);
    assert!(manifest["validation"]["rmae"].as_f64().unwrap().is_finite());
    assert!(lstm.join("model.safetensors").exists() && lstm.join("checkpoints/checkpoint.safetensors").exists());
    assert!(forecast(&lstm, "w2").contains("(672 rows)"));
}

#[test]
fn train_and_forecast_price_on_a_simulated_history() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model, out) = (dir.path().join("data"), dir.path().join("model"), dir.path().join("fc"));
    let fleet = Path::new(env!("CARGO_MANIFEST_DIR")).join("fleets/small.toml");
    let sim = hcp()
        .args(["sim", "--fleet"])
        .arg(&fleet)
        .args(["--days", "50", "--seed", "3", "--quiet", "--out"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(sim.status.success(), "{}", String::from_utf8_lossy(&sim.stderr));
    // The fleet's one node is the dataset's: `--point` may be left out.
    let train = hcp()
        .args(["train", "price", "--holdout-days", "7", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&model)
        .output()
        .unwrap();
    assert!(train.status.success(), "{}", String::from_utf8_lossy(&train.stderr));
    let manifest = read_json(&model.join("manifest.json"));
    assert_eq!(manifest["kind"], "price_lear_rt");
    assert_eq!(manifest["training"]["node"], "HB_WEST");
    assert!(manifest["validation"]["mae_vs_dam_latest"].as_f64().unwrap() > 0.0);

    let forecast = |run_id: &str| {
        hcp()
            .args(["forecast", "price", "--run-id", run_id, "--model"])
            .arg(&model)
            .arg("--history")
            .arg(&data)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let first = forecast("r1");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout).contains("24 horizons"));
    assert!(!String::from_utf8_lossy(&first.stderr).contains("in sample"));
    // Issued inside the model's training data, the forecasts are written and said to be in sample.
    let inside = hcp()
        .args(["forecast", "price", "--issue-time", "2025-07-10T00:00:00Z", "--model"])
        .arg(&model)
        .arg("--history")
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("fc-inside"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&inside.stderr);
    assert!(inside.status.success(), "{said}");
    assert!(said.contains("past the issue time 2025-07-10T00:00:00Z: its forecasts are in sample"), "{said}");
    let files: Vec<_> = walk(&out.join("forecasts"));
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].to_string_lossy().into_owned();
    assert!(name.contains("target=rtm_price_per_mwh/forecast_date=") && name.ends_with("part-r1.parquet"), "{name}");
    // The same run id again writes the same file, not a second one.
    assert!(forecast("r1").status.success());
    assert_eq!(walk(&out.join("forecasts")).len(), 1);

    // The LSTM: `--lstm` writes model.safetensors with its manifest; forecast reads the kind
    // from the manifest and runs it through candle.
    let lstm = dir.path().join("lstm");
    let train = hcp()
        .args(["train", "price", "--point", "HB_WEST", "--lstm", "--lstm-window", "48", "--lstm-hidden", "8"])
        .args(["--lstm-epochs", "2", "--lstm-valid-days", "7", "--quiet", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&lstm)
        .output()
        .unwrap();
    assert!(train.status.success(), "{}", String::from_utf8_lossy(&train.stderr));
    let manifest = read_json(&lstm.join("manifest.json"));
    assert_eq!(manifest["kind"], "price_lstm_rt");
    assert_eq!(manifest["config"]["window"], 48);
    assert_eq!(manifest["training"]["config"]["max_epochs"], 2);
    assert!(manifest["validation"]["mae"].as_f64().unwrap() > 0.0);
    assert!(lstm.join("model.safetensors").exists() && lstm.join("checkpoints/checkpoint.safetensors").exists());
    let lstm_out = dir.path().join("fc-lstm");
    let forecast_lstm = || {
        hcp()
            .args(["forecast", "price", "--run-id", "l1", "--model"])
            .arg(&lstm)
            .arg("--history")
            .arg(&data)
            .arg("--out")
            .arg(&lstm_out)
            .output()
            .unwrap()
    };
    let run = forecast_lstm();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stdout).contains("24 horizons"));
    assert_eq!(walk(&lstm_out.join("forecasts")).len(), 1);
    let weights = lstm.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[200] ^= 0x10;
    std::fs::write(&weights, bytes).unwrap();
    let run = forecast_lstm();
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && said.contains("checksum mismatch") && said.contains("model.safetensors"),
        "{said}"
    );

    // A tampered model is refused by its checksum.
    let path = model.join("model.json");
    let text = std::fs::read_to_string(&path).unwrap().replacen("\"node\":\"HB_WEST\"", "\"node\":\"LZ_WEST\"", 1);
    std::fs::write(&path, text).unwrap();
    let bad = forecast("r2");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("checksum mismatch"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `promtool test rules` runs every alert rule's case (ops/prometheus/rules_test.yml): silent
/// just before its `for:` has passed, firing after it with its labels and annotations. CI
/// installs promtool and sets HCP_REQUIRE_PROMTOOL, so this cannot skip there.
#[test]
fn alert_rules_pass_their_promtool_tests() {
    let promtool = std::env::var("HCP_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ops/prometheus");
    let Ok(out) = Command::new(&promtool).args(["test", "rules", "rules_test.yml"]).current_dir(&dir).output() else {
        assert!(
            std::env::var_os("HCP_REQUIRE_PROMTOOL").is_none(),
            "HCP_REQUIRE_PROMTOOL is set but `{promtool}` does not run"
        );
        eprintln!("SKIPPED alert_rules_pass_their_promtool_tests: `{promtool}` not found");
        return;
    };
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.contains("SUCCESS"), "{said}");
    let check = Command::new(&promtool).args(["check", "rules", "rules.yml"]).current_dir(&dir).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
}

/// Every query of the Grafana dashboard names only metrics hcp serves (the names come from a
/// scrape of each exporter and a rendering of the scheduler daemon's /metrics, not from a list),
/// and promtool parses every query.
#[test]
fn dashboard_queries_use_exported_metrics() {
    use hcp_sim::asic::{AsicCatalog, AsicPhysics};
    use hcp_sim::exporter::{AsicExporterConfig, GpuExporterConfig, GpuFleetSim, render_dcgm, scrape};
    use hcp_sim::miner_api::{MinerServer, SimMiner};

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard = read_json(&root.join("ops/grafana/hcp-fleet.json"));
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_string()))
        .collect();
    assert!(exprs.len() >= 10, "{} queries", exprs.len());

    let model = AsicCatalog::builtin().get("Antminer S19j Pro").unwrap().clone();
    let miner =
        MinerServer::spawn("127.0.0.1:0".parse().unwrap(), SimMiner::new(model, AsicPhysics::default(), 0, 1)).unwrap();
    let asic =
        scrape(&AsicExporterConfig { miners: vec![miner.local_addr()], timeout: std::time::Duration::from_secs(2) });
    let fleet = hcp_sim::fleet::FleetConfig::load(&root.join("fleets/small.toml")).unwrap();
    let sim = GpuFleetSim::start(GpuExporterConfig { fleet, site: None, days: 1, seed: 1, speed: 1e9 }).unwrap();
    let gpu = render_dcgm(&sim.snapshot.lock().unwrap());
    // The scheduler daemon's /metrics with every family present (a node with a model, a site).
    let mut daemon = hcp_scheduler::daemon::http::Metrics::new(std::time::Duration::from_secs(60));
    daemon.sites = vec![("kermit".into(), 1e5, 1.8e5)];
    daemon.prices = vec![("HB_WEST".into(), 30.0)];
    daemon.forecast_this_hour = vec![("HB_WEST".into(), 31.0)];
    daemon.validation_mae.insert("HB_WEST".into(), 12.0);
    daemon.forecast_errors.insert("HB_WEST".into(), Default::default());
    daemon.money = hcp_scheduler::daemon::http::Money {
        hashprice: 0.05,
        sites: vec![hcp_scheduler::daemon::http::SiteMoney {
            site: "kermit".into(),
            mining_usd_per_hour: 1.0,
            gpu_usd_per_hour: 2.0,
            energy_usd_per_hour: Some(3.0),
        }],
        breakeven: vec![("kermit-s21".into(), 60.0)],
    };
    let scheduler = daemon.render();
    // A summary or histogram family also exports its `_sum`, `_count` (and `_bucket`) series.
    let mut exported = std::collections::BTreeSet::new();
    for l in asic.lines().chain(gpu.lines()).chain(scheduler.lines()).filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut words = l.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else { continue };
        exported.insert(name.to_string());
        if kind == "summary" || kind == "histogram" {
            for suffix in ["_sum", "_count", "_bucket"] {
                exported.insert(format!("{name}{suffix}"));
            }
        }
    }
    for expr in &exprs {
        let names: Vec<&str> = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .filter(|w| w.starts_with("hcp_") || w.starts_with("DCGM_"))
            .collect();
        assert!(!names.is_empty(), "`{expr}` names no hcp metric");
        for n in names {
            assert!(exported.contains(n), "`{expr}` uses `{n}`, which hcp does not serve ({exported:?})");
        }
    }

    // promtool parses each query (as a recording rule) where it is installed.
    let promtool = std::env::var("HCP_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let dir = tempfile::tempdir().unwrap();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        rules +=
            &format!("      - record: hcp_dashboard_query_{i}\n        expr: {}\n", serde_json::to_string(e).unwrap());
    }
    std::fs::write(dir.path().join("q.yml"), rules).unwrap();
    match Command::new(&promtool).args(["check", "rules", "q.yml"]).current_dir(dir.path()).output() {
        Ok(out) => assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => {
            assert!(
                std::env::var_os("HCP_REQUIRE_PROMTOOL").is_none(),
                "HCP_REQUIRE_PROMTOOL is set but `{promtool}` does not run"
            );
            eprintln!("SKIPPED the promtool parse of the dashboard's queries: `{promtool}` not found");
        }
    }
}

#[test]
fn backtest_names_bad_input_and_replays_real_prices() {
    let out = tempfile::tempdir().unwrap();
    let fleet = Path::new(env!("CARGO_MANIFEST_DIR")).join("fleets/hb-west-joint.toml");
    let backwards = hcp()
        .args(["backtest", "--prices", "x.csv.gz", "--point", "HB_WEST", "--fleet"])
        .arg(&fleet)
        .args(["--from", "2025-06-03", "--to", "2025-06-01", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!backwards.status.success());
    assert!(String::from_utf8_lossy(&backwards.stderr).contains("--to 2025-06-01 must be after --from"));

    let Some(ercot) = shared_data("ercot/ercot_dam_rtm_hourly_15sp.csv.gz") else { return };
    // A workload classifier trained on synthetic pods (whole GPUs latency-sensitive, shared
    // ones best-effort), for the policy that plans on the classes it gives.
    let pods = out.path().join("pods.csv");
    synthetic_pods(&pods, 300);
    let classifier = out.path().join("classifier");
    train_classifier(&pods, &classifier);
    let run_with = |point: &str, dir: &Path, extra: &[&Path]| {
        let mut c = hcp();
        c.args(["backtest", "--point", point, "--from", "2025-06-01", "--to", "2025-06-03", "--prices"])
            .arg(&ercot)
            .arg("--fleet")
            .arg(&fleet)
            .arg("--out")
            .arg(dir);
        for path in extra {
            c.arg("--classifier").arg(path);
        }
        c.output().unwrap()
    };
    let run = |point: &str, dir: &Path| run_with(point, dir, &[]);
    // A directory that holds no classifier is refused by name.
    let wrong = run_with("HB_WEST", &out.path().join("wrong"), &[out.path()]);
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("--classifier"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    // A period past the file's last hour is refused, naming the latest --to.
    let mut late = hcp();
    late.args(["backtest", "--point", "HB_WEST", "--from", "2025-06-28", "--to", "2025-07-10", "--prices"])
        .arg(&ercot)
        .arg("--fleet")
        .arg(&fleet)
        .arg("--out")
        .arg(out.path().join("late"));
    let late = late.output().unwrap();
    let stderr = String::from_utf8_lossy(&late.stderr);
    assert!(!late.status.success() && stderr.contains("the latest --to is 2025-07-01"), "{stderr}");
    assert!(!out.path().join("late").exists(), "a refused backtest wrote nothing");
    let missing = run("NO_SUCH_POINT", &out.path().join("missing"));
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("NO_SUCH_POINT"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let dir = out.path().join("bt");
    let ok = run_with("HB_WEST", &dir, &[&classifier]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let summary = read_json(&dir.join("summary.json"));
    let names: Vec<&str> =
        summary["policies"].as_array().unwrap().iter().map(|p| p["policy"].as_str().unwrap()).collect();
    assert_eq!(names, ["always_on", "threshold", "optimiser_perfect", "optimiser_hcp", "optimiser_hcp_classified"]);
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("`optimiser_hcp_classified` planned on the classes"), "{report}");
    assert_eq!(summary["days"], 2);
    assert_eq!(summary["steps"], 2 * 288);
    let bound = summary["perfect_foresight"]["profit_usd"].as_f64().unwrap();
    for p in summary["policies"].as_array().unwrap() {
        assert_eq!(p["cap_violations"], 0, "{p}");
        assert!(p["profit_usd"].as_f64().unwrap() <= bound + 1e-6, "{p}");
    }
    assert!(dir.join("decisions.parquet").is_file() && dir.join("report.md").is_file());
}

/// A child process killed (SIGKILL) when dropped.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `child`'s stream on a thread until a line contains `marker`; returns that line.
fn wait_for_line(stream: impl std::io::Read + Send + 'static, marker: &'static str) -> String {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
            if line.contains(marker) {
                let _ = tx.send(line);
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(120)).unwrap_or_else(|_| panic!("no `{marker}` line"))
}

/// One GET over a plain socket: (status code, body).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    http(addr, "GET", path, None, "")
}

/// One request over a plain socket, with a bearer key and a JSON body: (status code, body).
fn http(addr: &str, method: &str, path: &str, key: Option<&str>, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap();
    (code, text.split_once("\r\n\r\n").map(|x| x.1.to_string()).unwrap_or_default())
}

fn journal(state: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(state.join("actions.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn plan_step(state: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(state.join("plan.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?["step"].as_u64()
}

/// A price model trained by `hcp train price` on `days` of the fleet's simulated history.
fn trained_price_model(fleet: &Path, days: &str, dir: &Path) -> std::path::PathBuf {
    let history = dir.join(format!("history-{days}"));
    let sim = hcp()
        .args(["sim", "--quiet", "--days", days, "--fleet"])
        .arg(fleet)
        .arg("--out")
        .arg(&history)
        .output()
        .unwrap();
    assert!(sim.status.success(), "{}", String::from_utf8_lossy(&sim.stderr));
    let model = dir.join(format!("model-{days}"));
    let train = hcp()
        .args(["train", "price", "--point", "HB_WEST", "--holdout-days", "7", "--data"])
        .arg(&history)
        .arg("--out")
        .arg(&model)
        .output()
        .unwrap();
    assert!(train.status.success(), "{}", String::from_utf8_lossy(&train.stderr));
    model
}

/// The daemon against a simulated site in another process, planning on hcp's price model
/// trained on the site's history: it decides, journals and sends; `kill -9` mid-run; the
/// restart re-reads the miners, does not decide the step it had already decided, sends no
/// action twice, and the miners end where its commands put them; the site never passes its cap;
/// /health and /metrics answer. A model trained past the site's clock is refused.
#[test]
fn scheduler_daemon_survives_kill_9_without_repeating_an_action() {
    let fleet = Path::new(env!("CARGO_MANIFEST_DIR")).join("fleets/daemon-demo.toml");
    let state = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let model = trained_price_model(&fleet, "45", models.path());
    // 300× real time: a 5-minute step every second, after the 45 days the model learnt from.
    let mut site = hcp()
        .args(["sim", "site", "--history-days", "45", "--days", "3", "--speed", "300", "--control", "127.0.0.1:0"])
        .arg("--fleet")
        .arg(&fleet)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = site.stdout.take().unwrap();
    let site = Child(site);
    let ready = wait_for_line(stdout, "site ready");
    let control = ready.split("control API on ").nth(1).unwrap().split(',').next().unwrap().to_string();
    let future = trained_price_model(&fleet, "50", models.path());
    let refused = hcp()
        .args(["scheduler", "--listen", "127.0.0.1:0", "--site", &control, "--fleet"])
        .arg(&fleet)
        .arg("--state")
        .arg(models.path().join("refused"))
        .arg("--model")
        .arg(&future)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains("it would have seen the future"), "{said}");
    // A model of a node no site is on (it would go unused), or a second one for a node: refused.
    let elsewhere = models.path().join("lz-west.toml");
    std::fs::write(&elsewhere, std::fs::read_to_string(&fleet).unwrap().replace("HB_WEST", "LZ_WEST")).unwrap();
    for (fleet, models, expected) in [
        (&elsewhere, vec![&model], "forecasts HB_WEST, and no site of"),
        (&fleet, vec![&model, &model], "a second model for HB_WEST"),
    ] {
        let mut c = hcp();
        c.args(["scheduler", "--listen", "127.0.0.1:0", "--site", &control, "--fleet"]).arg(fleet);
        c.arg("--state").arg(state.path().join("refused"));
        for m in models {
            c.arg("--model").arg(m);
        }
        let refused = c.output().unwrap();
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success() && said.contains(expected), "{said}");
    }
    // `--models DIR` takes the directory's price model of each of the fleet's nodes: two for
    // one node, or none for any, are refused. The restart below plans on a directory holding
    // the model, a directory that is not a model, and a fleet file (left, the log says so).
    let served = models.path().join("served");
    std::fs::create_dir_all(served.join("not-a-model")).unwrap();
    std::fs::create_dir_all(served.join("price-HB_WEST")).unwrap();
    for f in std::fs::read_dir(&model).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::copy(&f, served.join("price-HB_WEST").join(f.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(&fleet, served.join("fleet.toml")).unwrap();
    for (fleet, dir, expected) in [
        (&fleet, models.path(), "both forecast HB_WEST; give the one to plan on with --model"),
        (
            &elsewhere,
            served.as_path(),
            "holds no real-time price model (`hcp train price`) of the fleet's nodes (LZ_WEST)",
        ),
    ] {
        let refused = hcp()
            .args(["scheduler", "--listen", "127.0.0.1:0", "--site", &control, "--fleet"])
            .arg(fleet)
            .arg("--state")
            .arg(state.path().join("refused"))
            .arg("--models")
            .arg(dir)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success() && said.contains(expected), "{said}");
    }
    let refused = hcp()
        .args(["scheduler", "--listen", "127.0.0.1:0", "--site", &control, "--fleet"])
        .arg(&fleet)
        .arg("--model")
        .arg(&model)
        .env("HCP_SCHEDULER_MODELS", &served)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains("--model with HCP_SCHEDULER_MODELS set"), "{said}");
    // The restart takes its models directory and clock from the environment, as a container
    // would set them.
    let daemon = |steps: Option<&str>| {
        let mut c = hcp();
        c.args(["scheduler", "--ga-ms", "50", "--listen", "127.0.0.1:0", "--site", &control])
            .arg("--fleet")
            .arg(&fleet)
            .arg("--state")
            .arg(state.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        match steps {
            Some(n) => {
                c.args(["--steps", n]).env("HCP_SCHEDULER_MODELS", &served).env("HCP_SCHEDULER_CLOCK", "accelerated")
            }
            None => c.args(["--clock", "accelerated", "--model"]).arg(&model),
        };
        c.spawn().unwrap()
    };

    let mut first = daemon(None);
    let stderr = first.stderr.take().unwrap();
    let first = Child(first);
    let listen = wait_for_line(stderr, "/health and /metrics on").rsplit("http://").next().unwrap().to_string();
    let waited = std::time::Instant::now();
    while plan_step(state.path()).is_none() || journal(state.path()).len() < 4 {
        assert!(waited.elapsed().as_secs() < 90, "no plan and actions after 90 s: {:?}", journal(state.path()));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let start = plan_step(state.path()).unwrap();
    while plan_step(state.path()).unwrap() < start + 3 {
        assert!(waited.elapsed().as_secs() < 90, "the daemon stopped deciding");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, health) = http_get(&listen, "/health");
    assert_eq!(code, 200, "{health}");
    let (code, metrics) = http_get(&listen, "/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("# TYPE hcp_scheduler_decisions_total counter"), "{metrics}");
    assert!(metrics.contains("# TYPE hcp_scheduler_setting_applied_seconds histogram"), "{metrics}");
    assert!(metrics.contains("hcp_scheduler_site_power_cap_watts{site=\"kermit\"} 180000"), "{metrics}");
    assert!(metrics.contains("hcp_scheduler_price_usd_per_mwh{node=\"HB_WEST\"} "), "{metrics}");
    if let Some((ok, said)) = hcp_sim::exporter::promtool_check_metrics(&metrics) {
        assert!(ok && said.trim().is_empty(), "promtool: {said}\n{metrics}");
    }
    assert!(metrics.contains("hcp_scheduler_forecast_validation_mae_usd_per_mwh{node=\"HB_WEST\"} "), "{metrics}");
    // The daemon scores its own forecasts once their hours are priced (an hour is 12 s here).
    let scored = |m: &str| {
        let prefix = "hcp_scheduler_forecast_abs_error_usd_per_mwh_count{node=\"HB_WEST\"} ";
        m.lines().find_map(|l| l.strip_prefix(prefix)).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
    };
    let mut metrics = metrics;
    while scored(&metrics) == 0.0 {
        assert!(waited.elapsed().as_secs() < 150, "no forecast scored in 150 s (12 simulated hours): {metrics}");
        std::thread::sleep(std::time::Duration::from_millis(500));
        metrics = http_get(&listen, "/metrics").1;
    }
    drop(first); // SIGKILL
    let killed_at = plan_step(state.path()).unwrap();
    let before = journal(state.path()).len();

    let out = daemon(Some("4")).wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["decisions"], 4, "{summary}");
    assert!(summary["first_step"].as_u64().unwrap() > killed_at, "re-decided a step: {summary}");
    assert_eq!(summary["site_cap_violations"], 0, "{summary}");
    assert!(summary["site_max_cap_ratio"].as_f64().unwrap() <= 1.0, "{summary}");
    // The engine's record: nothing given up, and whatever it timed took at least a step.
    let engine = &summary["engine"];
    assert_eq!(engine["given_up"], 0, "{summary}");
    if engine["applied"].as_u64().unwrap() > 0 {
        assert!(engine["applied_after_s_p50"].as_f64().unwrap() >= 300.0, "{summary}");
    }
    // Its log: one JSON `decided` event per step, each in a `decide` span with its own trace id.
    let log = String::from_utf8_lossy(&out.stderr);
    let decided: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["fields"]["message"] == "decided")
        .collect();
    assert_eq!(decided.len(), 4, "{log}");
    let said = |message: &str, field: &str| {
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["fields"]["message"] == message)
            .map(|e| e["fields"][field].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(said("planning on this price model", "model"), [served.join("price-HB_WEST").display().to_string()]);
    assert_eq!(said("not a model: no manifest.json", "dir"), [served.join("not-a-model").display().to_string()]);
    let ids: std::collections::BTreeSet<&str> =
        decided.iter().map(|e| e["span"]["trace_id"].as_str().unwrap_or_default()).collect();
    assert_eq!(ids.len(), 4, "{log}");
    assert!(ids.iter().all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())), "{log}");
    assert!(decided.iter().all(|e| e["span"]["name"] == "decide" && e["fields"]["actions"].is_u64()), "{log}");
    // Where each step's time went: reading the miners, planning, sending.
    for e in &decided {
        let ms = |f: &str| e["fields"][f].as_f64().unwrap_or(-1.0);
        let (total, parts) = (ms("duration_ms"), [ms("read_ms"), ms("plan_ms"), ms("send_ms")]);
        assert!(parts.iter().all(|&p| p >= 0.0) && parts.iter().sum::<f64>() <= total, "{e}");
    }

    let entries = journal(state.path());
    assert!(entries.len() >= before);
    let mut keys = std::collections::BTreeSet::new();
    for e in entries.iter().filter(|e| e["phase"] == "intent") {
        assert!(keys.insert(e["key"].as_str().unwrap().to_string()), "action sent twice: {e}");
    }
    assert!(entries.iter().all(|e| e["phase"] != "failed"), "{entries:?}");

    // Convergence: once its last commands have had two steps to land, every group's miners
    // are where the engine last told them to be.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("plan.json")).unwrap()).unwrap();
    let t = std::time::Duration::from_secs(5);
    let status = hcp_sim::miner_api::send(control.parse().unwrap(), "status", None, t).unwrap();
    for g in status["status"]["sites"][0]["groups"].as_array().unwrap() {
        let id = g["id"].as_str().unwrap();
        let told = plan["told"].as_array().unwrap().iter().find(|t| t["group"] == id).unwrap();
        let miners: Vec<std::net::SocketAddr> =
            g["miners"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().parse().unwrap()).collect();
        let configs: Vec<serde_json::Value> = miners
            .iter()
            .map(|m| hcp_sim::miner_api::send(*m, "config", None, t).unwrap()["CONFIG"][0].clone())
            .collect();
        let awake: Vec<&serde_json::Value> = configs.iter().filter(|c| c["CurtailMode"] != "Sleep").collect();
        assert_eq!(awake.len() as u64, told["awake"].as_u64().unwrap(), "{id}: told {told}, miners {configs:?}");
        let profiles = hcp_sim::miner_api::send(miners[0], "profiles", None, t).unwrap();
        let watts = |name: &str| {
            profiles["PROFILES"].as_array().unwrap().iter().find(|p| p["Profile Name"] == name).unwrap()["Watts"]
                .as_f64()
                .unwrap()
        };
        for c in awake {
            assert_eq!(watts(c["Profile"].as_str().unwrap()), told["target_w"].as_f64().unwrap(), "{id}: {c}");
        }
    }
    drop(site);
}

/// `hcp serve` as a process over `hcp train` artifacts: it answers a forecast; a SIGHUP reloads
/// the models directory (a tampered model is refused and the old one kept; a new model is
/// picked up); with HCP_SCHEMATHESIS set (`.ci/run` sets it), schemathesis fuzzes every route of
/// `/openapi.json` and finds no server error and no response off the schema; SIGTERM drains and
/// exits 0.
#[test]
fn serve_reloads_on_sighup_passes_schemathesis_and_exits_cleanly_on_sigterm() {
    const KEY: &str = "operator-key-0123456789";
    let fleet = Path::new(env!("CARGO_MANIFEST_DIR")).join("fleets/daemon-demo.toml");
    let work = tempfile::tempdir().unwrap();
    let trained = trained_price_model(&fleet, "45", work.path());
    let models = work.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let price_dir = models.join("price-HB_WEST");
    std::fs::rename(&trained, &price_dir).unwrap();
    // The models directory, the drain and the proposals' time come from the environment, as a
    // container sets them.
    let mut server = hcp()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("HCP_SERVE_MODELS", &models)
        .env("HCP_SERVE_DRAIN_MS", "200")
        .env("HCP_SERVE_PROPOSE_GA_MS", "20")
        .env("HCP_API_KEYS", format!("operate:{KEY}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let stderr = server.stderr.take().unwrap();
    let pid = server.id().to_string();
    let server = Child(server);
    let line = wait_for_line(stdout, "listening on http://");
    let addr = line.split("http://").nth(1).unwrap().split(' ').next().unwrap().to_string();
    let (log_tx, log_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = log_tx.send(l);
        }
    });
    assert_eq!(http_get(&addr, "/v2/health/ready").0, 200);
    let (status, info) = http(&addr, "GET", "/info", Some(KEY), "");
    assert_eq!(status, 200, "{info}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&info).unwrap()["limits"]["propose_ga_ms"], 20, "{info}");

    // A forecast issued right after the model's training data.
    let model = read_json(&price_dir.join("model.json"));
    let issue_us = model["trained_until_us"].as_i64().unwrap() + 3_600_000_000;
    let start = hcp_datasets::time::format_micros(issue_us - 192 * 3_600_000_000);
    let body = serde_json::json!({"node": "HB_WEST", "start": start, "rt": vec![32.0; 192], "da": vec![30.0; 192]})
        .to_string();
    let (status, text) = http(&addr, "POST", "/v1/forecast/price", Some(KEY), &body);
    assert_eq!(status, 200, "{text}");
    let forecast: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(forecast["horizons"].as_array().unwrap().len(), 24);
    let version = forecast["version"].as_str().unwrap().to_string();

    let hangup = |what: &str| {
        assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
        loop {
            let l = log_rx
                .recv_timeout(std::time::Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no reload after {what}"));
            if l.contains("reload") {
                return l;
            }
        }
    };
    // A tampered model: refused, the old one still served.
    let file = price_dir.join("model.json");
    let good = std::fs::read(&file).unwrap();
    std::fs::write(
        &file,
        String::from_utf8(good.clone()).unwrap().replacen("\"node\":\"HB_WEST\"", "\"node\":\"HB_EAST\"", 1),
    )
    .unwrap();
    let log = hangup("tampering");
    assert!(log.contains("reload refused") && log.contains("checksum"), "{log}");
    let (status, text) = http(&addr, "POST", "/v1/forecast/price", Some(KEY), &body);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(&version));
    // A second model appears: picked up.
    std::fs::write(&file, &good).unwrap();
    let second = models.join("price-HB_WEST-copy");
    std::fs::create_dir_all(&second).unwrap();
    for f in ["model.json", "manifest.json"] {
        std::fs::copy(price_dir.join(f), second.join(f)).unwrap();
    }
    let log = hangup("adding a model");
    assert!(log.contains("reloaded 2 model(s)"), "{log}");
    assert_eq!(http(&addr, "GET", "/v2/models/price-HB_WEST-copy/ready", Some(KEY), "").0, 200);

    let what = "schemathesis (tests/schemathesis/requirements.txt)";
    if let Some(st) = external_tool("HCP_SCHEMATHESIS", "HCP_REQUIRE_SCHEMATHESIS", what) {
        let out = Command::new(st)
            .arg("run")
            .arg(format!("http://{addr}/openapi.json"))
            .args(["-H", &format!("Authorization: Bearer {KEY}")])
            // Every check but "a schema-valid request is accepted": the schema cannot say
            // that a price history must reach 192 hours back, or which day-ahead prices
            // are published by the issue time; those requests get 422 by design.
            .args(["--checks", "all", "--exclude-checks", "positive_data_acceptance"])
            .args(["--max-examples", "25", "--seed", "7", "--no-color", "--workers", "2"])
            .current_dir(work.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "schemathesis failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
        println!("{}", text.lines().rev().take(12).collect::<Vec<_>>().join("\n"));
    }

    // SIGTERM: drains and exits 0.
    let mut server = server;
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// With `--features otlp`: `hcp serve --otlp-endpoint` sends each request's span to an OTLP/HTTP
/// collector (here a socket in the test reading what arrives) as OTLP JSON, under the caller's
/// `traceparent` trace id and as a child of the caller's span, with the answer as a span event;
/// what is buffered goes out when SIGTERM stops the server.
#[cfg(feature = "otlp")]
#[test]
fn serve_exports_request_spans_over_otlp_under_the_callers_trace() {
    use std::io::{BufRead, Read, Write};
    let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", collector.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in collector.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let (mut request, mut length) = (String::new(), 0);
            reader.read_line(&mut request).unwrap();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
                .unwrap();
            let _ = tx.send((request, body));
        }
    });
    let fleet = Path::new(env!("CARGO_MANIFEST_DIR")).join("fleets/daemon-demo.toml");
    let work = tempfile::tempdir().unwrap();
    let models = work.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::rename(trained_price_model(&fleet, "45", work.path()), models.join("price-HB_WEST")).unwrap();
    let mut server = hcp()
        .args(["serve", "--addr", "127.0.0.1:0", "--no-auth", "--otlp-endpoint", &endpoint, "--models"])
        .arg(&models)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let pid = server.id().to_string();
    let mut server = Child(server);
    let line = wait_for_line(stdout, "listening on http://");
    let addr = line.split("http://").nth(1).unwrap().split(' ').next().unwrap().to_string();
    let (trace, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET /v2/health/live HTTP/1.1\r\nHost: {addr}\r\ntraceparent: 00-{trace}-{parent}-01\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(server.0.wait().unwrap().success());

    let (request, body) = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("nothing exported");
    assert!(request.starts_with("POST /v1/traces "), "{request}");
    let export: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let resource = &export["resourceSpans"][0];
    let service = resource["resource"]["attributes"].as_array().unwrap().iter().find(|a| a["key"] == "service.name");
    assert_eq!(service.unwrap()["value"]["stringValue"], "hcp-serve", "{export}");
    let spans = resource["scopeSpans"][0]["spans"].as_array().unwrap();
    let span = spans.iter().find(|s| s["traceId"] == trace).unwrap_or_else(|| panic!("no span of the trace: {export}"));
    assert_eq!(span["parentSpanId"], parent, "{span}");
    assert_eq!(span["name"], "request", "{span}");
    let route = span["attributes"].as_array().unwrap().iter().find(|a| a["key"] == "route").unwrap();
    assert_eq!(route["value"]["stringValue"], "/v2/health/live", "{span}");
    assert_eq!(span["events"][0]["name"], "answered", "{span}");
}
