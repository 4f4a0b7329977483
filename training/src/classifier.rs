//! `hcp evaluate classifier` and `hcp train classifier`: the workload classifier's protocol on
//! the Alibaba v2023 pods.
//!
//! Labels per task: `ls_be` (QoS LS vs BE; Burstable and Guaranteed pods are left out of this
//! task and counted), `qos` (the four QoS values), `failure` (pod phase Failed vs not; a pod
//! still Running or Pending at the trace's end counts as not failed *so far*), `duration`
//! (short < 1 h, medium < 24 h, long; a pod still running whose age already exceeds 24 h is
//! long, one still running at a younger age has no known class and is left out and counted, as
//! are pods created before the trace).
//!
//! Evaluation trains on pods created before `--test-start` and tests on those after. Model
//! choice uses only the training pods: the last 20 % of them by creation time are the
//! validation set; each candidate is fitted on the earlier 80 % and scored by macro-F1 on it;
//! per-class weights on the winner's probabilities are then tuned on the same validation set;
//! the winner (and each family's best, for the report) is refitted on all training pods.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcp_datasets::Table;
use hcp_datasets::ingest::{Format, parse};
use hcp_datasets::rows::JobRow;
use hcp_datasets::writer::write_bytes_atomically;
use hcp_models::classifier::artifact::{self, ClassifierBundle, TaskModel};
use hcp_models::classifier::fit::{ModelSpec, TrainSet, fit};
use hcp_models::classifier::metrics::{Metrics, metrics};
use hcp_models::classifier::{FEATURE_NAMES, JobSpec, Model};
use polars::prelude::*;
use serde::Serialize;

use crate::{Error, Result};

/// The classification tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    LsBe,
    Qos,
    Failure,
    Duration,
}

pub const TASKS: [Task; 4] = [Task::LsBe, Task::Qos, Task::Failure, Task::Duration];

const HOUR_S: i64 = 3600;

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::LsBe => "ls_be",
            Task::Qos => "qos",
            Task::Failure => "failure",
            Task::Duration => "duration",
        }
    }

    pub fn classes(self) -> Vec<String> {
        let c: &[&str] = match self {
            Task::LsBe => &["BE", "LS"],
            Task::Qos => &["BE", "Burstable", "Guaranteed", "LS"],
            Task::Failure => &["not_failed", "failed"],
            Task::Duration => &["short", "medium", "long"],
        };
        c.iter().map(|s| s.to_string()).collect()
    }

    /// The class index of a pod, or why it has none for this task.
    pub fn label(self, job: &JobRow) -> std::result::Result<usize, &'static str> {
        let qos = job.qos.as_deref().ok_or("no qos")?;
        match self {
            Task::LsBe => match qos {
                "BE" => Ok(0),
                "LS" => Ok(1),
                _ => Err("qos is neither LS nor BE"),
            },
            Task::Qos => self.classes().iter().position(|c| c == qos).ok_or("unknown qos"),
            Task::Failure => Ok((job.phase.as_deref() == Some("Failed")) as usize),
            Task::Duration => {
                if job.creation_time_us.unwrap_or(0) == 0 {
                    return Err("created before the trace: duration unknown");
                }
                let d = job.duration_s.ok_or("no duration")?;
                let class = if d < HOUR_S {
                    0
                } else if d < 24 * HOUR_S {
                    1
                } else {
                    2
                };
                if job.duration_censored && class < 2 {
                    return Err("still running, younger than a day: class unknown");
                }
                Ok(class)
            }
        }
    }
}

/// The spec of a pod as submitted.
pub fn job_spec(job: &JobRow) -> JobSpec {
    JobSpec {
        cpu_milli: job.cpu_milli,
        memory_mib: job.memory_mib,
        num_gpu: job.num_gpu,
        gpu_milli: job.gpu_milli,
        gpu_spec: job.gpu_spec.clone(),
        creation_time_s: job.creation_time_us.unwrap_or(0) / 1_000_000,
    }
}

/// Which candidates model selection tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grid {
    /// A handful of small models (tests).
    Small,
    /// The full search (the CLI's default).
    Full,
}

