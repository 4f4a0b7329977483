//! The workload classifier's protocol: no feature is known only after a job starts, labels
//! handle censoring honestly, and on the real v2023 pods the chosen models beat the baselines.

use hcp_datasets::rows::JobRow;
use hcp_training::classifier::{EvaluateConfig, Grid, Task, evaluate, job_spec};
use proptest::prelude::*;

fn pod(qos: &str, phase: &str, created_s: i64, duration_s: Option<i64>, censored: bool) -> JobRow {
    JobRow {
        source: "t".into(),
        job_id: "p".into(),
        cpu_milli: 4000,
        memory_mib: 8192,
        num_gpu: 1,
        gpu_milli: 500,
        qos: Some(qos.into()),
        phase: Some(phase.into()),
        creation_time_us: Some(created_s * 1_000_000),
        duration_s,
        duration_censored: censored,
        ..JobRow::default()
    }
}

proptest! {
    /// Whatever happens after creation (scheduling, phase, deletion, duration) leaves the
    /// features unchanged: nothing observed after submission leaks into them.
    #[test]
    fn features_never_look_past_submission(
        scheduled in proptest::option::of(0i64..10_000_000), deleted in proptest::option::of(0i64..10_000_000),
        phase in prop::sample::select(vec!["Running", "Failed", "Succeeded", "Pending"]), censored: bool,
    ) {
        let base = pod("LS", "Running", 5000, None, true);
        let mut later = base.clone();
        later.scheduled_time_us = scheduled.map(|s| s * 1_000_000);
        later.deletion_time_us = deleted.map(|s| s * 1_000_000);
        later.duration_s = deleted.map(|d| d - 5000);
        later.phase = Some(phase.into());
        later.duration_censored = censored;
        prop_assert_eq!(job_spec(&base).features(), job_spec(&later).features());
    }
}

#[test]
fn duration_labels_keep_censored_pods_only_when_their_class_is_known() {
    let day = 86_400;
    assert_eq!(Task::Duration.label(&pod("LS", "Succeeded", 10, Some(600), false)), Ok(0));
    assert_eq!(Task::Duration.label(&pod("LS", "Succeeded", 10, Some(7200), false)), Ok(1));
    assert_eq!(
        Task::Duration.label(&pod("LS", "Running", 10, Some(2 * day), true)),
        Ok(2),
        "still running at 2 days: long"
    );
    assert!(
        Task::Duration.label(&pod("LS", "Running", 10, Some(600), true)).is_err(),
        "still running at 10 min: unknown"
    );
    assert!(Task::Duration.label(&pod("LS", "Succeeded", 0, Some(600), false)).is_err(), "created before the trace");
    assert!(Task::LsBe.label(&pod("Burstable", "Running", 10, None, true)).is_err());
    assert_eq!(Task::Failure.label(&pod("BE", "Failed", 10, None, true)), Ok(1));
}

/// On the real pods (skipped where ../shared/data is absent), the quick grid's choices beat the
/// majority and rule baselines on the later quarter of the trace.
#[test]
fn real_pods_beat_the_baselines() {
    let pods = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/alibaba/v2023/openb_pod_list_default.csv");
    if !pods.exists() {
        println!("SKIPPED: {} not found", pods.display());
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let cfg = EvaluateConfig {
        inputs: vec![pods],
        test_start_s: 11_600_000,
        test_end_s: None,
        out: out.path().into(),
        grid: Grid::Small,
        seed: 42,
    };
    let report = evaluate(&cfg).unwrap();
    for t in &report.tasks {
        let get = |prefix: &str| t.test.iter().find(|(k, _)| k.starts_with(prefix)).unwrap().1.macro_f1;
        let (selected, majority, rule) = (get("selected"), get("majority"), get("rule"));
        println!("{}: selected {selected:.4} majority {majority:.4} rule {rule:.4}", t.task_name());
        assert!(selected > majority + 0.1 && selected > rule, "{}: {selected} vs {majority} / {rule}", t.task_name());
    }
    let ls_be = report.tasks.iter().find(|t| t.task == Task::LsBe).unwrap();
    assert!(ls_be.test.iter().find(|(k, _)| k.starts_with("selected")).unwrap().1.macro_f1 > 0.98);
}
