//! `warm_start: {sweeps: [ids], trials: [{params}]}`: earlier sweeps whose
//! finished trials bayes learns from, and configurations queued first.
use super::params::describe;
use super::{Method, ParamName, SpecError, SweepSpec};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Most sweeps a spec may warm-start from.
const MAX_SWEEPS: usize = 100;

/// What a sweep starts from besides its own search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WarmStart {
    /// Sweeps whose finished trials join bayes's history (checked to exist,
    /// on the same dataset, by whoever can look them up).
    pub sweeps: Vec<i64>,
    /// Configurations trained first, as given (parameters left out are
    /// drawn by the search); trial numbers 0 to k-1.
    pub trials: Vec<BTreeMap<ParamName, Value>>,
}

/// Reads `warm_start`'s shape: the ids and the raw trials, checked later
/// against the built spec (`resolve`).
pub(super) fn parse(map: &Map<String, Value>) -> Result<(Vec<i64>, Vec<Value>), SpecError> {
    let Some(raw) = map.get("warm_start") else {
        return Ok((Vec::new(), Vec::new()));
    };
    let Some(raw) = raw.as_object() else {
        return Err(SpecError::new(
            "warm_start",
            format!(
                "must be a mapping with sweeps and/or trials, got {}",
                describe(raw)
            ),
        ));
    };
    if let Some(key) = raw.keys().find(|k| *k != "sweeps" && *k != "trials") {
        return Err(SpecError::new(
            format!("warm_start.{key}"),
            "unknown key; expected sweeps, trials",
        ));
    }
    let list = |key: &str| -> Result<Vec<Value>, SpecError> {
        match raw.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(v) => Err(SpecError::new(
                format!("warm_start.{key}"),
                format!("must be a list, got {}", describe(v)),
            )),
        }
    };
    let sweeps = list("sweeps")?;
    if sweeps.len() > MAX_SWEEPS {
        return Err(SpecError::new(
            "warm_start.sweeps",
            format!("lists {} sweeps, more than {MAX_SWEEPS}", sweeps.len()),
        ));
    }
    let ids = sweeps
        .iter()
        .enumerate()
        .map(|(i, v)| match v.as_i64() {
            Some(id) if id >= 1 => Ok(id),
            _ => Err(SpecError::new(
                format!("warm_start.sweeps[{i}]"),
                format!("must be a sweep id, got {}", describe(v)),
            )),
        })
        .collect::<Result<Vec<i64>, _>>()?;
    Ok((ids, list("trials")?))
}

/// Checks the warm start against the spec it is part of.
pub(super) fn resolve(
    spec: &SweepSpec,
    sweeps: Vec<i64>,
    trials: &[Value],
) -> Result<WarmStart, SpecError> {
    if !sweeps.is_empty() && spec.method() != Method::Bayes {
        return Err(SpecError::new(
            "warm_start.sweeps",
            "applies to method bayes only: it is the history bayes learns from",
        ));
    }
    if !trials.is_empty() && spec.method() == Method::Grid {
        return Err(SpecError::new(
            "warm_start.trials",
            "applies to methods random and bayes: a grid trains its own points",
        ));
    }
    if trials.len() > spec.max_trials() as usize {
        return Err(SpecError::new(
            "warm_start.trials",
            format!(
                "lists {} trials, more than max_trials ({}), which they count toward",
                trials.len(),
                spec.max_trials()
            ),
        ));
    }
    let trials = trials
        .iter()
        .enumerate()
        .map(|(i, t)| spec.check_given(t, &format!("warm_start.trials[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(WarmStart { sweeps, trials })
}
