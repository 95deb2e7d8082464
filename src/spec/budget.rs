//! Budgets beyond `max_trials` and early stopping: `max_minutes`, `target`,
//! `early_terminate`.
use super::params::describe;
use super::{Limits, SpecError, METRICS};
use crate::metric::MetricName;
use crate::schedule::EarlyTerminate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A metric value that, once a trial reaches it, completes the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub metric: MetricName,
    pub value: f64,
}

impl Target {
    /// Whether `value` of the target's metric reaches it: accuracy from below, losses from above.
    pub fn reached(&self, value: f64) -> bool {
        if self.metric.higher_is_better() {
            value >= self.value
        } else {
            value <= self.value
        }
    }
}

/// What happens to running trials when `max_minutes` is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AtDeadline {
    /// They train to their end; only new trials are not started.
    Finish,
    /// They are stopped and end `cancelled`.
    Stop,
}

/// `trial_timeout_minutes`: how long one attempt of a trial may train; the
/// server's cap when not given, and never over it.
pub(super) fn parse_trial_timeout(
    map: &Map<String, Value>,
    limits: &Limits,
) -> Result<f64, SpecError> {
    let cap = f64::from(limits.max_trial_minutes);
    match map.get("trial_timeout_minutes") {
        None => Ok(cap),
        Some(v) => match v.as_f64() {
            Some(m) if m > 0.0 && m <= cap => Ok(m),
            _ => Err(SpecError::new(
                "trial_timeout_minutes",
                format!(
                    "must be a number of minutes above 0 and at most this server's cap of {cap}, got {}",
                    describe(v)
                ),
            )),
        },
    }
}

/// `max_minutes`: minutes after submission past which no trial starts, and what running ones do.
pub(super) fn parse_max_minutes(
    map: &Map<String, Value>,
) -> Result<(Option<f64>, AtDeadline), SpecError> {
    let minutes = match map.get("max_minutes") {
        None => None,
        Some(v) => match v.as_f64() {
            Some(m) if m > 0.0 && m <= 525_600.0 => Some(m),
            _ => {
                return Err(SpecError::new(
                    "max_minutes",
                    format!(
                        "must be a number of minutes above 0 (at most a year), got {}",
                        describe(v)
                    ),
                ))
            }
        },
    };
    let at_deadline = match map.get("at_max_minutes") {
        None => AtDeadline::Finish,
        Some(Value::String(s)) if s == "finish" => AtDeadline::Finish,
        Some(Value::String(s)) if s == "stop" => AtDeadline::Stop,
        Some(v) => {
            return Err(SpecError::new(
                "at_max_minutes",
                format!("must be finish or stop, got {}", describe(v)),
            ))
        }
    };
    if map.contains_key("at_max_minutes") && minutes.is_none() {
        return Err(SpecError::new("at_max_minutes", "needs max_minutes"));
    }
    Ok((minutes, at_deadline))
}

/// `target: {val_accuracy: 0.9}`: one metric and the value that ends the sweep.
pub(super) fn parse_target(raw: Option<&Value>) -> Result<Option<Target>, SpecError> {
    let Some(raw) = raw else { return Ok(None) };
    let entries = match raw.as_object() {
        Some(map) if map.len() == 1 => map,
        _ => {
            return Err(SpecError::new(
                "target",
                "must be a mapping of one metric to its value, e.g. {val_accuracy: 0.9}",
            ))
        }
    };
    let (metric, value) = entries.iter().next().expect("one entry");
    let Ok(name) = metric.parse::<MetricName>() else {
        return Err(SpecError::new(
            format!("target.{metric}"),
            format!("unknown metric; expected one of {}", METRICS.join(", ")),
        ));
    };
    let value = value.as_f64().filter(|v| v.is_finite()).ok_or_else(|| {
        SpecError::new(
            format!("target.{metric}"),
            format!("must be a number, got {}", describe(value)),
        )
    })?;
    if name == MetricName::ValAccuracy && !(0.0..=1.0).contains(&value) {
        return Err(SpecError::new(
            format!("target.{metric}"),
            "an accuracy must be in [0, 1]",
        ));
    }
    Ok(Some(Target {
        metric: name,
        value,
    }))
}

/// `early_terminate: {type: hyperband, min_iter, eta}` or `{type: median, min_iter}`.
pub(super) fn parse_early_terminate(
    raw: Option<&Value>,
) -> Result<Option<EarlyTerminate>, SpecError> {
    let Some(raw) = raw else { return Ok(None) };
    let Some(map) = raw.as_object() else {
        return Err(SpecError::new(
            "early_terminate",
            "must be a mapping with a type",
        ));
    };
    let kind = match map.get("type") {
        Some(Value::String(t)) if t == "hyperband" || t == "median" => t.as_str(),
        other => {
            return Err(SpecError::new(
                "early_terminate.type",
                format!(
                    "must be hyperband or median, got {}",
                    other.map(describe).unwrap_or_else(|| "nothing".into())
                ),
            ))
        }
    };
    let allowed: &[&str] = if kind == "hyperband" {
        &["type", "min_iter", "eta"]
    } else {
        &["type", "min_iter"]
    };
    if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(SpecError::new(
            format!("early_terminate.{k}"),
            format!("unknown key for {kind}; expected {}", allowed.join(", ")),
        ));
    }
    let int = |key: &str, default: u32, min: u32| -> Result<u32, SpecError> {
        match map.get(key) {
            None => Ok(default),
            Some(v) => match v.as_u64() {
                Some(n) if n >= u64::from(min) && n <= 10_000 => Ok(n as u32),
                _ => Err(SpecError::new(
                    format!("early_terminate.{key}"),
                    format!(
                        "must be an integer from {min} to 10000, got {}",
                        describe(v)
                    ),
                )),
            },
        }
    };
    Ok(Some(if kind == "hyperband" {
        EarlyTerminate::Hyperband {
            min_iter: int("min_iter", 1, 1)?,
            eta: int("eta", 3, 2)?,
        }
    } else {
        EarlyTerminate::Median {
            min_iter: int("min_iter", 1, 1)?,
        }
    }))
}
