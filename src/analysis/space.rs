//! A sweep's swept parameters as axes: a number between bounds (on a log
//! scale for log distributions) or one of a list of values; and where a
//! trial's parameters lie on them, `None` where a parameter did not apply.
use crate::spec::{Distribution, ParamName, ParamSpec, SweepSpec};
use serde_json::Value;
use std::collections::BTreeMap;

/// What values a swept parameter takes.
#[derive(Debug, Clone, PartialEq)]
pub enum AxisKind {
    /// A number in `[min, max]`, searched on a log scale when `log`.
    Numeric { min: f64, max: f64, log: bool },
    /// One of these values, in the spec's order.
    Categorical { levels: Vec<Value> },
}

/// One swept parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub name: ParamName,
    pub kind: AxisKind,
}

/// The parameters a sweep searches over (a distribution, or two values or
/// more), in the spec's parameter order; fixed ones are not axes.
pub fn axes(spec: &SweepSpec) -> Vec<Axis> {
    spec.parameters()
        .iter()
        .filter_map(|(name, p)| {
            let kind = match p {
                ParamSpec::Value(_) => return None,
                ParamSpec::Values { values, .. } if values.len() < 2 => return None,
                ParamSpec::Values { values, .. } => AxisKind::Categorical {
                    levels: values.clone(),
                },
                ParamSpec::Distribution { distribution, .. } => {
                    let (min, max, log) = match *distribution {
                        Distribution::Uniform { min, max }
                        | Distribution::QUniform { min, max, .. } => (min, max, false),
                        Distribution::IntUniform { min, max } => (min as f64, max as f64, false),
                        Distribution::LogUniformValues { min, max }
                        | Distribution::QLogUniformValues { min, max, .. } => (min, max, true),
                    };
                    AxisKind::Numeric { min, max, log }
                }
            };
            Some(Axis { name: *name, kind })
        })
        .collect()
}

impl Axis {
    /// The bounds of the axis on its own scale (log10 for log axes; the
    /// level indices for a list).
    pub fn bounds(&self) -> (f64, f64) {
        match &self.kind {
            AxisKind::Numeric { min, max, log } if *log => (min.log10(), max.log10()),
            AxisKind::Numeric { min, max, .. } => (*min, *max),
            AxisKind::Categorical { levels } => (0.0, levels.len().saturating_sub(1) as f64),
        }
    }

    /// Where a value lies on the axis's own scale: the number (its log10 on
    /// a log axis) or the index of its level; None for null, a value of
    /// another type, or one not in the list.
    pub fn position(&self, value: &Value) -> Option<f64> {
        match &self.kind {
            AxisKind::Numeric { log, .. } => {
                let x = value.as_f64().filter(|x| x.is_finite())?;
                match log {
                    true if x > 0.0 => Some(x.log10()),
                    true => None,
                    false => Some(x),
                }
            }
            AxisKind::Categorical { levels } => {
                levels.iter().position(|l| same(l, value)).map(|i| i as f64)
            }
        }
    }

    /// The label of a level (its JSON without quotes for text), for ticks and columns.
    pub fn level_label(&self, index: usize) -> String {
        match &self.kind {
            AxisKind::Categorical { levels } => levels.get(index).map(label).unwrap_or_default(),
            AxisKind::Numeric { .. } => String::new(),
        }
    }
}

/// A value as text: strings bare, anything else as JSON (`[128, 64]`).
pub fn label(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(label).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// Equal values, numbers by value (`0` is `0.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

/// The parameters that applied to a trial whose stored `params` are these,
/// with their values: a parameter is absent when it is null (not
/// applicable) or when its `when` does not hold for the values chosen.
pub fn applied(spec: &SweepSpec, params: &Value) -> BTreeMap<ParamName, Value> {
    let mut chosen = BTreeMap::new();
    for name in spec.order() {
        match params.get(name.as_str()) {
            Some(v) if !v.is_null() && spec.applies(*name, &chosen) => {
                chosen.insert(*name, v.clone());
            }
            _ => {}
        }
    }
    chosen
}

/// A trial's position on each axis (None where the parameter did not apply).
pub fn positions(spec: &SweepSpec, axes: &[Axis], params: &Value) -> Vec<Option<f64>> {
    let chosen = applied(spec, params);
    axes.iter()
        .map(|a| chosen.get(&a.name).and_then(|v| a.position(v)))
        .collect()
}
