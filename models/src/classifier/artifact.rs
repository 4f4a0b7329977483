//! The saved workload classifier (see [`crate::artifact`]): `model.json` holds one fitted model
//! per task.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::features::{FEATURE_NAMES, JobSpec};
use super::model::Model;
use crate::artifact;
pub use crate::artifact::{MANIFEST_FILE, MODEL_FILE, Manifest};
use crate::error::Result;

/// One task's fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskModel {
    /// `ls_be`, `qos`, `failure`, `duration`.
    pub task: String,
    pub classes: Vec<String>,
    /// The chosen model's description, e.g. `forest(trees=200,depth=none,features=0.5)`.
    pub model_name: String,
    pub model: Model,
}

/// Everything `model.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierBundle {
    pub feature_names: Vec<String>,
    pub tasks: Vec<TaskModel>,
}

/// A prediction for one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskPrediction {
    pub task: String,
    pub class: String,
    pub probabilities: Vec<(String, f64)>,
}

impl ClassifierBundle {
    pub fn task(&self, name: &str) -> Option<&TaskModel> {
        self.tasks.iter().find(|t| t.task == name)
    }

    /// Predicts every task for one job (the spec is validated first).
    pub fn classify(&self, spec: &JobSpec) -> Result<Vec<TaskPrediction>> {
        spec.validate()?;
        let x = spec.features();
        Ok(self
            .tasks
            .iter()
            .map(|t| {
                let p = t.model.predict_proba(&x);
                TaskPrediction {
                    task: t.task.clone(),
                    class: t.classes[t.model.predict(&x)].clone(),
                    probabilities: t.classes.iter().cloned().zip(p).collect(),
                }
            })
            .collect())
    }
}

impl artifact::Check for ClassifierBundle {
    fn check(&self) -> std::result::Result<(), String> {
        if self.feature_names.iter().ne(FEATURE_NAMES) {
            return Err(format!("feature_names: {:?}, this build computes {FEATURE_NAMES:?}", self.feature_names));
        }
        for (i, t) in self.tasks.iter().enumerate() {
            let what = format!("tasks[{i}] ({})", t.task);
            if t.classes.len() != t.model.n_classes() {
                return Err(format!("{what}: {} class names, its model has {}", t.classes.len(), t.model.n_classes()));
            }
            t.model.check(FEATURE_NAMES.len()).map_err(|e| format!("{what}: {e}"))?;
        }
        Ok(())
    }
}

pub const KIND: &str = "workload_classifier";

/// Writes the classifier's `model.json` and `manifest.json` under `dir`.
pub fn save(
    dir: &Path,
    bundle: &ClassifierBundle,
    training: serde_json::Value,
    validation: serde_json::Value,
) -> Result<Manifest> {
    artifact::save(dir, KIND, &bundle.feature_names, bundle, training, validation)
}

/// Loads a classifier, verifying the checksum and that its features are this build's.
pub fn load(dir: &Path) -> Result<(ClassifierBundle, Manifest)> {
    let names: Vec<String> = FEATURE_NAMES.iter().map(|s| s.to_string()).collect();
    artifact::load(dir, KIND, &names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn bundle() -> ClassifierBundle {
        ClassifierBundle {
            feature_names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            tasks: vec![TaskModel {
                task: "ls_be".into(),
                classes: vec!["BE".into(), "LS".into()],
                model_name: "majority".into(),
                model: Model::Constant { class: 1, n_classes: 2 },
            }],
        }
    }

    #[test]
    fn round_trip_and_a_tampered_model_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &bundle(), serde_json::json!({}), serde_json::json!({})).unwrap();
        let (loaded, manifest) = load(dir.path()).unwrap();
        assert_eq!(loaded, bundle());
        assert_eq!(manifest.model_sha256.len(), 64);
        let spec = JobSpec {
            cpu_milli: 1000,
            memory_mib: 1024,
            num_gpu: 1,
            gpu_milli: 1000,
            gpu_spec: None,
            creation_time_s: 0,
        };
        assert_eq!(loaded.classify(&spec).unwrap()[0].class, "LS");

        let path = dir.path().join(MODEL_FILE);
        let text = std::fs::read_to_string(&path).unwrap().replace("\"class\":1", "\"class\":0");
        std::fs::write(&path, text).unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Checksum { .. }), "{err}");
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
    }

    #[test]
    fn a_malformed_model_is_refused_by_the_field_it_breaks() {
        use crate::classifier::model::{Node, Tree};
        let names: Vec<String> = FEATURE_NAMES.iter().map(|s| s.to_string()).collect();
        // A split whose right child is itself: a prediction going right would never end.
        let looping = Tree {
            nodes: vec![Node::Split { feature: 0, threshold: 1.0, left: 1, right: 0 }, Node::Leaf { class: 0 }],
        };
        let cases = [
            (Model::Constant { class: 2, n_classes: 2 }, 2, "tasks[0] (ls_be): class 2 of 2"),
            (Model::Constant { class: 0, n_classes: 3 }, 2, "tasks[0] (ls_be): 2 class names, its model has 3"),
            (Model::Tree { tree: looping, n_classes: 2 }, 2, "node 0: child 0, not a later node"),
            (Model::Forest { trees: vec![], n_classes: 2 }, 2, "a forest with no trees"),
        ];
        for (model, classes, message) in cases {
            let mut bad = bundle();
            bad.tasks[0].model = model;
            bad.tasks[0].classes.truncate(classes);
            let dir = tempfile::tempdir().unwrap();
            artifact::save(dir.path(), KIND, &names, &bad, serde_json::json!({}), serde_json::json!({})).unwrap();
            let err = load(dir.path()).unwrap_err().to_string();
            assert!(err.contains(message), "{message}: {err}");
        }
        let mut renamed = bundle();
        renamed.feature_names[3] = "other".into();
        let dir = tempfile::tempdir().unwrap();
        artifact::save(dir.path(), KIND, &names, &renamed, serde_json::json!({}), serde_json::json!({})).unwrap();
        assert!(load(dir.path()).unwrap_err().to_string().contains("feature_names:"));
    }
}
