//! A parameter's distribution over numbers: which ones a spec may name,
//! and checking their bounds against the parameter.
use super::params::{describe, ParamName, ValueKind};
use super::{ParamSpec, SpecError};
use serde_json::Value;

/// A distribution over numbers, with bounds already checked against the parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    Uniform { min: f64, max: f64 },
    IntUniform { min: i64, max: i64 },
    LogUniformValues { min: f64, max: f64 },
    QUniform { min: f64, max: f64, q: f64 },
    QLogUniformValues { min: f64, max: f64, q: f64 },
}

/// The distributions a parameter may name.
pub(super) const DISTRIBUTIONS: &[&str] = &[
    "uniform",
    "int_uniform",
    "log_uniform_values",
    "q_uniform",
    "q_log_uniform_values",
    "categorical",
];

/// Parses a `distribution` with its bounds (and `q`) for parameter `name`.
pub(super) fn parse(
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
        "q_log_uniform_values" => Distribution::QLogUniformValues {
            min: lo,
            max: hi,
            q,
        },
        // `categorical` is parsed as values; any other name was refused
        // before, and would be here rather than become a default.
        other => {
            return Err(err(
                ".distribution",
                format!("{other} takes values, not min and max"),
            ))
        }
    };
    Ok(ParamSpec::Distribution {
        distribution,
        integer,
    })
}
