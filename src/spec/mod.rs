//! Sweep specs: parsing and validating what a user submits (JSON or YAML, the
//! keys of a W&B sweep config) into a `SweepSpec` that cannot be invalid.
//! Pure: no I/O, no async, no training.
mod budget;
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

use crate::schedule::EarlyTerminate;
use fields::{
    check_distinct, check_lists, check_name, check_sizes, optional_int, optional_string,
    parse_metric,
};
use params::describe;
use serde::{Deserialize, Serialize};
use serde_json::Value;
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

/// A validated sweep: every field is in range and every parameter well-formed.
/// The fields are private: only `parse`, `from_document` and `from_stored`
/// build one, so no caller can hold an invalid spec; read it through its
/// accessors.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    name: String,
    dataset: String,
    method: Method,
    metric: Metric,
    /// Trials the sweep runs: as given, or the grid's size (capped by `max_trials`).
    max_trials: u32,
    max_parallel: Option<u32>,
    seed: u64,
    parameters: BTreeMap<ParamName, ParamSpec>,
    /// Parameters that apply only when another has given values.
    conditions: BTreeMap<ParamName, Condition>,
    /// Every parameter, parents before those whose `when` names them.
    order: Vec<ParamName>,
    /// Early stopping of hopeless trials, if any.
    early_terminate: Option<EarlyTerminate>,
    /// Minutes after submission past which no trial starts.
    max_minutes: Option<f64>,
    /// What running trials do when `max_minutes` is up.
    at_max_minutes: AtDeadline,
    /// A metric value that completes the sweep as soon as a trial reaches it.
    target: Option<Target>,
    /// Bayes draws at random until this many trials have finished.
    n_startup_trials: u32,
    /// Minutes one attempt of a trial may train before it fails `timeout`.
    trial_timeout_minutes: f64,
    /// The spec as a JSON document with defaults filled in, as stored.
    document: Value,
}

impl SweepSpec {
    /// The sweep's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The dataset its trials train on.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// How configurations are chosen.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The metric the sweep optimises, and its goal.
    pub fn metric(&self) -> &Metric {
        &self.metric
    }

    /// Trials the sweep runs: as given, or the grid's size (capped by `max_trials`).
    pub fn max_trials(&self) -> u32 {
        self.max_trials
    }

    /// Trials of this sweep that may run at once; None for no cap.
    pub fn max_parallel(&self) -> Option<u32> {
        self.max_parallel
    }

    /// The seed of the sweep's randomness.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Each parameter's search space.
    pub fn parameters(&self) -> &BTreeMap<ParamName, ParamSpec> {
        &self.parameters
    }

    /// Parameters that apply only when another has given values.
    pub fn conditions(&self) -> &BTreeMap<ParamName, Condition> {
        &self.conditions
    }

    /// Every parameter, parents before those whose `when` names them.
    pub fn order(&self) -> &[ParamName] {
        &self.order
    }

    /// Early stopping of hopeless trials, if any.
    pub fn early_terminate(&self) -> Option<&EarlyTerminate> {
        self.early_terminate.as_ref()
    }

    /// Minutes after submission past which no trial starts.
    pub fn max_minutes(&self) -> Option<f64> {
        self.max_minutes
    }

    /// What running trials do when `max_minutes` is up.
    pub fn at_max_minutes(&self) -> AtDeadline {
        self.at_max_minutes
    }

    /// A metric value that completes the sweep as soon as a trial reaches it.
    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref()
    }

    /// Bayes draws at random until this many trials have finished.
    pub fn n_startup_trials(&self) -> u32 {
        self.n_startup_trials
    }

    /// Minutes one attempt of a trial may train before it fails `timeout`.
    pub fn trial_timeout_minutes(&self) -> f64 {
        self.trial_timeout_minutes
    }

    /// The spec as a JSON document with defaults filled in, as stored.
    pub fn document(&self) -> &Value {
        &self.document
    }
}