pub fn candidates(grid: Grid, seed: u64) -> Vec<ModelSpec> {
    let tree = |max_depth, balance| ModelSpec::Tree { max_depth, min_weight_leaf: 1.0, balance };
    let forest = |trees, max_depth, feature_proportion, balance| ModelSpec::Forest {
        trees,
        max_depth,
        feature_proportion,
        balance,
        seed,
    };
    let logistic = |alpha, balance| ModelSpec::Logistic { alpha, max_iterations: 200, balance, seed };
    match grid {
        Grid::Small => vec![tree(Some(4), 0.5), tree(None, 0.5), forest(15, None, 0.7, 0.5), logistic(1e-2, 1.0)],
        Grid::Full => {
            let mut c = Vec::new();
            for depth in [Some(4), Some(8), Some(12), None] {
                for balance in [0.5, 1.0] {
                    c.push(tree(depth, balance));
                }
            }
            for (features, balance) in [(0.7, 0.25), (0.7, 0.5), (0.7, 1.0), (0.4, 0.5), (1.0, 0.5)] {
                c.push(forest(100, None, features, balance));
            }
            for alpha in [1e-4, 1e-2] {
                c.push(logistic(alpha, 1.0));
            }
            c
        }
    }
}

fn family(spec: &ModelSpec) -> &'static str {
    match spec {
        ModelSpec::Majority => "majority",
        ModelSpec::Rule => "rule",
        ModelSpec::Tree { .. } => "tree",
        ModelSpec::Forest { .. } => "forest",
        ModelSpec::Logistic { .. } => "logistic",
    }
}

/// Pods from the v2023 pod list(s), sorted by creation time then name.
pub fn read_pods(inputs: &[PathBuf]) -> Result<Vec<JobRow>> {
    let parsed = parse(Format::Alibaba, inputs)?;
    let mut jobs = Vec::new();
    for batch in parsed.batches(Table::Jobs) {
        jobs.extend(hcp_datasets::rows::job_rows(batch)?);
    }
    if let Some(r) = parsed.rejections.first() {
        eprintln!("warning: {} pod rows rejected at parse; the first: {r}", parsed.rejections.len());
    }
    checked_pods(jobs, "the input (expected an Alibaba v2023 pod list)")
}

/// Where the classifier's pods come from.
#[derive(Debug, Clone)]
pub enum PodSource {
    /// v2023 pod list files.
    Files(Vec<PathBuf>),
    /// A dataset's `jobs` table, all of it or one `source` (e.g. `alibaba_v2023_default`).
    Dataset { dir: PathBuf, job_source: Option<String> },
}

impl PodSource {
    pub fn read(&self) -> Result<Vec<JobRow>> {
        match self {
            PodSource::Files(inputs) => read_pods(inputs),
            PodSource::Dataset { dir, job_source } => {
                let jobs = crate::history::dataset_jobs(dir, job_source.as_deref())?;
                checked_pods(jobs, &format!("{}", dir.display()))
            }
        }
    }

    fn describe(&self) -> Vec<String> {
        match self {
            PodSource::Files(inputs) => inputs.iter().map(|p| p.display().to_string()).collect(),
            PodSource::Dataset { dir, job_source } => {
                vec![format!(
                    "{}{}",
                    dir.display(),
                    job_source.as_ref().map(|s| format!(" (jobs of {s})")).unwrap_or_default()
                )]
            }
        }
    }
}

/// Every pod needs a qos and a creation time; sorted by creation time then name.
fn checked_pods(mut jobs: Vec<JobRow>, what: &str) -> Result<Vec<JobRow>> {
    if jobs.is_empty() {
        return Err(Error::Invalid(format!("no pods in {what}")));
    }
    if let Some(j) = jobs.iter().find(|j| j.qos.is_none() || j.creation_time_us.is_none()) {
        return Err(Error::Invalid(format!(
            "pod `{}` ({}) has no qos or creation time: the classifier needs pods with both (e.g. openb_pod_list_default.csv, or --job-source alibaba_v2023_default)",
            j.job_id, j.source
        )));
    }
    jobs.sort_by(|a, b| a.creation_time_us.cmp(&b.creation_time_us).then(a.job_id.cmp(&b.job_id)));
    Ok(jobs)
}

fn labelled(jobs: &[&JobRow], task: Task) -> (TrainSet, BTreeMap<String, usize>) {
    let mut set = TrainSet { n_classes: task.classes().len(), ..TrainSet::default() };
    let mut excluded = BTreeMap::new();
    for j in jobs {
        match task.label(j) {
            Ok(y) => {
                set.x.push(job_spec(j).features().to_vec());
                set.y.push(y);
            }
            Err(reason) => *excluded.entry(reason.to_string()).or_insert(0) += 1,
        }
    }
    (set, excluded)
}

