//! Sweep specs: parsing and validating what a user submits (JSON or YAML, the
//! keys of a W&B sweep config) into a `SweepSpec` that cannot be invalid.
//! Pure: no I/O, no async, no training.
mod param;
pub mod params;

pub use param::{Distribution, ParamSpec};
pub use params::{ParamName, TrialParams};

use params::describe;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

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
}

/// Whether a bigger metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    Maximize,
    Minimize,
}

/// The metrics a sweep can optimise, as stored in every epoch report.
pub const METRICS: &[&str] = &["val_accuracy", "val_loss", "train_loss"];

/// The metric a sweep optimises, and in which direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub goal: Goal,
}

impl Metric {
    /// Whether `a` is strictly better than `b` under this metric's goal.
    pub fn better(&self, a: f64, b: f64) -> bool {
        match self.goal {
            Goal::Maximize => a > b,
            Goal::Minimize => a < b,
        }
    }
}

/// The server's caps on what one sweep may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Most learnable weights a trial's network may have.
    pub max_parameters: u64,
    /// Most epochs a trial may train.
    pub max_epochs: u32,
    /// Most trials one sweep may run.
    pub max_trials: u32,
}

/// The shape of a dataset, which bounds the network's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetShape {
    pub features: usize,
    pub classes: usize,
}

/// A validated sweep: every field is in range and every parameter well-formed.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    pub name: String,
    pub dataset: String,
    pub method: Method,
    pub metric: Metric,
    /// Trials the sweep runs: as given, or the grid's size (capped by `max_trials`).
    pub max_trials: u32,
    pub max_parallel: Option<u32>,
    pub seed: u64,
    pub parameters: BTreeMap<ParamName, ParamSpec>,
    /// The spec as a JSON document with defaults filled in, as stored.
    pub document: Value,
}

/// The input format of a spec body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

const KEYS: &[&str] = &[
    "name",
    "description",
    "dataset",
    "method",
    "metric",
    "max_trials",
    "max_parallel",
    "seed",
    "parameters",
];
/// The dataset of a spec that names none.
pub const DEFAULT_DATASET: &str = "mnist-10k";

impl SweepSpec {
    /// Parses a spec body in `format`. `dataset` answers the shape of a dataset
    /// name, or why it cannot be trained on; `fallback_seed` is used when the
    /// spec gives no seed.
    pub fn parse(
        body: &str,
        format: Format,
        limits: &Limits,
        dataset: &dyn Fn(&str) -> Result<DatasetShape, String>,
        fallback_seed: u64,
    ) -> Result<SweepSpec, SpecError> {
        let document: Value = match format {
            Format::Json => serde_json::from_str(body)
                .map_err(|e| SpecError::new("body", format!("invalid JSON: {e}")))?,
            Format::Yaml => serde_yaml::from_str(body)
                .map_err(|e| SpecError::new("body", format!("invalid YAML: {e}")))?,
        };
        Self::from_document(document, limits, dataset, fallback_seed)
    }

