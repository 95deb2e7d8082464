//! Reading the plain fields of a spec, and the checks that span parameters.
use super::params::describe;
use super::{
    DatasetShape, Distribution, Goal, Limits, Metric, ParamName, ParamSpec, SpecError, TrialParams,
    METRICS,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub(super) fn optional_string(
    map: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, SpecError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(SpecError::new(
            key,
            format!("must be a string, got {}", describe(v)),
        )),
    }
}

pub(super) fn optional_int(
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

pub(super) fn parse_metric(raw: Option<&Value>) -> Result<Metric, SpecError> {
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
pub(super) fn check_sizes(
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
pub(super) fn grid_size(parameters: &BTreeMap<ParamName, ParamSpec>) -> Result<u64, SpecError> {
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