fn score(model: &Model, set: &TrainSet, classes: &[String]) -> Metrics {
    let predicted: Vec<usize> = set.x.iter().map(|x| model.predict(x)).collect();
    metrics(&set.y, &predicted, classes)
}

/// Model selection for one task on time-ordered training rows; returns every candidate's
/// validation macro-F1 and the chosen spec (best overall) plus each family's best.
#[derive(Debug, Clone, Serialize)]
pub struct Selection {
    pub validation: Vec<(String, f64)>,
    pub chosen: ModelSpec,
    pub family_best: BTreeMap<String, ModelSpec>,
    /// Per-class weights on the chosen model's probabilities, tuned on the validation set.
    pub class_weights: Vec<f64>,
    /// Validation macro-F1 of the chosen model with those weights.
    pub weighted_validation_macro_f1: f64,
}

/// Coordinate ascent over per-class probability weights (powers of two from 1/8 to 8),
/// keeping a change only when it raises macro-F1 on `val`; two passes.
fn tune_class_weights(model: &Model, val: &TrainSet, classes: &[String]) -> (Vec<f64>, f64) {
    let probs: Vec<Vec<f64>> = val.x.iter().map(|x| model.predict_proba(x)).collect();
    let f1 = |w: &[f64]| {
        let predicted: Vec<usize> = probs
            .iter()
            .map(|p| {
                let mut best = 0;
                for c in 1..p.len() {
                    if p[c] * w[c] > p[best] * w[best] {
                        best = c;
                    }
                }
                best
            })
            .collect();
        metrics(&val.y, &predicted, classes).macro_f1
    };
    let mut w = vec![1.0; classes.len()];
    let mut best = f1(&w);
    for _ in 0..2 {
        for c in 0..w.len() {
            for candidate in [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0] {
                let mut trial = w.clone();
                trial[c] = candidate;
                let score = f1(&trial);
                if score > best + 1e-12 {
                    best = score;
                    w = trial;
                }
            }
        }
    }
    (w, best)
}

/// The chosen model refitted on `train` with the selection's class weights.
pub fn final_model(selection: &Selection, train: &TrainSet) -> Result<Model> {
    let model = fit(&selection.chosen, train).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(if selection.class_weights.iter().all(|w| *w == 1.0) {
        model
    } else {
        Model::Weighted { model: Box::new(model), weights: selection.class_weights.clone() }
    })
}

/// A task's training rows hold two classes at least: with one, every candidate and baseline
/// predicts it, and the scores say nothing about the classifier.
/// `which` follows "pods" in the message (` created before --test-start S`, or nothing).
fn learnable(task: Task, train: &TrainSet, classes: &[String], which: &str) -> Result<()> {
    let present: Vec<&String> =
        train.class_counts().iter().zip(classes).filter(|(n, _)| **n > 0).map(|(_, c)| c).collect();
    let why = match present.as_slice() {
        [] => format!("none of the pods{which} has a label"),
        [only] if train.len() == 1 => format!("the one pod{which} is {only}"),
        [only] => format!("the {} pods{which} are all {only}", train.len()),
        _ => return Ok(()),
    };
    Err(Error::Invalid(format!(
        "task {}: {why} (its classes: {}): a classifier needs two classes to learn from",
        task.name(),
        classes.join(", ")
    )))
}