    /// Validates a spec already read into a JSON value.
    pub fn from_document(
        mut document: Value,
        limits: &Limits,
        dataset: &dyn Fn(&str) -> Result<DatasetShape, String>,
        fallback_seed: u64,
    ) -> Result<SweepSpec, SpecError> {
        let Some(map) = document.as_object_mut() else {
            return Err(SpecError::new(
                "body",
                format!(
                    "must be a mapping of sweep keys, got {}",
                    describe(&document)
                ),
            ));
        };
        if let Some(key) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
            let hint = match key.as_str() {
                "early_terminate" => "early stopping is not supported yet".to_string(),
                _ => format!("expected one of {}", KEYS.join(", ")),
            };
            return Err(SpecError::new(key.as_str(), format!("unknown key; {hint}")));
        }
        let name = optional_string(map, "name")?.unwrap_or_else(|| "sweep".into());
        if name.is_empty() || name.len() > 200 {
            return Err(SpecError::new("name", "must be 1 to 200 characters"));
        }
        optional_string(map, "description")?;
        let dataset_name =
            optional_string(map, "dataset")?.unwrap_or_else(|| DEFAULT_DATASET.into());
        let shape = dataset(&dataset_name).map_err(|why| SpecError::new("dataset", why))?;
        let method = match map.get("method") {
            Some(Value::String(m)) if m == "grid" => Method::Grid,
            Some(Value::String(m)) if m == "random" => Method::Random,
            Some(Value::String(m)) if m == "bayes" => {
                return Err(SpecError::new(
                    "method",
                    "bayes is not supported yet; use grid or random",
                ))
            }
            Some(m) => {
                return Err(SpecError::new(
                    "method",
                    format!("must be grid or random, got {}", describe(m)),
                ))
            }
            None => return Err(SpecError::new("method", "is required: grid or random")),
        };
        let metric = parse_metric(map.get("metric"))?;
        let max_trials = optional_int(map, "max_trials", 1, limits.max_trials as u64)?;
        let max_parallel = optional_int(map, "max_parallel", 1, 100_000)?;
        let seed = optional_int(map, "seed", 0, i64::MAX as u64)?
            .unwrap_or(fallback_seed % (i64::MAX as u64));

        let mut parameters = BTreeMap::new();
        match map.get("parameters") {
            None => {}
            Some(Value::Object(raw)) => {
                for (key, value) in raw {
                    let field = format!("parameters.{key}");
                    let Some(name) = ParamName::from_name(key) else {
                        let known: Vec<_> = ParamName::ALL.iter().map(|p| p.as_str()).collect();
                        return Err(SpecError::new(
                            field,
                            format!("unknown parameter; known ones are {}", known.join(", ")),
                        ));
                    };
                    parameters.insert(name, ParamSpec::parse(name, &field, value)?);
                }
            }
            Some(v) => {
                return Err(SpecError::new(
                    "parameters",
                    format!("must be a mapping of parameter names, got {}", describe(v)),
                ))
            }
        }
        check_sizes(&parameters, limits, shape)?;

        let max_trials = match method {
            Method::Random => max_trials
                .ok_or_else(|| SpecError::new("max_trials", "is required for method random"))?,
            Method::Grid => {
                let size = grid_size(&parameters)?;
                match max_trials {
                    Some(cap) => size.min(cap),
                    None if size > limits.max_trials as u64 => {
                        return Err(SpecError::new(
                            "parameters",
                            format!(
                                "the grid has {size} configurations, over this server's cap of {} trials; set max_trials",
                                limits.max_trials
                            ),
                        ))
                    }
                    None => size,
                }
            }
        } as u32;

        map.insert("name".into(), name.clone().into());
        map.insert("dataset".into(), dataset_name.clone().into());
        map.insert(
            "metric".into(),
            serde_json::to_value(&metric).expect("metric serializes"),
        );
        map.insert("max_trials".into(), max_trials.into());
        map.insert("seed".into(), seed.into());
        Ok(SweepSpec {
            name,
            dataset: dataset_name,
            method,
            metric,
            max_trials,
            max_parallel: max_parallel.map(|p| p as u32),
            seed,
            parameters,
            document,
        })
    }
}

fn optional_string(map: &Map<String, Value>, key: &str) -> Result<Option<String>, SpecError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(SpecError::new(
            key,
            format!("must be a string, got {}", describe(v)),
        )),
    }
}

fn optional_int(
    map: &Map<String, Value>,
    key: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, SpecError> {
    match map.get(key) {
        None => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n >= min && n <= max => Ok(Some(n)),
            Some(n) if n > max => Err(SpecError::new(
                key,
                format!("{n} is over this server's cap of {max}"),
            )),
            _ => Err(SpecError::new(
                key,
                format!("must be an integer of at least {min}, got {}", describe(v)),
            )),
        },
    }
}

