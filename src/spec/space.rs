//! A sweep's search space as a set of configurations: whether it is finite
//! (every parameter discrete), a configuration's identity in it, the
//! configurations not tried yet in grid order, and the checks on a
//! configuration a user gives (enqueue, `warm_start.trials`).
use super::grid::{self, Combinations};
use super::params::describe;
use super::{Distribution, ParamName, ParamSpec, SpecError, SweepSpec, TrialParams};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// Most points a distribution may have for the space to count as discrete:
/// beyond it a space is, for every practical purpose, never exhausted.
const MAX_POINTS: i64 = 10_000;

impl SweepSpec {
    /// Each parameter's finite set of values (as `values`), or None when a
    /// parameter is continuous (or has more than `MAX_POINTS` values).
    pub fn discrete_space(&self) -> Option<BTreeMap<ParamName, ParamSpec>> {
        self.parameters
            .iter()
            .map(|(name, spec)| Some((*name, points(spec)?)))
            .collect()
    }

    /// How many distinct configurations a discrete space has (saturating).
    pub fn space_size(&self) -> Option<u64> {
        let space = self.discrete_space()?;
        grid::size(&space, &self.conditions).ok()
    }

    /// The identity of a configuration in this space: the parameters that
    /// apply, numbers compared to 12 significant digits (`0.1` and `0.10`,
    /// `1` and `1.0` of a float parameter are one configuration).
    pub fn config_key(&self, params: &TrialParams) -> String {
        self.active_params(params)
            .iter()
            .map(|(name, value)| format!("{}={}", name.as_str(), norm(value)))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// The discrete space's configurations in grid order, less those whose
    /// `config_key` is in `taken`; None for a space that is not discrete.
    pub fn untried<'a>(
        &'a self,
        taken: &'a HashSet<String>,
    ) -> Option<impl Iterator<Item = TrialParams> + 'a> {
        let space = self.discrete_space()?;
        let combinations = Combinations::new(&space, &self.conditions, &self.order).ok()?;
        Some(
            combinations
                .filter_map(|chosen| params_from(&chosen).ok())
                .filter(move |p| !taken.contains(&self.config_key(p))),
        )
    }

    /// Whether `value` is one this sweep's space gives parameter `name`.
    pub fn contains(&self, name: ParamName, value: &Value) -> bool {
        self.parameters
            .get(&name)
            .is_some_and(|spec| name.check(value).is_ok() && in_space(spec, value).is_ok())
    }

    /// Checks a configuration a user gives (a mapping of parameter names to
    /// values; `field` is its path, errors name `field.<parameter>`): every
    /// name is a parameter of this sweep, every value lies in its space, and
    /// a parameter under `when` is given with its parent, which allows it.
    /// Parameters not given are left out, for the search to fill.
    pub fn check_given(
        &self,
        given: &Value,
        field: &str,
    ) -> Result<BTreeMap<ParamName, Value>, SpecError> {
        let Some(map) = given.as_object() else {
            return Err(SpecError::new(
                field,
                format!(
                    "must be a mapping of parameter names to values, got {}",
                    describe(given)
                ),
            ));
        };
        let mut checked = BTreeMap::new();
        for (key, value) in map {
            let at = format!("{field}.{key}");
            let name = ParamName::from_name(key).filter(|n| self.parameters.contains_key(n));
            let Some(name) = name else {
                let known: Vec<_> = self.order.iter().map(|p| p.as_str()).collect();
                return Err(SpecError::new(
                    at,
                    format!(
                        "is not a parameter of this sweep; its parameters are {}",
                        known.join(", ")
                    ),
                ));
            };
            name.check(value).map_err(|m| SpecError::new(&at, m))?;
            in_space(&self.parameters[&name], value).map_err(|m| SpecError::new(&at, m))?;
            checked.insert(name, value.clone());
        }
        for (name, condition) in &self.conditions {
            if !checked.contains_key(name) {
                continue;
            }
            let at = format!("{field}.{}", name.as_str());
            let parent = condition.parent.as_str();
            let allowed: Vec<String> = condition.values.iter().map(describe).collect();
            let parent_value = checked.get(&condition.parent).cloned().or_else(|| {
                match &self.parameters[&condition.parent] {
                    ParamSpec::Value(v) => Some(v.clone()),
                    _ => None,
                }
            });
            match parent_value {
                None => {
                    return Err(SpecError::new(
                        at,
                        format!(
                            "applies only when {parent} is {}: give {parent} too",
                            allowed.join(" or ")
                        ),
                    ))
                }
                Some(v) if !condition.values.iter().any(|c| norm(c) == norm(&v)) => {
                    return Err(SpecError::new(
                        at,
                        format!(
                            "does not apply when {parent} is {}: it applies only when {parent} is {}",
                            describe(&v),
                            allowed.join(" or ")
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(checked)
    }
}

/// A parameter's values as a finite list, or None.
fn points(spec: &ParamSpec) -> Option<ParamSpec> {
    let (values, integer) = match spec {
        ParamSpec::Value(_) => return Some(spec.clone()),
        ParamSpec::Values { values, .. } => {
            return Some(ParamSpec::Values {
                values: values.clone(),
                probabilities: None,
            })
        }
        ParamSpec::Distribution {
            distribution,
            integer,
        } => (multiples(distribution)?, *integer),
    };
    let values = values
        .into_iter()
        .map(|x| match integer {
            true => Value::from(x.round() as i64),
            false => Value::from(x),
        })
        .collect();
    Some(ParamSpec::Values {
        values,
        probabilities: None,
    })
}

/// The numbers a quantized or integer distribution can draw.
fn multiples(distribution: &Distribution) -> Option<Vec<f64>> {
    let (first, last, step) = match *distribution {
        Distribution::IntUniform { min, max } => (min, max, 1.0),
        Distribution::QUniform { min, max, q }
        | Distribution::QLogUniformValues { min, max, q } => (
            (min / q - 1e-9).ceil() as i64,
            (max / q + 1e-9).floor() as i64,
            q,
        ),
        Distribution::Uniform { .. } | Distribution::LogUniformValues { .. } => return None,
    };
    if last < first || last - first >= MAX_POINTS {
        return None;
    }
    Some((first..=last).map(|k| k as f64 * step).collect())
}

/// Whether `value` (of the parameter's type) is one the space can give.
fn in_space(spec: &ParamSpec, value: &Value) -> Result<(), String> {
    let one_of = |values: &[Value]| {
        if values.iter().any(|v| norm(v) == norm(value)) {
            return Ok(());
        }
        let listed: Vec<String> = values.iter().take(20).map(describe).collect();
        Err(format!(
            "{} is not in this sweep's space: one of {}",
            describe(value),
            listed.join(", ")
        ))
    };
    match spec {
        ParamSpec::Value(v) => one_of(std::slice::from_ref(v)),
        ParamSpec::Values { values, .. } => one_of(values),
        ParamSpec::Distribution { distribution, .. } => {
            let x = value.as_f64().unwrap_or(f64::NAN);
            let (min, max, q) = match *distribution {
                Distribution::IntUniform { min, max } => (min as f64, max as f64, Some(1.0)),
                Distribution::Uniform { min, max }
                | Distribution::LogUniformValues { min, max } => (min, max, None),
                Distribution::QUniform { min, max, q }
                | Distribution::QLogUniformValues { min, max, q } => (min, max, Some(q)),
            };
            if !(min..=max).contains(&x) {
                return Err(format!(
                    "{x} is outside this sweep's space: from {min} to {max}"
                ));
            }
            match q {
                Some(q) if ((x / q) - (x / q).round()).abs() > 1e-9 => Err(format!(
                    "{x} is not a multiple of {q}, as this sweep's space is"
                )),
                _ => Ok(()),
            }
        }
    }
}

/// A value's identity: numbers to 12 significant digits, lists entry by entry.
fn norm(value: &Value) -> String {
    match value {
        Value::Number(n) => format!("{:.11e}", n.as_f64().unwrap_or(f64::NAN) + 0.0),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(norm).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// The configuration with these parameters set, the others at their defaults.
pub(crate) fn params_from(chosen: &BTreeMap<ParamName, Value>) -> Result<TrialParams, String> {
    let mut params = TrialParams::default();
    for (name, value) in chosen {
        params.set(*name, value)?;
    }
    Ok(params)
}
