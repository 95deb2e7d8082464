//! Checking a spec document against every rule, and building the
//! `SweepSpec` it describes.
use super::fields::{
    check_distinct, check_lists, check_name, check_sizes, optional_int, optional_string,
    parse_metric,
};
use super::params::describe;
use super::{
    budget, condition, grid, warm, DatasetShape, Goal, Limits, Method, Metric, ParamName,
    ParamSpec, SpecError, SweepSpec, DEFAULT_DATASET, KEYS,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// Whether a spec is new, and checked against the server's caps and every
/// rule, or stored, and checked only for what reading it back needs.
#[derive(Clone, Copy)]
pub(super) enum Admission<'a> {
    New(&'a Limits),
    Stored,
}

/// Validates `document` as new or as stored (see `Admission`).
pub(super) fn validate(
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
    let dataset_name = optional_string(map, "dataset")?.unwrap_or_else(|| DEFAULT_DATASET.into());
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
    let fuse = optional_int(map, "fuse", 1, u64::from(super::MAX_FUSE))?.map(|f| f as u32);
    let seed =
        optional_int(map, "seed", 0, i64::MAX as u64)?.unwrap_or(fallback_seed % (i64::MAX as u64));

    let early_terminate = budget::parse_early_terminate(map.get("early_terminate"))?;
    let (max_minutes, at_max_minutes) = budget::parse_max_minutes(map)?;
    let target = budget::parse_target(map.get("target"))?;
    let trial_timeout_minutes = budget::parse_trial_timeout(map, limits)?;
    let n_startup_trials = optional_int(map, "n_startup_trials", 1, 10_000)?.unwrap_or(8) as u32;
    let (warm_sweeps, warm_trials) = warm::parse(map)?;
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
    let warnings = warnings(&metric);
    let mut spec = SweepSpec {
        name,
        dataset: dataset_name,
        method,
        metric,
        max_trials,
        max_parallel: max_parallel.map(|p| p as u32),
        fuse,
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
        warm_start: warm::WarmStart::default(),
        warnings,
    };
    spec.warm_start = warm::resolve(&spec, warm_sweeps, &warm_trials)?;
    Ok(spec)
}

/// What a spec is accepted with but probably does not mean: a metric
/// maximized that is better low (a loss), or minimized that is better high.
fn warnings(metric: &Metric) -> Vec<String> {
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