pub fn select(train: &TrainSet, classes: &[String], grid: Grid, seed: u64) -> Result<Selection> {
    let cut = train.len() * 4 / 5;
    let fit_part = TrainSet { x: train.x[..cut].to_vec(), y: train.y[..cut].to_vec(), n_classes: train.n_classes };
    let val_part = TrainSet { x: train.x[cut..].to_vec(), y: train.y[cut..].to_vec(), n_classes: train.n_classes };
    if fit_part.is_empty() || val_part.is_empty() {
        return Err(Error::Invalid(format!("{} training rows: too few to hold out a validation set", train.len())));
    }
    // Candidates are independent: fit them on every core, keep the results in grid order.
    let specs = candidates(grid, seed);
    let next = std::sync::atomic::AtomicUsize::new(0);
    // One slot per candidate: its validation macro-F1 and the model fitted on the earlier 80 %.
    type Slot = std::sync::Mutex<Option<Result<(f64, Model)>>>;
    let results: Vec<Slot> = specs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(specs.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(spec) = specs.get(i) else { break };
                    let r = fit(spec, &fit_part)
                        .map(|model| (score(&model, &val_part, classes).macro_f1, model))
                        .map_err(|e| Error::Invalid(e.to_string()));
                    *results[i].lock().expect("not poisoned") = Some(r);
                }
            });
        }
    });
    let mut validation = Vec::new();
    let mut best: Option<(f64, ModelSpec, Model)> = None;
    let mut family_best: BTreeMap<String, (f64, ModelSpec)> = BTreeMap::new();
    for (spec, r) in specs.into_iter().zip(results) {
        let (f1, model) = r.into_inner().expect("not poisoned").expect("every candidate ran")?;
        validation.push((spec.name(), f1));
        if best.as_ref().is_none_or(|b| f1 > b.0) {
            best = Some((f1, spec.clone(), model));
        }
        let fam = family(&spec).to_string();
        if family_best.get(&fam).is_none_or(|b| f1 > b.0) {
            family_best.insert(fam, (f1, spec));
        }
    }
    let (_, chosen, model) = best.expect("candidates");
    let (class_weights, weighted_validation_macro_f1) = tune_class_weights(&model, &val_part, classes);
    Ok(Selection {
        validation,
        chosen,
        family_best: family_best.into_iter().map(|(k, v)| (k, v.1)).collect(),
        class_weights,
        weighted_validation_macro_f1,
    })
}

/// One evaluation run.
#[derive(Debug, Clone)]
pub struct EvaluateConfig {
    pub inputs: Vec<PathBuf>,
    /// Pods created at or after this offset (seconds from the trace start) are the test set.
    pub test_start_s: i64,
    pub test_end_s: Option<i64>,
    pub out: PathBuf,
    pub grid: Grid,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskReport {
    pub task: Task,
    pub classes: Vec<String>,
    pub train_rows: usize,
    pub test_rows: usize,
    pub train_class_counts: Vec<usize>,
    pub excluded_train: BTreeMap<String, usize>,
    pub excluded_test: BTreeMap<String, usize>,
    pub selected: String,
    pub validation_macro_f1: Vec<(String, f64)>,
    /// Test metrics by model: `selected`, each family's best, `majority`, `rule`.
    pub test: BTreeMap<String, Metrics>,
}

impl TaskReport {
    pub fn task_name(&self) -> &'static str {
        self.task.name()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EvaluateReport {
    pub input: Vec<String>,
    pub test_start_s: i64,
    pub test_end_s: Option<i64>,
    pub train_pods: usize,
    pub test_pods: usize,
    pub features: Vec<String>,
    pub tasks: Vec<TaskReport>,
}

impl EvaluateReport {
    /// The short human report (`report.md`): per task, the model chosen on the training pods,
    /// every model's test scores, and the chosen one's per-class scores and confusion matrix.
    pub fn markdown(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from("# hcp evaluate classifier\n\n");
        let end = self.test_end_s.map_or("the end".to_string(), |s| format!("{s} s"));
        let _ = writeln!(
            out,
            "Input: {}. Trained on the {} pods created before {} s, tested on the {} created from then to {end}.\n",
            self.input.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", "),
            self.train_pods,
            self.test_start_s,
            self.test_pods,
        );
        for t in &self.tasks {
            let _ = writeln!(out, "## {} ({})\n", t.task_name(), t.classes.join(", "));
            let excluded = |m: &BTreeMap<String, usize>| {
                if m.is_empty() {
                    "none".to_string()
                } else {
                    m.iter().map(|(why, n)| format!("{n} ({why})")).collect::<Vec<_>>().join(", ")
                }
            };
            let _ = writeln!(
                out,
                "{} training rows ({} by class), {} test rows; left out for want of a label: {} (training), {} (test). \
                 Chosen by validation macro-F1 on the training pods: {}.\n",
                t.train_rows,
                t.train_class_counts.iter().map(usize::to_string).collect::<Vec<_>>().join(" / "),
                t.test_rows,
                excluded(&t.excluded_train),
                excluded(&t.excluded_test),
                t.selected,
            );
            let _ = writeln!(out, "| model | test macro-F1 | test accuracy |\n|---|---:|---:|");
            for (name, m) in &t.test {
                let _ = writeln!(out, "| {name} | {:.4} | {:.4} |", m.macro_f1, m.accuracy);
            }
            if let Some((_, m)) = t.test.iter().find(|(name, _)| name.starts_with("selected:")) {
                let _ = writeln!(out, "\nThe chosen model on the test pods, by class:\n");
                let _ = writeln!(out, "| class | support | precision | recall | F1 |\n|---|---:|---:|---:|---:|");
                for c in &m.per_class {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {:.4} | {:.4} | {:.4} |",
                        c.class, c.support, c.precision, c.recall, c.f1
                    );
                }
                let _ = writeln!(out, "\nConfusion (rows: true class, columns: predicted):\n");
                let _ = writeln!(out, "| | {} |\n|---|{}", t.classes.join(" | "), "---:|".repeat(t.classes.len()));
                for (class, row) in t.classes.iter().zip(&m.confusion) {
                    let cells = row.iter().map(usize::to_string).collect::<Vec<_>>().join(" | ");
                    let _ = writeln!(out, "| {class} | {cells} |");
                }
            }
            out.push('\n');
        }
        out
    }
}

