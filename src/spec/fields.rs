//! Reading the plain fields of a spec, and the checks that span parameters.
use super::params::describe;
use super::{
    DatasetShape, Distribution, Goal, Limits, Metric, ParamName, ParamSpec, SpecError, TrialParams,
    METRICS,
};
use crate::metric::MetricName;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

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
            name: MetricName::ValAccuracy,
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
        None => return Err(SpecError::new("metric.name", "is required")),
        Some(v) => match v.as_str().map(str::parse::<MetricName>) {
            Some(Ok(name)) => name,
            _ => {
                return Err(SpecError::new(
                    "metric.name",
                    format!("must be one of {}, got {}", METRICS.join(", "), describe(v)),
                ))
            }
        },
    };
    let goal = match map.get("goal") {
        None if name == MetricName::ValAccuracy => Goal::Maximize,
        None => Goal::Minimize,
        Some(v) => v.as_str().and_then(|g| g.parse().ok()).ok_or_else(|| {
            SpecError::new(
                "metric.goal",
                format!("must be maximize or minimize, got {}", describe(v)),
            )
        })?,
    };
    Ok(Metric { name, goal })
}

/// What a spec is accepted with but probably does not mean: a metric
/// maximized that is better low (a loss), or minimized that is better high.
pub(super) fn warnings(metric: &Metric) -> Vec<String> {
    let name = metric.name.as_str();
    match (metric.name.higher_is_better(), metric.goal) {
        (false, Goal::Maximize) => vec![format!(
            "metric {name} is a loss (lower is better) but the goal is maximize: \"best\" will be the trial with the worst {name}; use goal: minimize"
        )],
        (true, Goal::Minimize) => vec![format!(
            "metric {name} is better high but the goal is minimize: \"best\" will be the trial with the worst {name}; use goal: maximize"
        )],
        _ => Vec::new(),
    }
}