/// Whether a spec is new, and checked against the server's caps and every
/// rule, or stored, and checked only for what reading it back needs.
#[derive(Clone, Copy)]
enum Admission<'a> {
    New(&'a Limits),
    Stored,
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
    "seed",
    "parameters",
    "early_terminate",
    "max_minutes",
    "at_max_minutes",
    "target",
    "n_startup_trials",
    "trial_timeout_minutes",
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
        // Bounded before any parser runs: see `scan` and `document`.
        let document = document::read(body, format, limits)?;
        Self::from_document(document, limits, dataset, fallback_seed)
    }

    /// The spec of a stored sweep, validated when it was submitted; the
    /// server's caps and dataset were checked then and are not again, nor
    /// are rules newer than the sweep (distinct values, the name's characters).
    pub fn from_stored(document: &Value) -> Result<SweepSpec, SpecError> {
        let any = |_: &str| {
            Ok(DatasetShape {
                features: 1,
                classes: 1,
            })
        };
        Self::validate(document.clone(), Admission::Stored, &any, 0)
    }

    /// The grid's configurations in order (see `grid`): each the parameters
    /// that apply, with their values. Needs `value` or `values` for every
    /// parameter, and distinct values, as a grid spec has.
    pub fn grid(&self) -> Result<Combinations, SpecError> {
        Combinations::new(&self.parameters, &self.conditions, &self.order)
    }

    /// Whether `name` applies given the values chosen so far (see `when`).
    pub fn applies(&self, name: ParamName, chosen: &BTreeMap<ParamName, Value>) -> bool {
        applies(self.conditions.get(&name), chosen)
    }

    /// The parameters that applied to a trial, with their values.
    pub fn active_params(&self, params: &TrialParams) -> BTreeMap<ParamName, Value> {
        let mut chosen = BTreeMap::new();
        for name in &self.order {
            if self.applies(*name, &chosen) {
                chosen.insert(*name, params.get(*name));
            }
        }
        chosen
    }

    /// Validates a new spec already read into a JSON value.
    pub fn from_document(
        document: Value,
        limits: &Limits,
        dataset: &dyn Fn(&str) -> Result<DatasetShape, String>,
        fallback_seed: u64,
    ) -> Result<SweepSpec, SpecError> {
        Self::validate(document, Admission::New(limits), dataset, fallback_seed)
    }

    /// Validates `document` as new or as stored (see `Admission`).
    fn validate(
        mut document: Value,
        admission: Admission,
        dataset: &dyn Fn(&str) -> Result<DatasetShape, String>,
        fallback_seed: u64,
    ) -> Result<SweepSpec, SpecError> {
        let unlimited = Limits::unlimited();
        let (limits, new) = match admission {
            Admission::New(limits) => (limits, true),
            Admission::Stored => (&unlimited, false),
        };
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
            return Err(SpecError::new(
                key.as_str(),
                format!("unknown key; expected one of {}", KEYS.join(", ")),
            ));
        }
        let name = optional_string(map, "name")?.unwrap_or_else(|| "sweep".into());
        check_name(&name, new)?;
        optional_string(map, "description")?;
        let dataset_name =
            optional_string(map, "dataset")?.unwrap_or_else(|| DEFAULT_DATASET.into());
        let shape = dataset(&dataset_name).map_err(|why| SpecError::new("dataset", why))?;
        let method = match map.get("method") {
            Some(m) => m.as_str().and_then(|m| m.parse().ok()).ok_or_else(|| {
                SpecError::new(
                    "method",
                    format!("must be grid, random or bayes, got {}", describe(m)),
                )
            })?,
            None => {
                return Err(SpecError::new(
                    "method",
                    "is required: grid, random or bayes",
                ))
            }
        };
        let metric = parse_metric(map.get("metric"))?;
        let max_trials = optional_int(map, "max_trials", 1, limits.max_trials as u64)?;
        let max_parallel = optional_int(map, "max_parallel", 1, 100_000)?;
        let seed = optional_int(map, "seed", 0, i64::MAX as u64)?
            .unwrap_or(fallback_seed % (i64::MAX as u64));

        let early_terminate = budget::parse_early_terminate(map.get("early_terminate"))?;
        let (max_minutes, at_max_minutes) = budget::parse_max_minutes(map)?;
        let target = budget::parse_target(map.get("target"))?;
        let trial_timeout_minutes = budget::parse_trial_timeout(map, limits)?;
        let n_startup_trials =
            optional_int(map, "n_startup_trials", 1, 10_000)?.unwrap_or(8) as u32;
        if map.contains_key("n_startup_trials") && method != Method::Bayes {
            return Err(SpecError::new(
                "n_startup_trials",
                "applies to method bayes only",
            ));
        }

        let mut parameters = BTreeMap::new();
        let mut conditions = BTreeMap::new();
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
                    check_lists(&field, value, limits)?;
                    let mut value = value.clone();
                    if let Some(when) = value.as_object_mut().and_then(|m| m.remove("when")) {
                        conditions.insert(name, condition::parse(name, &field, &when)?);
                    }
                    let spec = ParamSpec::parse(name, &field, &value)?;
                    if new {
                        check_distinct(name, &field, &spec)?;
                    }
                    parameters.insert(name, spec);
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
        let order = condition::order(&parameters, &conditions)?;

        let max_trials = match method {
            Method::Random | Method::Bayes => max_trials.ok_or_else(|| {
                SpecError::new("max_trials", "is required for methods random and bayes")
            })?,
            Method::Grid => {
                let size = grid::size(&parameters, &conditions)?;
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
        map.insert("trial_timeout_minutes".into(), trial_timeout_minutes.into());
        Ok(SweepSpec {
            name,
            dataset: dataset_name,
            method,
            metric,
            max_trials,
            max_parallel: max_parallel.map(|p| p as u32),
            seed,
            parameters,
            conditions,
            order,
            early_terminate,
            max_minutes,
            at_max_minutes,
            target,
            n_startup_trials,
            trial_timeout_minutes,
            document,
        })
    }
}

#[cfg(test)]
mod scan_tests;
#[cfg(test)]
mod tests;
