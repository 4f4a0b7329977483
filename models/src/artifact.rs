//! Saved models: the weights (`model.json`, the fitted model as plain data, or
//! `model.safetensors` for the LSTM) and `manifest.json` (its kind, feature names, the
//! configuration inference needs, training data and validation metrics, and the sha256 of the
//! weights file). Loading recomputes the hash and refuses a mismatch, another kind, or other
//! features.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub const MODEL_FILE: &str = "model.json";
pub const MANIFEST_FILE: &str = "manifest.json";
pub const FORMAT_VERSION: u32 = 1;

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// `workload_classifier`, `price_lear_rt`, ...
    pub kind: String,
    pub model_sha256: String,
    pub feature_names: Vec<String>,
    /// What it was trained on: source, rows, time range.
    pub training: serde_json::Value,
    /// Validation (time-ordered) metrics.
    pub validation: serde_json::Value,
    pub created_by: String,
    /// What inference needs beside the weights (the LSTM's shape and scaler); absent for models
    /// whose `model.json` holds everything.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub config: serde_json::Value,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `model.json` and `manifest.json` under `dir` (each via a temporary file and rename).
pub fn save(
    dir: &Path,
    kind: &str,
    feature_names: &[String],
    model: &impl Serialize,
    training: serde_json::Value,
    validation: serde_json::Value,
) -> Result<Manifest> {
    let model = serde_json::to_vec(model).map_err(|e| Error::Invalid(e.to_string()))?;
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        kind: kind.into(),
        model_sha256: sha256_hex(&model),
        feature_names: feature_names.to_vec(),
        training,
        validation,
        created_by: format!("hcp {}", env!("CARGO_PKG_VERSION")),
        config: serde_json::Value::Null,
    };
    save_bytes(dir, MODEL_FILE, &model, manifest)
}

/// Writes the weights file `file` and then `manifest.json` (its `model_sha256` set from
/// `weights`) under `dir`, each via a temporary file and rename.
pub fn save_bytes(dir: &Path, file: &str, weights: &[u8], mut manifest: Manifest) -> Result<Manifest> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    manifest.model_sha256 = sha256_hex(weights);
    write_atomic(&dir.join(file), weights)?;
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
    write_atomic(&dir.join(MANIFEST_FILE), &text)?;
    Ok(manifest)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// What a loaded `model.json` must hold beyond what parses: the lengths and values its
/// forecasts index by and divide by. A file that breaks them (edited by hand and its checksum
/// updated, or written by a faulty build) is refused at load with the field that is wrong,
/// instead of panicking, looping or forecasting from the wrong coefficients later.
pub trait Check {
    /// `Err` names the first field that is wrong and how.
    fn check(&self) -> std::result::Result<(), String>;
}

/// Loads a model of `kind`, verifying the checksum, that its features are `feature_names`
/// (this build's) and that it passes its [`Check`].
pub fn load<T: DeserializeOwned + Check>(dir: &Path, kind: &str, feature_names: &[String]) -> Result<(T, Manifest)> {
    let (bytes, manifest) = load_bytes(dir, kind, MODEL_FILE)?;
    if manifest.feature_names != feature_names {
        return Err(Error::Artifact {
            path: dir.join(MANIFEST_FILE),
            message: format!(
                "trained on features {:?}, this build computes {:?}",
                manifest.feature_names, feature_names
            ),
        });
    }
    let model_path = dir.join(MODEL_FILE);
    let model: T = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Artifact { path: model_path.clone(), message: e.to_string() })?;
    model.check().map_err(|message| Error::Artifact { path: model_path, message })?;
    Ok((model, manifest))
}

/// The subdirectories of a models directory (as `hcp run` writes `OUT/models/`): those holding
/// a `manifest.json`, which are models, and the others, which are not (a model still being
/// written, or something else), each list sorted. Files in `dir` are neither.
pub fn model_dirs(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (mut models, mut others) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.join(MANIFEST_FILE).is_file() {
            models.push(path);
        } else if path.is_dir() {
            others.push(path);
        }
    }
    models.sort();
    others.sort();
    Ok((models, others))
}

/// Reads `dir/manifest.json` alone (to see which kind of model a directory holds). A `dir`
/// without one that holds models (a models directory given where one model is asked for) is
/// an error naming them.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let text = std::fs::read(&manifest_path).map_err(|e| unreadable_manifest(dir, e))?;
    serde_json::from_slice(&text).map_err(|e| Error::Artifact { path: manifest_path.clone(), message: e.to_string() })
}

/// Why `dir`'s manifest could not be read: a directory of models where one was expected is
/// named with its models; anything else is the I/O error.
fn unreadable_manifest(dir: &Path, e: std::io::Error) -> Error {
    let models = match model_dirs(dir) {
        Ok((models, _)) if e.kind() == std::io::ErrorKind::NotFound && !models.is_empty() => models,
        _ => return Error::io(dir.join(MANIFEST_FILE), e),
    };
    let names: Vec<String> =
        models.iter().filter_map(|m| m.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
    Error::Artifact {
        path: dir.to_path_buf(),
        message: format!("not a model but a directory of models ({}): give one of them", names.join(", ")),
    }
}

/// Reads the manifest of a `kind` artifact and its weights file `file`, whose sha256 must be
/// the manifest's.
pub fn load_bytes(dir: &Path, kind: &str, file: &str) -> Result<(Vec<u8>, Manifest)> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let model_path = dir.join(file);
    let manifest = read_manifest(dir)?;
    if manifest.format_version != FORMAT_VERSION || manifest.kind != kind {
        return Err(Error::Artifact {
            path: manifest_path,
            message: format!(
                "a `{}` artifact of format {}, this build reads {kind} format {FORMAT_VERSION}",
                manifest.kind, manifest.format_version
            ),
        });
    }
    let bytes = std::fs::read(&model_path).map_err(|e| Error::io(&model_path, e))?;
    let actual = sha256_hex(&bytes);
    if actual != manifest.model_sha256 {
        return Err(Error::Checksum { path: model_path, expected: manifest.model_sha256, actual });
    }
    Ok((bytes, manifest))
}

/// Test support: saves `model` as a `kind` model over `feature_names` after `edit` has changed
/// its JSON, with a checksum that matches, as a hand edit that updated the manifest would.
#[cfg(test)]
pub(crate) fn save_edited(
    dir: &Path,
    kind: &str,
    feature_names: &[String],
    model: &impl Serialize,
    edit: impl FnOnce(&mut serde_json::Value),
) {
    let mut value = serde_json::to_value(model).unwrap();
    edit(&mut value);
    save(dir, kind, feature_names, &value, serde_json::json!({}), serde_json::json!({})).unwrap();
}
