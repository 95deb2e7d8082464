//! Sweep specs: parsing and validating what a user submits (JSON or YAML, the
//! keys of a W&B sweep config) into a `SweepSpec` that cannot be invalid.
//! Pure: no I/O, no async, no training.
mod budget;
mod choices;
mod condition;
mod distribution;
mod document;
mod fields;
mod format;
mod grid;
mod limits;
mod param;
pub mod params;
mod scan;
mod shown;
mod space;
mod sweep;
mod validate;
mod warm;

/// Re-exported: specs name them, and so do their callers.
pub use crate::metric::{Goal, Metric, METRICS};
pub use budget::{AtDeadline, Target};
pub use condition::{applies, Condition};
pub use distribution::Distribution;
pub use format::{Format, UnsupportedType};
pub use grid::Combinations;
pub use limits::Limits;
pub use param::ParamSpec;
pub use params::{Activation, Optimizer, ParamName, TrialParams};
pub use sweep::SweepSpec;
pub use warm::WarmStart;

/// Reads a spec body (JSON or YAML) into a JSON document, bounded as
/// `SweepSpec::parse` reads it, without validating it (a fork's changes).
pub fn read_document(
    body: &str,
    format: Format,
    limits: &Limits,
) -> Result<serde_json::Value, SpecError> {
    document::read(body, format, limits)
}

use serde::{Deserialize, Serialize};

/// A rejected spec: which field, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    /// Dotted path of the offending field, e.g. `parameters.batch_size.values[1]`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl SpecError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// How configurations are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Grid,
    Random,
    Bayes,
}

impl Method {
    /// Every method, in the order error messages list them.
    pub const ALL: [Method; 3] = [Method::Grid, Method::Random, Method::Bayes];

    /// The name as written in a spec and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Grid => "grid",
            Method::Random => "random",
            Method::Bayes => "bayes",
        }
    }
}

crate::names::text_enum!(Method, "method");

/// The shape of a dataset, which bounds the network's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetShape {
    pub features: usize,
    pub classes: usize,
}

/// The keys a spec may have.
pub const KEYS: &[&str] = &[
    "name",
    "description",
    "dataset",
    "method",
    "metric",
    "max_trials",
    "max_parallel",
    "fuse",
    "seed",
    "parameters",
    "early_terminate",
    "max_minutes",
    "at_max_minutes",
    "target",
    "n_startup_trials",
    "trial_timeout_minutes",
    "warm_start",
];
/// The largest fused group a spec may ask for (`fuse`).
pub const MAX_FUSE: u32 = 256;
/// The dataset of a spec that names none.
pub const DEFAULT_DATASET: &str = "mnist-10k";

#[cfg(test)]
mod scan_tests;
#[cfg(test)]
mod tests;
