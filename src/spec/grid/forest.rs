//! A grid's parameters as a forest of conditions, which counts the grid's
//! configurations without walking them.
use crate::spec::{Condition, ParamName, ParamSpec, SpecError};
use serde_json::Value;
use std::collections::BTreeMap;

/// The parameters as a forest of conditions, by their index in key order.
pub(super) struct Forest {
    pub(super) names: Vec<ParamName>,
    pub(super) values: Vec<Vec<Value>>,
    /// The parent of each parameter, and which of the parent's values make it apply.
    pub(super) parent: Vec<Option<(usize, Vec<bool>)>>,
    pub(super) children: Vec<Vec<usize>>,
}

impl Forest {
    pub(super) fn new(
        parameters: &BTreeMap<ParamName, ParamSpec>,
        conditions: &BTreeMap<ParamName, Condition>,
    ) -> Result<Forest, SpecError> {
        let names: Vec<ParamName> = parameters.keys().copied().collect();
        let mut values = Vec::with_capacity(names.len());
        for (name, spec) in parameters {
            let Some(v) = spec.discrete_values() else {
                return Err(SpecError::new(
                    format!("parameters.{}", name.as_str()),
                    "grid search needs value or values, not a distribution",
                ));
            };
            values.push(v);
        }
        let index = |name: &ParamName| names.iter().position(|n| n == name);
        let mut parent = vec![None; names.len()];
        let mut children = vec![Vec::new(); names.len()];
        for (child, name) in names.iter().enumerate() {
            let Some(condition) = conditions.get(name) else {
                continue;
            };
            // condition::order has checked that the parent is a discrete parameter.
            let Some(p) = index(&condition.parent) else {
                continue;
            };
            let when = values[p]
                .iter()
                .map(|v| condition.values.contains(v))
                .collect();
            parent[child] = Some((p, when));
            children[p].push(child);
        }
        Ok(Forest {
            names,
            values,
            parent,
            children,
        })
    }

    /// Distinct configurations under parameter `k`, its subtree included;
    /// `memo` holds those already counted, so each parameter is counted once
    /// (not once per value of each ancestor).
    pub(super) fn count(&self, k: usize, memo: &mut [Option<u64>]) -> u64 {
        if let Some(n) = memo[k] {
            return n;
        }
        let children: Vec<(usize, u64)> = self.children[k]
            .iter()
            .map(|&c| (c, self.count(c, memo)))
            .collect();
        let mut total = 0u64;
        for j in 0..self.values[k].len() {
            let under = children
                .iter()
                .filter(|&&(c, _)| self.applies_under(c, j))
                .fold(1u64, |n, &(_, m)| n.saturating_mul(m));
            total = total.saturating_add(under);
        }
        memo[k] = Some(total);
        total
    }

    /// Whether child `c` applies when its parent has its value `j`.
    pub(super) fn applies_under(&self, c: usize, j: usize) -> bool {
        self.parent[c].as_ref().is_some_and(|(_, when)| when[j])
    }
}