/// Runs the evaluation and writes `metrics.json`, `predictions.parquet` and `report.md` under
/// `out`.
pub fn evaluate(cfg: &EvaluateConfig) -> Result<EvaluateReport> {
    let jobs = read_pods(&cfg.inputs)?;
    let start_us = cfg.test_start_s * 1_000_000;
    let end_us = cfg.test_end_s.map(|s| s * 1_000_000).unwrap_or(i64::MAX);
    let train: Vec<&JobRow> = jobs.iter().filter(|j| j.creation_time_us.unwrap_or(0) < start_us).collect();
    let test: Vec<&JobRow> =
        jobs.iter().filter(|j| (start_us..end_us).contains(&j.creation_time_us.unwrap_or(0))).collect();
    if train.is_empty() || test.is_empty() {
        return Err(Error::Invalid(format!(
            "--test-start {} leaves {} training and {} test pods; both must be non-empty (pods span 0..{} s)",
            cfg.test_start_s,
            train.len(),
            test.len(),
            jobs.last().and_then(|j| j.creation_time_us).unwrap_or(0) / 1_000_000
        )));
    }
    let mut tasks = Vec::new();
    let mut prediction_rows: Vec<PredictionRow> = Vec::new();
    for task in TASKS {
        let classes = task.classes();
        let (train_set, excluded_train) = labelled(&train, task);
        let (test_set, excluded_test) = labelled(&test, task);
        let which = format!(" created before --test-start {}", cfg.test_start_s);
        learnable(task, &train_set, &classes, &which)?;
        let selection = select(&train_set, &classes, cfg.grid, cfg.seed)?;
        let mut test_metrics = BTreeMap::new();
        let mut chosen_model = None;
        let mut runs: Vec<(String, ModelSpec)> = vec![
            ("majority".into(), ModelSpec::Majority),
            ("rule".into(), ModelSpec::Rule),
            ("selected".into(), selection.chosen.clone()),
        ];
        for (fam, spec) in &selection.family_best {
            runs.push((format!("best_{fam}"), spec.clone()));
        }
        // The selected spec is also its family's best: fit each distinct spec once.
        let mut fitted: BTreeMap<String, Model> = BTreeMap::new();
        for (label, spec) in runs {
            let model = match fitted.get(&spec.name()) {
                Some(m) => m.clone(),
                None => {
                    let m = fit(&spec, &train_set).map_err(|e| Error::Invalid(e.to_string()))?;
                    fitted.insert(spec.name(), m.clone());
                    m
                }
            };
            if label == "selected" {
                let w = &selection.class_weights;
                let name = format!("{label}: {} weights {w:?}", spec.name());
                let weighted = Model::Weighted { model: Box::new(model.clone()), weights: w.clone() };
                test_metrics.insert(name, score(&weighted, &test_set, &classes));
                test_metrics
                    .insert(format!("selected_unweighted: {}", spec.name()), score(&model, &test_set, &classes));
                chosen_model = Some(weighted);
            } else {
                test_metrics.insert(format!("{label}: {}", spec.name()), score(&model, &test_set, &classes));
            }
        }
        let model = chosen_model.expect("selected model fitted");
        for j in &test {
            let x = job_spec(j).features();
            let p = model.predict_proba(&x);
            let k = model.predict(&x);
            let truth = task.label(j).ok().map(|y| classes[y].clone());
            prediction_rows.push(PredictionRow {
                job_id: j.job_id.clone(),
                task: task.name(),
                truth,
                predicted: classes[k].clone(),
                probability: p[k],
                model: selection.chosen.name(),
            });
        }
        tasks.push(TaskReport {
            task,
            train_class_counts: train_set.class_counts(),
            classes,
            train_rows: train_set.len(),
            test_rows: test_set.len(),
            excluded_train,
            excluded_test,
            selected: format!("{} weights {:?}", selection.chosen.name(), selection.class_weights),
            validation_macro_f1: selection.validation,
            test: test_metrics,
        });
    }
    let report = EvaluateReport {
        input: cfg.inputs.iter().map(|p| p.display().to_string()).collect(),
        test_start_s: cfg.test_start_s,
        test_end_s: cfg.test_end_s,
        train_pods: train.len(),
        test_pods: test.len(),
        features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        tasks,
    };
    write_json(&cfg.out.join("metrics.json"), &report)?;
    write_predictions(&cfg.out.join("predictions.parquet"), &prediction_rows)?;
    write_bytes_atomically(&cfg.out.join("report.md"), report.markdown().as_bytes())?;
    Ok(report)
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(write_bytes_atomically(path, &text)?)
}

