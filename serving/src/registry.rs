//! The loaded models: every subdirectory of `--models DIR` holding a `manifest.json` is one
//! model, named after the directory; a subdirectory without one is not a model, and is listed
//! as skipped so the server can say so. Each is loaded with its checksum verified and run once on
//! a synthetic input (a smoke test) before it is served; a reload builds a whole new registry
//! and replaces the old one only when every model passed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hcp_models::artifact::{MANIFEST_FILE, Manifest};
use hcp_models::classifier::JobSpec;
use hcp_models::classifier::artifact::{self as classifier_artifact, ClassifierBundle};
use hcp_models::forecast::demand_model::{self, DemandModel};
use hcp_models::forecast::price::{self, PriceModel};
use hcp_models::forecast::realtime::{self, HourlyPrices};

use crate::error::{Error, Result};

/// A model as it is served.
#[derive(Debug, Clone)]
pub enum Model {
    Price(PriceModel),
    Demand(DemandModel),
    Classifier(ClassifierBundle),
}

impl Model {
    pub fn price(&self) -> Option<&PriceModel> {
        if let Model::Price(m) = self { Some(m) } else { None }
    }

    pub fn demand(&self) -> Option<&DemandModel> {
        if let Model::Demand(m) = self { Some(m) } else { None }
    }

    pub fn classifier(&self) -> Option<&ClassifierBundle> {
        if let Model::Classifier(m) = self { Some(m) } else { None }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Model::Price(m) => m.kind(),
            Model::Demand(m) => m.kind(),
            Model::Classifier(_) => classifier_artifact::KIND,
        }
    }
}

/// One served model.
#[derive(Debug, Clone)]
pub struct Served {
    /// The directory's name.
    pub name: String,
    /// The first 12 hex digits of the weights' sha256.
    pub version: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub model: Model,
}

/// Every served model, by name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub models: Vec<Arc<Served>>,
    /// Subdirectories of the models directory without a `manifest.json` (a model still being
    /// written, or a directory that is not one), sorted; not served.
    pub skipped: Vec<PathBuf>,
    /// When it was loaded, Unix s.
    pub loaded_at_unix_s: f64,
}

fn model_error(name: &str, dir: &Path, message: impl Into<String>) -> Error {
    Error::Model { name: name.into(), path: dir.into(), message: message.into() }
}

impl Registry {
    /// Loads every model under `dir`. Fails, naming the model, when one does not load or fails
    /// its smoke test, and when there is none.
    pub fn load(dir: &Path) -> Result<Registry> {
        let (dirs, skipped) = hcp_models::artifact::model_dirs(dir).map_err(|e| Error::Config(e.to_string()))?;
        if dirs.is_empty() {
            let hint = if dir.join(MANIFEST_FILE).is_file() {
                " (it is a model directory itself: give the directory that holds it)"
            } else {
                ""
            };
            return Err(Error::Config(format!(
                "{}: no model directory (a subdirectory with {MANIFEST_FILE}) to serve{hint}",
                dir.display()
            )));
        }
        let mut models = Vec::with_capacity(dirs.len());
        for d in dirs {
            let name = d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(model_error(
                    &name,
                    &d,
                    "a model name may hold only ASCII letters, digits, `-`, `_` and `.`",
                ));
            }
            let served = load_one(&name, &d)?;
            smoke_test(&served.model).map_err(|m| model_error(&name, &d, format!("smoke test failed: {m}")))?;
            models.push(Arc::new(served));
        }
        let loaded_at_unix_s =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        Ok(Registry { models, skipped, loaded_at_unix_s })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Served>> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The price model of `node`: the one `name`d, or the only one loaded for the node. The error
    /// names the request field at fault (`node` or `model`) and why.
    pub fn price_for(
        &self,
        node: &str,
        name: Option<&str>,
    ) -> std::result::Result<Arc<Served>, (&'static str, String)> {
        let of_node: Vec<&Arc<Served>> =
            self.models.iter().filter(|m| matches!(&m.model, Model::Price(p) if p.node() == node)).collect();
        let names: Vec<&str> = of_node.iter().map(|m| m.name.as_str()).collect();
        match (name, of_node.as_slice()) {
            (Some(n), _) => of_node.iter().find(|m| m.name == n).map(|m| Arc::clone(m)).ok_or_else(|| {
                ("model", format!("no price model `{n}` of `{node}` is loaded (its price models: {names:?})"))
            }),
            (None, [only]) => Ok(Arc::clone(only)),
            (None, []) => {
                let nodes: Vec<&str> = self.models.iter().filter_map(|m| m.model.price()).map(|p| p.node()).collect();
                Err(("node", format!("no price model for `{node}` is loaded (nodes served: {nodes:?})")))
            }
            (None, _) => {
                Err(("model", format!("{} price models of `{node}` are loaded; name one of {names:?}", names.len())))
            }
        }
    }

    /// Models of one kind, by name.
    pub fn of_kind(&self, kind: &str) -> impl Iterator<Item = &Arc<Served>> {
        self.models.iter().filter(move |m| m.model.kind() == kind)
    }

