//! The saved workload classifier: `model.json` (one fitted model per task) and
//! `manifest.json` (feature names, model choices, training data and validation metrics, and the
//! sha256 of `model.json`). Loading recomputes the hash and refuses a mismatch.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::features::{FEATURE_NAMES, JobSpec};
use super::model::Model;
use crate::error::{Error, Result};

pub const MODEL_FILE: &str = "model.json";
pub const MANIFEST_FILE: &str = "manifest.json";
pub const FORMAT_VERSION: u32 = 1;

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

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub kind: String,
    pub model_sha256: String,
    pub feature_names: Vec<String>,
    /// What it was trained on: source, rows, time cut, class counts per task.
    pub training: serde_json::Value,
    /// Validation (time-ordered) metrics and the candidates each task's choice beat.
    pub validation: serde_json::Value,
    pub created_by: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `model.json` and `manifest.json` under `dir` (each via a temporary file and rename).
pub fn save(
    dir: &Path,
    bundle: &ClassifierBundle,
    training: serde_json::Value,
    validation: serde_json::Value,
) -> Result<Manifest> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let model = serde_json::to_vec(bundle).map_err(|e| Error::Invalid(e.to_string()))?;
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        kind: "workload_classifier".into(),
        model_sha256: sha256_hex(&model),
        feature_names: bundle.feature_names.clone(),
        training,
        validation,
        created_by: format!("hcp {}", env!("CARGO_PKG_VERSION")),
    };
    write_atomic(&dir.join(MODEL_FILE), &model)?;
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
    write_atomic(&dir.join(MANIFEST_FILE), &text)?;
    Ok(manifest)
}

fn write_atomic(path: &PathBuf, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Loads a classifier, verifying the checksum and that its features are this build's.
pub fn load(dir: &Path) -> Result<(ClassifierBundle, Manifest)> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let model_path = dir.join(MODEL_FILE);
    let text = std::fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| Error::Artifact { path: manifest_path.clone(), message: e.to_string() })?;
    if manifest.format_version != FORMAT_VERSION || manifest.kind != "workload_classifier" {
        return Err(Error::Artifact {
            path: manifest_path,
            message: format!(
                "a `{}` artifact of format {}, this build reads workload_classifier format {FORMAT_VERSION}",
                manifest.kind, manifest.format_version
            ),
        });
    }
    let bytes = std::fs::read(&model_path).map_err(|e| Error::io(&model_path, e))?;
    let actual = sha256_hex(&bytes);
    if actual != manifest.model_sha256 {
        return Err(Error::Checksum { path: model_path, expected: manifest.model_sha256, actual });
    }
    let bundle: ClassifierBundle = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Artifact { path: model_path.clone(), message: e.to_string() })?;
    if bundle.feature_names != FEATURE_NAMES {
        return Err(Error::Artifact {
            path: model_path,
            message: format!("trained on features {:?}, this build computes {:?}", bundle.feature_names, FEATURE_NAMES),
        });
    }
    Ok((bundle, manifest))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
