//! Tree-structured Parzen Estimator (method `bayes`): proposes the next
//! configuration from the finished trials, as Optuna's default independent TPE
//! does. Pure: a function of the search space, the history and a seeded RNG.
mod axis;
mod parzen;

use crate::spec::{Goal, ParamName, ParamSpec};
use axis::Axis;
use parzen::Parzen;
use rand::Rng;
use serde_json::Value;
use std::collections::BTreeMap;

/// One finished trial as TPE sees it: the parameters it was given and its final metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The parameters it trained with; inactive (conditional) ones are absent.
    pub params: BTreeMap<ParamName, Value>,
    /// Its final metric value; NaN counts as the worst.
    pub value: f64,
}

/// Knobs of the sampler.
#[derive(Debug, Clone, PartialEq)]
pub struct TpeConfig {
    /// Observations of a parameter needed before TPE models it; fewer draw from the prior.
    pub n_startup_trials: usize,
    /// Candidates drawn from the good model; the one with the best ratio wins.
    pub n_candidates: usize,
    /// Share of observations in the good group: the best `ceil(gamma * n)`, at
    /// least 1 and at most [`MAX_GOOD`].
    pub gamma: f64,
    /// Weight of the prior component next to each observation's weight of 1.
    pub prior_weight: f64,
}

impl Default for TpeConfig {
    /// Optuna's candidates and prior weight; hyperopt's gamma of 0.25, capped at [`MAX_GOOD`].
    fn default() -> Self {
        TpeConfig {
            n_startup_trials: 8,
            n_candidates: 24,
            gamma: 0.25,
            prior_weight: 1.0,
        }
    }
}

/// Most observations in the good group, whatever `gamma` says (the cap of
/// Optuna's `min(ceil(0.1 n), 25)`): a good group of hundreds would blur the model back
/// towards random search.
pub const MAX_GOOD: usize = 25;

/// Samples one configuration for the parameters in `space`.
///
/// Each parameter is modelled on its own, from the observations that have it
/// (so a conditional parameter learns only from the trials where it was
/// active): those are ranked by `goal` (NaN last), split into the best
/// `ceil(gamma * n)` (1 to [`MAX_GOOD`]) and the rest, and `n_candidates`
/// draws from the good density are scored by `log l(x) - log g(x)`. A
/// parameter seen in fewer than `n_startup_trials` observations is drawn from
/// the prior, uniformly over its (log) range or its values' probabilities.
pub fn sample(
    space: &BTreeMap<ParamName, ParamSpec>,
    history: &[Observation],
    goal: Goal,
    config: &TpeConfig,
    rng: &mut impl Rng,
) -> BTreeMap<ParamName, Value> {
    let worst_last = |x: f64| match goal {
        _ if x.is_nan() => f64::NEG_INFINITY,
        Goal::Maximize => x,
        Goal::Minimize => -x,
    };
    let mut ranked: Vec<&Observation> = history.iter().collect();
    // Stable, so equal values keep history order and the result stays deterministic.
    ranked.sort_by(|a, b| worst_last(b.value).total_cmp(&worst_last(a.value)));
    let mut out = BTreeMap::new();
    for (name, spec) in space {
        let seen = ranked.iter().filter_map(|o| o.params.get(name));
        let value = match spec {
            ParamSpec::Value(v) => v.clone(),
            ParamSpec::Values {
                values,
                probabilities,
            } => {
                let seen: Vec<usize> = seen
                    .filter_map(|v| values.iter().position(|c| same(c, v)))
                    .collect();
                let i = match (config.groups(&seen), probabilities) {
                    (Some((good, bad)), _) => {
                        categorical(values.len(), probabilities, good, bad, config, rng)
                    }
                    (None, Some(p)) => pick(p, 1.0, rng),
                    (None, None) => rng.random_range(0..values.len()),
                };
                values[i].clone()
            }
            ParamSpec::Distribution {
                distribution,
                integer,
            } => {
                let axis = Axis::new(distribution, *integer);
                let seen: Vec<f64> = seen
                    .filter_map(|v| v.as_f64())
                    .filter(|x| x.is_finite() && (!axis.log || *x > 0.0))
                    .map(|x| axis.inward(x).clamp(axis.low, axis.high))
                    .collect();
                let x = match config.groups(&seen) {
                    Some((good, bad)) if axis.high > axis.low => {
                        numeric(&axis, good, bad, config, rng)
                    }
                    _ => axis.outward(axis.low + (axis.high - axis.low) * rng.random::<f64>()),
                };
                if axis.integer {
                    Value::from(x.round() as i64)
                } else {
                    Value::from(x)
                }
            }
        };
        out.insert(*name, value);
    }
    out
}

impl TpeConfig {
    /// The good and bad groups of observations ranked best first, or `None`
    /// while there are too few to model.
    fn groups<'a, T>(&self, ranked: &'a [T]) -> Option<(&'a [T], &'a [T])> {
        let n = ranked.len();
        if n == 0 || n < self.n_startup_trials {
            return None;
        }
        let good = ((self.gamma * n as f64).ceil() as usize).clamp(1, MAX_GOOD.min(n));
        Some(ranked.split_at(good))
    }
}

/// The category index with the best `l/g` among candidates drawn from `l`.
fn categorical(
    n: usize,
    probabilities: &Option<Vec<f64>>,
    good: &[usize],
    bad: &[usize],
    config: &TpeConfig,
    rng: &mut impl Rng,
) -> usize {
    // Every category starts with `prior_weight` pseudo-observations (shaped by
    // the user's probabilities), as Optuna's kernels effectively do: a category
    // that had one unlucky trial early must still get tried again.
    let weight = config.prior_weight.max(0.0);
    let prior: Vec<f64> = match probabilities {
        Some(p) => p.iter().map(|p| p * weight * n as f64).collect(),
        None => vec![weight; n],
    };
    let counts = |group: &[usize]| {
        let mut w = prior.clone();
        group.iter().for_each(|&i| w[i] += 1.0);
        let total = w.iter().sum::<f64>();
        (w, total)
    };
    let ((l, lt), (g, gt)) = (counts(good), counts(bad));
    let score = |i: usize| (l[i] / lt).ln() - (g[i] / gt).ln();
    let mut best = pick(&l, lt, rng);
    for _ in 1..config.n_candidates {
        let i = pick(&l, lt, rng);
        if score(i) > score(best) {
            best = i;
        }
    }
    best
}

/// The value, in the distribution's own units, with the best `l/g` among
/// candidates drawn from `l`.
fn numeric(axis: &Axis, good: &[f64], bad: &[f64], config: &TpeConfig, rng: &mut impl Rng) -> f64 {
    let weight = config.prior_weight.max(0.0);
    let l = Parzen::new(good, axis.low, axis.high, weight);
    let g = Parzen::new(bad, axis.low, axis.high, weight);
    let mut best = (f64::NEG_INFINITY, None);
    for _ in 0..config.n_candidates.max(1) {
        // Score the value that would be returned, after rounding.
        let x = axis.outward(l.draw(rng));
        let y = axis.inward(x);
        let score = l.log_pdf(y) - g.log_pdf(y);
        if best.1.is_none() || score > best.0 {
            best = (score, Some(x));
        }
    }
    best.1.expect("at least one candidate")
}

/// Index drawn in proportion to `weights` (summing to `total`).
fn pick(weights: &[f64], total: f64, rng: &mut impl Rng) -> usize {
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}

/// Whether an observed value is this category: numbers by value (so 64 and
/// 64.0 match after a trip through storage), lists element by element.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests;