    /// The model of one of `kinds` (`what` names them: "demand", "classifier") a request
    /// names, or the only one when it names none; else why not (with the names of those
    /// kinds), for the request's `model` field.
    pub fn named_or_only(
        &self,
        what: &str,
        kinds: &[&str],
        name: Option<&str>,
    ) -> std::result::Result<Arc<Served>, String> {
        let all: Vec<&Arc<Served>> = self.models.iter().filter(|m| kinds.contains(&m.model.kind())).collect();
        let names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
        match name {
            Some(n) => all
                .iter()
                .find(|m| m.name == n)
                .map(|m| Arc::clone(m))
                .ok_or_else(|| format!("no {what} model `{n}` is loaded ({what} models: {names:?})")),
            None if all.len() == 1 => Ok(Arc::clone(all[0])),
            None => Err(format!("{} {what} models are loaded; name one of {names:?}", all.len())),
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.models.iter().map(|m| m.name.as_str()).collect()
    }

    /// The skipped subdirectories' names.
    pub fn skipped_names(&self) -> Vec<String> {
        self.skipped.iter().filter_map(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()).collect()
    }
}

fn load_one(name: &str, dir: &Path) -> Result<Served> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let text = std::fs::read(&manifest_path).map_err(|source| Error::Io { path: manifest_path.clone(), source })?;
    let head: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| model_error(name, dir, format!("{MANIFEST_FILE}: {e}")))?;
    let kind = head.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    let fail = |e: hcp_models::Error| model_error(name, dir, e.to_string());
    let (model, manifest) = match kind {
        k if price::KINDS.contains(&k) => PriceModel::load(dir).map(|(m, man)| (Model::Price(m), man)).map_err(fail)?,
        k if demand_model::KINDS.contains(&k) => {
            DemandModel::load(dir).map(|(m, man)| (Model::Demand(m), man)).map_err(fail)?
        }
        classifier_artifact::KIND => {
            classifier_artifact::load(dir).map(|(m, man)| (Model::Classifier(m), man)).map_err(fail)?
        }
        other => {
            return Err(model_error(
                name,
                dir,
                format!(
                    "kind `{other}` is not served (this build serves {}, {} and {})",
                    price::KINDS.join(", "),
                    demand_model::KINDS.join(", "),
                    classifier_artifact::KIND
                ),
            ));
        }
    };
    Ok(Served {
        name: name.into(),
        version: manifest.model_sha256.chars().take(12).collect(),
        dir: dir.into(),
        manifest,
        model,
    })
}

const HOUR_US: i64 = 3_600_000_000;

/// Runs a model once on a flat synthetic input: every output must be finite and the
/// quantiles ordered.
pub fn smoke_test(model: &Model) -> std::result::Result<(), String> {
    let ordered = |q: &[f64; 3]| q.iter().all(|v| v.is_finite()) && q[0] <= q[1] && q[1] <= q[2];
    match model {
        Model::Price(m) => {
            // 2025-01-06 00:00 UTC, a Monday.
            let start = 1_736_121_600 * 1_000_000;
            let k = m.lookback();
            let hours: Vec<(i64, f64, f64)> =
                (0..k + realtime::HORIZONS).map(|i| (start + i as i64 * HOUR_US, 30.0, 30.0)).collect();
            let grid = HourlyPrices::from_hours(m.node(), &hours, hcp_datasets::time::ercot_calendar_by_day())
                .ok_or("empty synthetic grid")?;
            let out = m.forecast(&grid, k).map_err(|e| e.to_string())?;
            if out.len() != realtime::HORIZONS {
                return Err(format!("{} of {} horizons forecast on a complete history", out.len(), realtime::HORIZONS));
            }
            match out.iter().find(|h| !h.mean.is_finite() || !ordered(&h.quantiles)) {
                Some(h) => Err(format!("horizon {}: mean {} quantiles {:?}", h.horizon, h.mean, h.quantiles)),
                None => Ok(()),
            }
        }
        Model::Demand(m) => {
            let out = m.forecast(&vec![100.0; m.lookback()], 0).map_err(|e| e.to_string())?;
            match out.iter().position(|(mean, q)| !mean.is_finite() || !ordered(q)) {
                Some(h) => Err(format!("horizon {}: {:?}", h + 1, out[h])),
                None => Ok(()),
            }
        }
        Model::Classifier(b) => {
            let spec = JobSpec {
                cpu_milli: 8000,
                memory_mib: 32_768,
                num_gpu: 1,
                gpu_milli: 1000,
                gpu_spec: None,
                creation_time_s: 0,
            };
            for t in b.classify(&spec).map_err(|e| e.to_string())? {
                let sum: f64 = t.probabilities.iter().map(|p| p.1).sum();
                if !(sum - 1.0).abs().lt(&1e-6) || t.probabilities.iter().any(|p| !(0.0..=1.0).contains(&p.1)) {
                    return Err(format!("task {}: probabilities {:?}", t.task, t.probabilities));
                }
            }
            Ok(())
        }
    }
}