fn parse_metric(raw: Option<&Value>) -> Result<Metric, SpecError> {
    let Some(raw) = raw else {
        return Ok(Metric {
            name: "val_accuracy".into(),
            goal: Goal::Maximize,
        });
    };
    let Some(map) = raw.as_object() else {
        return Err(SpecError::new("metric", "must be a mapping {name, goal}"));
    };
    if let Some(k) = map.keys().find(|k| *k != "name" && *k != "goal") {
        return Err(SpecError::new(
            format!("metric.{k}"),
            "unknown key; expected name, goal",
        ));
    }
    let name = match map.get("name") {
        Some(Value::String(n)) if METRICS.contains(&n.as_str()) => n.clone(),
        Some(v) => {
            return Err(SpecError::new(
                "metric.name",
                format!("must be one of {}, got {}", METRICS.join(", "), describe(v)),
            ))
        }
        None => return Err(SpecError::new("metric.name", "is required")),
    };
    let goal = match map.get("goal") {
        Some(Value::String(g)) if g == "maximize" => Goal::Maximize,
        Some(Value::String(g)) if g == "minimize" => Goal::Minimize,
        None if name == "val_accuracy" => Goal::Maximize,
        None => Goal::Minimize,
        Some(v) => {
            return Err(SpecError::new(
                "metric.goal",
                format!("must be maximize or minimize, got {}", describe(v)),
            ))
        }
    };
    Ok(Metric { name, goal })
}

/// Rejects epochs and networks bigger than this server trains.
fn check_sizes(
    parameters: &BTreeMap<ParamName, ParamSpec>,
    limits: &Limits,
    shape: DatasetShape,
) -> Result<(), SpecError> {
    if let Some(spec) = parameters.get(&ParamName::Epochs) {
        let field = "parameters.epochs";
        let most = match spec {
            ParamSpec::Distribution { distribution, .. } => match *distribution {
                Distribution::IntUniform { max, .. } => max as f64,
                Distribution::Uniform { max, .. }
                | Distribution::LogUniformValues { max, .. }
                | Distribution::QUniform { max, .. }
                | Distribution::QLogUniformValues { max, .. } => max,
            },
            other => other
                .discrete_values()
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_f64)
                .fold(0.0, f64::max),
        };
        if most > limits.max_epochs as f64 {
            return Err(SpecError::new(
                field,
                format!(
                    "{most} epochs is over this server's cap of {}",
                    limits.max_epochs
                ),
            ));
        }
    }
    let layers = match parameters.get(&ParamName::HiddenLayers) {
        Some(spec) => spec.discrete_values().unwrap_or_default(),
        None => vec![serde_json::to_value(TrialParams::default().hidden_layers).expect("widths")],
    };
    for (i, widths) in layers.iter().enumerate() {
        let widths: Vec<u32> = widths
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_u64)
                    .map(|w| w.min(u32::MAX as u64) as u32)
                    .collect()
            })
            .unwrap_or_default();
        let count = TrialParams::parameter_count(&widths, shape.features, shape.classes);
        if count > limits.max_parameters {
            let field = match parameters.get(&ParamName::HiddenLayers) {
                Some(ParamSpec::Values { .. }) => format!("parameters.hidden_layers.values[{i}]"),
                _ => "parameters.hidden_layers".into(),
            };
            return Err(SpecError::new(
                field,
                format!(
                    "a network of {count} parameters is over this server's cap of {}",
                    limits.max_parameters
                ),
            ));
        }
    }
    Ok(())
}

/// The number of configurations in the grid; every parameter must be discrete.
fn grid_size(parameters: &BTreeMap<ParamName, ParamSpec>) -> Result<u64, SpecError> {
    let mut size = 1u64;
    for (name, spec) in parameters {
        let Some(values) = spec.discrete_values() else {
            return Err(SpecError::new(
                format!("parameters.{}", name.as_str()),
                "grid search needs value or values, not a distribution",
            ));
        };
        size = size.saturating_mul(values.len() as u64);
    }
    Ok(size)
}

#[cfg(test)]
mod tests;