/// Longest name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// A sweep's name: 1 to 200 characters; a new one without control
/// characters, which no XML document (plot.svg) may hold.
pub(super) fn check_name(name: &str, new: bool) -> Result<(), SpecError> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(SpecError::new(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters, has {chars}"),
        ));
    }
    let invalid = |c: char| c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}';
    if let Some((i, c)) = name.chars().enumerate().find(|&(_, c)| new && invalid(c)) {
        return Err(SpecError::new(
            "name",
            format!(
                "must not hold control characters, has U+{:04X} at character {i}",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// Refuses a `values`, `probabilities` or `when` list longer than the cap,
/// before anything reads its entries.
pub(super) fn check_lists(field: &str, raw: &Value, limits: &Limits) -> Result<(), SpecError> {
    let max = limits.max_values as usize;
    let too_long = |sub: String, len: usize| {
        SpecError::new(
            format!("{field}.{sub}"),
            format!("has {len} entries, over this server's cap of {max} (limits.max_values)"),
        )
    };
    let Some(map) = raw.as_object() else {
        return Ok(());
    };
    for key in ["values", "probabilities"] {
        match map.get(key) {
            Some(Value::Array(list)) if list.len() > max => {
                return Err(too_long(key.into(), list.len()))
            }
            _ => {}
        }
    }
    if let Some(Value::Object(when)) = map.get("when") {
        for (parent, list) in when {
            match list {
                Value::Array(list) if list.len() > max => {
                    return Err(too_long(format!("when.{parent}"), list.len()))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// What a value sets a trial's parameter to, for telling repeats apart:
/// `0.1` and `0.10`, or `1` and `1.0` of a float, give the same trial.
#[derive(PartialEq, Eq, Hash)]
enum Setting {
    Number(u64),
    Text(String),
    Widths(Vec<u64>),
}

fn setting(value: &Value) -> Setting {
    match value {
        // +0.0 for -0.0: the same weight decay.
        Value::Number(n) => Setting::Number((n.as_f64().unwrap_or(f64::NAN) + 0.0).to_bits()),
        Value::String(s) => Setting::Text(s.clone()),
        Value::Array(widths) => Setting::Widths(widths.iter().filter_map(Value::as_u64).collect()),
        other => Setting::Text(other.to_string()),
    }
}

/// A new spec lists each value once: a grid would train a repeat twice, and
/// `probabilities` weight values.
pub(super) fn check_distinct(
    name: ParamName,
    field: &str,
    spec: &ParamSpec,
) -> Result<(), SpecError> {
    let ParamSpec::Values { values, .. } = spec else {
        return Ok(());
    };
    let mut seen = HashMap::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        if let Some(first) = seen.insert(setting(value), i) {
            return Err(SpecError::new(
                format!("{field}.values[{i}]"),
                format!(
                    "repeats values[{first}] of {}; list each value once (probabilities weight them)",
                    name.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// The numbers a parameter's search space is bounded by, each with the
/// field to name when it is too large (`values[i]` for a list entry, the
/// parameter itself otherwise) and what it is.
fn bounds(field: &str, spec: &ParamSpec) -> Vec<(f64, String, &'static str)> {
    let at = |x: f64, what| (x, field.to_string(), what);
    match spec {
        ParamSpec::Distribution { distribution, .. } => match *distribution {
            Distribution::IntUniform { max, .. } => vec![at(max as f64, "max")],
            Distribution::Uniform { max, .. } | Distribution::LogUniformValues { max, .. } => {
                vec![at(max, "max")]
            }
            Distribution::QUniform { max, q, .. }
            | Distribution::QLogUniformValues { max, q, .. } => {
                vec![at(max, "max"), at(q, "q")]
            }
        },
        ParamSpec::Value(v) => v.as_f64().map(|x| at(x, "value")).into_iter().collect(),
        ParamSpec::Values { values, .. } => values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((v.as_f64()?, format!("{field}.values[{i}]"), "value")))
            .collect(),
    }
}

/// Rejects epochs, batches and networks bigger than this server trains.
pub(super) fn check_sizes(
    parameters: &BTreeMap<ParamName, ParamSpec>,
    limits: &Limits,
    shape: DatasetShape,
) -> Result<(), SpecError> {
    let caps = [
        (ParamName::Epochs, limits.max_epochs, "max_epochs"),
        (
            ParamName::BatchSize,
            limits.max_batch_size,
            "max_batch_size",
        ),
    ];
    for (name, cap, key) in caps {
        let Some(spec) = parameters.get(&name) else {
            continue;
        };
        let field = format!("parameters.{}", name.as_str());
        for (x, field, what) in bounds(&field, spec) {
            if x > f64::from(cap) {
                return Err(SpecError::new(
                    field,
                    format!(
                        "{what} {x} is over this server's cap of {cap} {} (limits.{key})",
                        name.as_str()
                    ),
                ));
            }
        }
    }
    let layers = match parameters.get(&ParamName::HiddenLayers) {
        Some(spec) => spec.discrete_values().unwrap_or_default(),
        None => vec![serde_json::to_value(TrialParams::default().hidden_layers).expect("widths")],
    };
    for (i, widths) in layers.iter().enumerate() {
        let field = match parameters.get(&ParamName::HiddenLayers) {
            Some(ParamSpec::Values { .. }) => format!("parameters.hidden_layers.values[{i}]"),
            _ => "parameters.hidden_layers".into(),
        };
        let widths: &[Value] = widths.as_array().map(Vec::as_slice).unwrap_or_default();
        if widths.len() > limits.max_hidden_layers as usize {
            return Err(SpecError::new(
                field,
                format!(
                    "{} hidden layers is over this server's cap of {} (limits.max_hidden_layers)",
                    widths.len(),
                    limits.max_hidden_layers
                ),
            ));
        }
        let widths: Vec<u32> = widths
            .iter()
            .filter_map(Value::as_u64)
            .map(|w| u32::try_from(w).unwrap_or(u32::MAX))
            .collect();
        if let Some(w) = widths.iter().find(|&&w| w > limits.max_layer_width) {
            return Err(SpecError::new(
                field,
                format!(
                    "a layer of {w} units is over this server's cap of {} (limits.max_layer_width)",
                    limits.max_layer_width
                ),
            ));
        }
        let count = TrialParams::parameter_count(&widths, shape.features, shape.classes);
        if count > limits.max_parameters {
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
