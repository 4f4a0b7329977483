//! The workload classifier: from a job's spec alone (nothing known only after it starts), its
//! QoS class, its failure risk and its duration class, and from the class where and how to
//! place it.
//!
//! - [`features`]: the spec → feature vector mapping shared by training and serving.
//! - [`model`]: fitted models as plain data (trees, forests, logistic regression) that predict
//!   without linfa.
//! - [`fit`]: fitting with linfa (`linfa-trees`, `linfa-ensemble`, `linfa-logistic`), with
//!   class balancing.
//! - [`metrics`]: accuracy, macro-F1, per-class precision and recall, confusion matrix.
//! - [`artifact`]: the saved classifier, its manifest and checksum.
//! - [`placement`]: the policy the scheduler applies per class.

pub mod artifact;
pub mod features;
pub mod fit;
pub mod metrics;
pub mod model;
pub mod placement;

pub use features::{FEATURE_NAMES, JobSpec};
pub use model::Model;
