//! One parameter's search space: a fixed value, a list of values, or a distribution.
use super::params::{describe, ParamName, ValueKind};
use super::SpecError;
use serde_json::{Map, Value};

/// A distribution over numbers, with bounds already checked against the parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    Uniform { min: f64, max: f64 },
    IntUniform { min: i64, max: i64 },
    LogUniformValues { min: f64, max: f64 },
    QUniform { min: f64, max: f64, q: f64 },
    QLogUniformValues { min: f64, max: f64, q: f64 },
}

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
const DISTRIBUTIONS: &[&str] = &[
    "uniform",
    "int_uniform",
    "log_uniform_values",
    "q_uniform",
    "q_log_uniform_values",
    "categorical",
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
        parse_distribution(name, field, distribution, min, max, map.get("q"))
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

fn parse_distribution(
    name: ParamName,
    field: &str,
    distribution: Option<&str>,
    min: &Value,
    max: &Value,
    q: Option<&Value>,
) -> Result<ParamSpec, SpecError> {
    let err = |sub: &str, msg: String| SpecError::new(format!("{field}{sub}"), msg);
    let kind = name.kind();
    if matches!(kind, ValueKind::List | ValueKind::Choice) {
        return Err(err(
            "",
            format!(
                "{} takes value or values, not a distribution",
                name.as_str()
            ),
        ));
    }
    let both_ints = min.is_i64() && max.is_i64();
    // W&B infers the distribution from the bounds when none is named.
    let distribution = distribution.unwrap_or(if both_ints { "int_uniform" } else { "uniform" });
    let number = |sub: &str, v: &Value| -> Result<f64, SpecError> {
        v.as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| err(sub, format!("must be a number, got {}", describe(v))))
    };
    let (lo, hi) = (number(".min", min)?, number(".max", max)?);
    if lo > hi {
        return Err(err(
            ".min",
            format!("min ({lo}) is greater than max ({hi})"),
        ));
    }
    let integer = kind == ValueKind::Int;
    let log = matches!(distribution, "log_uniform_values" | "q_log_uniform_values");
    if log && lo <= 0.0 {
        return Err(err(
            ".min",
            format!("must be greater than 0 on a log scale, got {lo}"),
        ));
    }
    let q = match (distribution, q) {
        ("q_uniform" | "q_log_uniform_values", Some(q)) => {
            let q = number(".q", q)?;
            if q <= 0.0 {
                return Err(err(".q", "must be greater than 0".into()));
            }
            if integer && q.fract() != 0.0 {
                return Err(err(
                    ".q",
                    format!("must be an integer for {}", name.as_str()),
                ));
            }
            q
        }
        ("q_uniform" | "q_log_uniform_values", None) => 1.0,
        (_, Some(_)) => return Err(err(".q", format!("is not used by {distribution}"))),
        (_, None) => 0.0,
    };
    name.check_number(lo).map_err(|m| err(".min", m))?;
    name.check_number(hi).map_err(|m| err(".max", m))?;
    let distribution = match distribution {
        "int_uniform" => {
            let (Some(min), Some(max)) = (min.as_i64(), max.as_i64()) else {
                return Err(err("", "int_uniform needs integer min and max".into()));
            };
            Distribution::IntUniform { min, max }
        }
        "uniform" | "log_uniform_values" if integer => {
            return Err(err(
                ".distribution",
                format!(
                    "{} takes integers: use int_uniform, q_uniform, q_log_uniform_values or values",
                    name.as_str()
                ),
            ))
        }
        // Integer bounds and q keep every quantized draw an integer within them.
        "q_uniform" | "q_log_uniform_values" if integer && lo.fract() != 0.0 => {
            return Err(err(
                ".min",
                format!("must be an integer for {}, got {lo}", name.as_str()),
            ))
        }
        "q_uniform" | "q_log_uniform_values" if integer && hi.fract() != 0.0 => {
            return Err(err(
                ".max",
                format!("must be an integer for {}, got {hi}", name.as_str()),
            ))
        }
        "uniform" => Distribution::Uniform { min: lo, max: hi },
        "log_uniform_values" => Distribution::LogUniformValues { min: lo, max: hi },
        "q_uniform" => Distribution::QUniform {
            min: lo,
            max: hi,
            q,
        },
        _ => Distribution::QLogUniformValues {
            min: lo,
            max: hi,
            q,
        },
    };
    Ok(ParamSpec::Distribution {
        distribution,
        integer,
    })
}