/// One row of `predictions.parquet`: a test pod's prediction for one task (`truth` is null
/// where the pod has no label for the task).
#[derive(Debug, Clone)]
struct PredictionRow {
    job_id: String,
    task: &'static str,
    truth: Option<String>,
    predicted: String,
    /// Probability (vote share) of the predicted class.
    probability: f64,
    model: String,
}

fn write_predictions(path: &Path, rows: &[PredictionRow]) -> Result<()> {
    let col = |name: &str, values: Vec<Option<String>>| Column::new(name.into(), values);
    let mut df = DataFrame::new_infer_height(vec![
        col("job_id", rows.iter().map(|r| Some(r.job_id.clone())).collect()),
        col("task", rows.iter().map(|r| Some(r.task.to_string())).collect()),
        col("truth", rows.iter().map(|r| r.truth.clone()).collect()),
        col("predicted", rows.iter().map(|r| Some(r.predicted.clone())).collect()),
        Column::new("probability".into(), rows.iter().map(|r| r.probability).collect::<Vec<f64>>()),
        col("model", rows.iter().map(|r| Some(r.model.clone())).collect()),
    ])?;
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut df)?;
    Ok(write_bytes_atomically(path, &bytes)?)
}

/// One training run: every pod, model choice by the time-ordered validation split.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub source: PodSource,
    pub out: PathBuf,
    pub grid: Grid,
    pub seed: u64,
}

/// Trains the classifier on every pod and writes the artifact.
pub fn train(cfg: &TrainConfig) -> Result<artifact::Manifest> {
    let jobs = cfg.source.read()?;
    let all: Vec<&JobRow> = jobs.iter().collect();
    let mut tasks = Vec::new();
    let mut training = serde_json::Map::new();
    let mut validation = serde_json::Map::new();
    for task in TASKS {
        let classes = task.classes();
        let (set, excluded) = labelled(&all, task);
        learnable(task, &set, &classes, "")?;
        let selection = select(&set, &classes, cfg.grid, cfg.seed)?;
        let model = final_model(&selection, &set)?;
        training.insert(
            task.name().into(),
            serde_json::json!({ "rows": set.len(), "class_counts": set.class_counts(), "excluded": excluded }),
        );
        validation.insert(
            task.name().into(),
            serde_json::json!({
                "selected": selection.chosen.name(),
                "class_weights": selection.class_weights,
                "weighted_macro_f1": selection.weighted_validation_macro_f1,
                "macro_f1": selection.validation,
            }),
        );
        tasks.push(TaskModel { task: task.name().into(), classes, model_name: selection.chosen.name(), model });
    }
    training.insert("input".into(), serde_json::json!(cfg.source.describe()));
    training.insert("pods".into(), serde_json::json!(jobs.len()));
    let bundle = ClassifierBundle { feature_names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(), tasks };
    artifact::save(&cfg.out, &bundle, serde_json::Value::Object(training), serde_json::Value::Object(validation))
        .map_err(|e| Error::Invalid(e.to_string()))
}
