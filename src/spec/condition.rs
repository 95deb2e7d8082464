//! Conditional parameters: `when: {optimizer: [sgd, rmsprop]}` makes a
//! parameter apply only when another has one of the given values.
use super::params::describe;
use super::{ParamName, ParamSpec, SpecError};
use serde_json::Value;
use std::collections::BTreeMap;

/// The parameter applies only when `parent` takes one of `values`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub parent: ParamName,
    pub values: Vec<Value>,
}

/// Parses the `when` of parameter `name`, whose path is `field`.
pub(super) fn parse(name: ParamName, field: &str, raw: &Value) -> Result<Condition, SpecError> {
    let field = format!("{field}.when");
    let entry = match raw.as_object() {
        Some(map) if map.len() == 1 => map.iter().next().expect("one entry"),
        _ => {
            return Err(SpecError::new(
                field,
                "must name one parameter and its values, e.g. {optimizer: [sgd, rmsprop]}",
            ))
        }
    };
    let (parent_name, values) = entry;
    let Some(parent) = ParamName::from_name(parent_name) else {
        return Err(SpecError::new(
            format!("{field}.{parent_name}"),
            "unknown parameter",
        ));
    };
    if parent == name {
        return Err(SpecError::new(
            format!("{field}.{parent_name}"),
            "a parameter cannot depend on itself",
        ));
    }
    let values = match values {
        Value::Array(v) if !v.is_empty() => v.clone(),
        Value::Array(_) => {
            return Err(SpecError::new(
                format!("{field}.{parent_name}"),
                "must not be empty",
            ))
        }
        single => vec![single.clone()],
    };
    for (i, v) in values.iter().enumerate() {
        parent
            .check(v)
            .map_err(|m| SpecError::new(format!("{field}.{parent_name}[{i}]"), m))?;
    }
    Ok(Condition { parent, values })
}

/// Checks that every condition's parent is a discrete parameter of the spec,
/// and that conditions form no cycle; returns the order to sample in
/// (parents before the parameters that depend on them).
pub(super) fn order(
    parameters: &BTreeMap<ParamName, ParamSpec>,
    conditions: &BTreeMap<ParamName, Condition>,
) -> Result<Vec<ParamName>, SpecError> {
    for (name, condition) in conditions {
        let field = format!(
            "parameters.{}.when.{}",
            name.as_str(),
            condition.parent.as_str()
        );
        match parameters.get(&condition.parent) {
            None => return Err(SpecError::new(field, "is not a parameter of this sweep")),
            Some(ParamSpec::Distribution { .. }) => {
                return Err(SpecError::new(
                    field,
                    "must be a parameter with value or values",
                ))
            }
            Some(spec) => {
                let options = spec.discrete_values().unwrap_or_default();
                if let Some(v) = condition.values.iter().find(|v| !options.contains(v)) {
                    return Err(SpecError::new(
                        field,
                        format!("{} is never one of the parameter's values", describe(v)),
                    ));
                }
            }
        }
    }
    let mut order = Vec::with_capacity(parameters.len());
    while order.len() < parameters.len() {
        let before = order.len();
        for name in parameters.keys() {
            let ready = match conditions.get(name) {
                None => true,
                Some(c) => order.contains(&c.parent),
            };
            if ready && !order.contains(name) {
                order.push(*name);
            }
        }
        if order.len() == before {
            let stuck = parameters
                .keys()
                .find(|n| !order.contains(n))
                .expect("some parameter is left");
            return Err(SpecError::new(
                format!("parameters.{}.when", stuck.as_str()),
                "conditions form a cycle",
            ));
        }
    }
    Ok(order)
}

/// Whether a parameter with `condition` applies, given the values chosen so far.
pub fn applies(condition: Option<&Condition>, chosen: &BTreeMap<ParamName, Value>) -> bool {
    match condition {
        None => true,
        Some(c) => chosen.get(&c.parent).is_some_and(|v| c.values.contains(v)),
    }
}
