//! A grid spec's configurations: how many there are and which, in order,
//! without walking the combinations that `when` makes equal.
//!
//! The grid is every combination of the parameters' values, in the
//! parameters' order with the last varying fastest, where a combination
//! that differs from an earlier one only in parameters that do not apply is
//! skipped. With distinct values (checked at parse), a combination is the
//! first of its kind exactly when every parameter that does not apply sits
//! at its first value. So a depth-first walk in key order emits one
//! combination after another: it gives a parameter a value other than its
//! first only if the parameter can still apply, which constrains the values
//! of its ancestors (each parameter has at most one parent), and such
//! constraints are checked as they are made, so the walk never meets a dead
//! end.
mod forest;

use super::{applies, Condition, ParamName, ParamSpec, SpecError};
use forest::Forest;
use serde_json::Value;
use std::collections::BTreeMap;

/// The number of distinct configurations of the grid (saturating); every
/// parameter must be discrete.
pub(super) fn size(
    parameters: &BTreeMap<ParamName, ParamSpec>,
    conditions: &BTreeMap<ParamName, Condition>,
) -> Result<u64, SpecError> {
    let forest = Forest::new(parameters, conditions)?;
    let mut memo = vec![None; forest.names.len()];
    Ok((0..forest.names.len())
        .filter(|&k| forest.parent[k].is_none())
        .map(|k| forest.count(k, &mut memo))
        .fold(1u64, u64::saturating_mul))
}

/// Whether a parameter applies, from the values given so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Applies,
    DoesNot,
    /// An ancestor has no value yet.
    Open,
}

/// The grid's configurations in order: each the parameters that apply,
/// with their values.
pub struct Combinations {
    forest: Forest,
    conditions: BTreeMap<ParamName, Condition>,
    order: Vec<ParamName>,
    /// The value given to each parameter so far (one per parameter before `next`).
    chosen: Vec<usize>,
    /// Per parameter given so far: the parameters whose `required` count it raised.
    raised: Vec<Vec<usize>>,
    /// How many reasons each parameter has to apply: it has a value other
    /// than its first, or a descendant does.
    required: Vec<u32>,
    /// Per parameter: requiring it to apply has passed the check since the
    /// values before it last changed.
    may_apply: Vec<bool>,
    started: bool,
    done: bool,
}

impl Combinations {
    pub(super) fn new(
        parameters: &BTreeMap<ParamName, ParamSpec>,
        conditions: &BTreeMap<ParamName, Condition>,
        order: &[ParamName],
    ) -> Result<Combinations, SpecError> {
        let forest = Forest::new(parameters, conditions)?;
        let n = forest.names.len();
        Ok(Combinations {
            forest,
            conditions: conditions.clone(),
            order: order.to_vec(),
            chosen: Vec::with_capacity(n),
            raised: Vec::with_capacity(n),
            required: vec![0; n],
            may_apply: vec![false; n],
            started: false,
            done: false,
        })
    }

    /// Whether parameter `q`, given no value yet, may take its value `j`:
    /// every child that must apply applies under it.
    fn allows(&self, q: usize, j: usize) -> bool {
        self.forest.children[q]
            .iter()
            .all(|&c| self.required[c] == 0 || self.forest.applies_under(c, j))
    }

    fn status(&self, k: usize) -> Status {
        let mut x = k;
        while let Some((p, when)) = &self.forest.parent[x] {
            let Some(&j) = self.chosen.get(*p) else {
                return Status::Open;
            };
            if !when[j] {
                return Status::DoesNot;
            }
            x = *p;
        }
        Status::Applies
    }

    /// Makes `k` required to apply, and so its ancestors; the parameters
    /// whose count rose, or None (and nothing changed) when no completion of
    /// the values given so far lets `k` apply. Whether one does depends on
    /// `k`'s ancestors, not on its value: `checked` skips the check when it
    /// has passed since those last changed.
    fn require(&mut self, k: usize, checked: bool) -> Option<Vec<usize>> {
        let mut raised = Vec::new();
        let mut x = k;
        loop {
            self.required[x] += 1;
            raised.push(x);
            if self.required[x] > 1 {
                return Some(raised);
            }
            let Some((p, when)) = &self.forest.parent[x] else {
                return Some(raised);
            };
            let p = *p;
            let feasible = checked
                || match self.chosen.get(p) {
                    Some(&j) => when[j],
                    None => (0..self.forest.values[p].len()).any(|j| self.allows(p, j)),
                };
            if !feasible {
                self.lower(&raised);
                return None;
            }
            x = p;
        }
    }

    fn lower(&mut self, raised: &[usize]) {
        for &x in raised {
            self.required[x] -= 1;
        }
    }

    /// Gives the next parameter its first possible value from `from` on
    /// (`from` 0: the values before it have changed since it last had one).
    fn give(&mut self, from: usize) -> bool {
        let k = self.chosen.len();
        if from == 0 {
            self.may_apply[k] = false;
        }
        let status = self.status(k);
        for j in from..self.forest.values[k].len() {
            if !self.allows(k, j) {
                continue;
            }
            let raised = if j == 0 {
                Vec::new()
            } else if status == Status::DoesNot {
                // A parameter that does not apply keeps its first value.
                return false;
            } else {
                match self.require(k, self.may_apply[k]) {
                    Some(raised) => raised,
                    // Nor can it apply with any other value.
                    None => return false,
                }
            };
            self.may_apply[k] |= j != 0;
            self.chosen.push(j);
            self.raised.push(raised);
            return true;
        }
        false
    }

    /// Takes back the last value given; returns it.
    fn take_back(&mut self) -> Option<usize> {
        let j = self.chosen.pop()?;
        let raised = self.raised.pop().expect("one per value");
        self.lower(&raised);
        Some(j)
    }

    fn current(&self) -> BTreeMap<ParamName, Value> {
        let mut active = BTreeMap::new();
        for name in &self.order {
            if applies(self.conditions.get(name), &active) {
                let k = self
                    .forest
                    .names
                    .iter()
                    .position(|n| n == name)
                    .expect("a parameter");
                active.insert(*name, self.forest.values[k][self.chosen[k]].clone());
            }
        }
        active
    }
}

impl Iterator for Combinations {
    type Item = BTreeMap<ParamName, Value>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut from = 0;
        if self.started {
            // Move on from the last combination: its last parameter first.
            match self.take_back() {
                Some(j) => from = j + 1,
                None => self.done = true,
            }
        }
        self.started = true;
        while !self.done {
            if self.chosen.len() == self.forest.names.len() {
                return Some(self.current());
            }
            if self.give(from) {
                from = 0;
                continue;
            }
            // This parameter has no value left: the one before it moves on.
            // (Values given so far always extend to a combination, so this
            // backs up only from exhausted parameters, never from a dead end.)
            match self.take_back() {
                Some(j) => from = j + 1,
                None => self.done = true,
            }
        }
        None
    }
}
