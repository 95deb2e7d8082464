//! One parameter's search space: a fixed value, a list of values, or a distribution.
use super::distribution::{self, Distribution, DISTRIBUTIONS};
use super::params::{describe, ParamName};
use super::SpecError;
use serde_json::{Map, Value};

/// How one parameter is searched.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamSpec {
    /// Always this value.
    Value(Value),
    /// One of these values, uniformly or with the given probabilities.
    Values {
        values: Vec<Value>,
        probabilities: Option<Vec<f64>>,
    },
    /// A number drawn from a distribution.
    Distribution {
        distribution: Distribution,
        /// Integer parameters get integer values.
        integer: bool,
    },
}

const KEYS: &[&str] = &[
    "value",
    "values",
    "probabilities",
    "distribution",
    "min",
    "max",
    "q",
];
impl ParamSpec {
    /// Parses the mapping of one parameter; `field` is its path for errors.
    pub fn parse(name: ParamName, field: &str, raw: &Value) -> Result<ParamSpec, SpecError> {
        let err = |sub: &str, msg: String| SpecError::new(format!("{field}{sub}"), msg);
        let Some(map) = raw.as_object() else {
            return Err(err(
                "",
                format!(
                    "must be a mapping with value, values or distribution, got {}",
                    describe(raw)
                ),
            ));
        };
        if let Some(key) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(err(
                &format!(".{key}"),
                format!("unknown key; expected one of {}", KEYS.join(", ")),
            ));
        }
        let distribution = match map.get("distribution") {
            None => None,
            Some(Value::String(d)) if DISTRIBUTIONS.contains(&d.as_str()) => Some(d.as_str()),
            Some(d) => {
                return Err(err(
                    ".distribution",
                    format!(
                        "must be one of {}, got {}",
                        DISTRIBUTIONS.join(", "),
                        describe(d)
                    ),
                ))
            }
        };
        let only = |allowed: &[&str]| -> Result<(), SpecError> {
            match map.keys().find(|k| !allowed.contains(&k.as_str())) {
                Some(k) => Err(err(
                    &format!(".{k}"),
                    format!("cannot be combined with {}", allowed[0]),
                )),
                None => Ok(()),
            }
        };

        if let Some(value) = map.get("value") {
            only(&["value"])?;
            name.check(value).map_err(|m| err(".value", m))?;
            return Ok(ParamSpec::Value(value.clone()));
        }
        if map.contains_key("values") || distribution == Some("categorical") {
            only(&["values", "distribution", "probabilities"])?;
            if let Some(d) = distribution.filter(|d| *d != "categorical") {
                return Err(err(
                    ".distribution",
                    format!("{d} takes min and max, not values; use categorical"),
                ));
            }
            return parse_values(name, field, map);
        }
        if map.contains_key("probabilities") {
            return Err(err(".probabilities", "needs values".into()));
        }
        let (Some(min), Some(max)) = (map.get("min"), map.get("max")) else {
            return Err(err(
                "",
                "needs value, values, or min and max (with a distribution)".into(),
            ));
        };
        distribution::parse(name, field, distribution, min, max, map.get("q"))
    }

    /// Every value the spec can give, for the grid; `None` for distributions.
    pub fn discrete_values(&self) -> Option<Vec<Value>> {
        match self {
            ParamSpec::Value(v) => Some(vec![v.clone()]),
            ParamSpec::Values { values, .. } => Some(values.clone()),
            ParamSpec::Distribution { .. } => None,
        }
    }
}

fn parse_values(
    name: ParamName,
    field: &str,
    map: &Map<String, Value>,
) -> Result<ParamSpec, SpecError> {
    let err = |sub: &str, msg: String| SpecError::new(format!("{field}{sub}"), msg);
    let values = match map.get("values") {
        Some(Value::Array(v)) if !v.is_empty() => v,
        Some(Value::Array(_)) => return Err(err(".values", "must not be empty".into())),
        Some(v) => {
            return Err(err(
                ".values",
                format!("must be a list, got {}", describe(v)),
            ))
        }
        None => return Err(err(".values", "categorical needs values".into())),
    };
    for (i, v) in values.iter().enumerate() {
        name.check(v)
            .map_err(|m| err(&format!(".values[{i}]"), m))?;
    }
    let probabilities = match map.get("probabilities") {
        None => None,
        Some(Value::Array(p)) => {
            if p.len() != values.len() {
                return Err(err(
                    ".probabilities",
                    format!("has {} entries for {} values", p.len(), values.len()),
                ));
            }
            let mut probs = Vec::with_capacity(p.len());
            for (i, x) in p.iter().enumerate() {
                match x.as_f64() {
                    Some(x) if (0.0..=1.0).contains(&x) => probs.push(x),
                    _ => {
                        return Err(err(
                            &format!(".probabilities[{i}]"),
                            "must be a number in [0, 1]".into(),
                        ))
                    }
                }
            }
            let sum: f64 = probs.iter().sum();
            if (sum - 1.0).abs() > 1e-6 {
                return Err(err(
                    ".probabilities",
                    format!("must sum to 1, sum to {sum}"),
                ));
            }
            Some(probs)
        }
        Some(v) => {
            return Err(err(
                ".probabilities",
                format!("must be a list, got {}", describe(v)),
            ))
        }
    };
    Ok(ParamSpec::Values {
        values: values.clone(),
        probabilities,
    })
}
