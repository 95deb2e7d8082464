//! Search strategies: which configurations a sweep's trials train. Pure
//! functions of the spec, its seed and (for bayes) the finished trials: the
//! same inputs always give the same configurations in the same order.
mod plan;
pub mod tpe;
mod warm;

pub use plan::{configurations, extend, plan, Extension, PlannedTrial, Source};
pub use warm::{suggest_untried, warm_observations};

use crate::spec::{Distribution, ParamName, ParamSpec, SweepSpec, TrialParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::collections::BTreeMap;
use tpe::{Observation, TpeConfig};

/// A trial's configuration by TPE over the sweep's finished trials, each
/// given as its parameters and final metric (None for a failed trial).
pub fn suggest(
    spec: &SweepSpec,
    finished: &[(TrialParams, Option<f64>)],
    seed: u64,
) -> TrialParams {
    suggest_with(spec, finished, &[], seed)
}

/// `suggest` with more history: observations of earlier sweeps (`warm_start.sweeps`).
pub fn suggest_with(
    spec: &SweepSpec,
    finished: &[(TrialParams, Option<f64>)],
    warm: &[Observation],
    seed: u64,
) -> TrialParams {
    let mut history: Vec<Observation> = finished
        .iter()
        .map(|(params, value)| Observation {
            params: spec.active_params(params),
            value: value.unwrap_or(f64::NAN),
        })
        .collect();
    history.extend_from_slice(warm);
    let config = TpeConfig {
        n_startup_trials: spec.n_startup_trials() as usize,
        ..TpeConfig::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut chosen = BTreeMap::new();
    // One parameter at a time, parents first, so a parameter whose `when`
    // does not hold is never sampled.
    for name in spec.order() {
        if spec.applies(*name, &chosen) {
            let space = BTreeMap::from([(*name, spec.parameters()[name].clone())]);
            let value = tpe::sample(&space, &history, spec.metric().goal, &config, &mut rng)
                .remove(name)
                .unwrap_or_else(|| sample(&spec.parameters()[name], &mut rng));
            chosen.insert(*name, value);
        }
    }
    params_of(&chosen)
}

/// A configuration given in part (enqueue, `warm_start.trials`), checked by
/// `SweepSpec::check_given`: the parameters not given that apply are drawn
/// from their spaces.
pub fn complete(
    spec: &SweepSpec,
    given: &BTreeMap<ParamName, Value>,
    rng: &mut impl Rng,
) -> TrialParams {
    let mut chosen = BTreeMap::new();
    for name in spec.order() {
        if spec.applies(*name, &chosen) {
            let value = match given.get(name) {
                Some(v) => v.clone(),
                None => sample(&spec.parameters()[name], rng),
            };
            chosen.insert(*name, value);
        }
    }
    params_of(&chosen)
}

/// The seed of trial `number`'s own randomness (initial weights, shuffling, dropout).
pub fn trial_seed(sweep_seed: u64, number: u32) -> u64 {
    // SplitMix64 of the pair, so neighbouring trials get unrelated streams.
    let mut z = sweep_seed ^ (u64::from(number) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) >> 1
}

pub(crate) fn params_of(chosen: &BTreeMap<ParamName, Value>) -> TrialParams {
    let mut params = TrialParams::default();
    for (name, value) in chosen {
        if let Err(e) = params.set(*name, value) {
            // The spec checked every value it can give, and draws stay in range.
            panic!("{} = {value} from a checked spec: {e}", name.as_str());
        }
    }
    params
}

/// Independent draws from each applicable parameter's distribution.
pub(crate) fn random(spec: &SweepSpec, rng: &mut impl Rng) -> TrialParams {
    let mut chosen = BTreeMap::new();
    for name in spec.order() {
        if spec.applies(*name, &chosen) {
            chosen.insert(*name, sample(&spec.parameters()[name], rng));
        }
    }
    params_of(&chosen)
}

/// One draw from a parameter's search space.
pub fn sample(spec: &ParamSpec, rng: &mut impl Rng) -> Value {
    match spec {
        ParamSpec::Value(v) => v.clone(),
        ParamSpec::Values {
            values,
            probabilities,
        } => {
            let i = match probabilities {
                None => rng.random_range(0..values.len()),
                Some(p) => {
                    let u: f64 = rng.random();
                    let mut acc = 0.0;
                    p.iter()
                        .position(|&p| {
                            acc += p;
                            u < acc
                        })
                        .unwrap_or(values.len() - 1)
                }
            };
            values[i].clone()
        }
        ParamSpec::Distribution {
            distribution,
            integer,
        } => match draw(distribution, rng) {
            Draw::Int(n) if *integer => Value::from(n),
            Draw::Int(n) => Value::from(n as f64),
            Draw::Float(x) if *integer => Value::from(to_integer(x, distribution)),
            Draw::Float(x) => Value::from(x),
        },
    }
}

/// A draw: an integer distribution's exactly, any other's as a float.
enum Draw {
    Int(i64),
    Float(f64),
}

/// The integer nearest `x`, within the distribution's bounds: an integer
/// parameter's bounds are integers (checked at parse), so this moves a
/// draw only by rounding, never out of range.
fn to_integer(x: f64, distribution: &Distribution) -> i64 {
    let (min, max) = match *distribution {
        Distribution::IntUniform { min, max } => (min as f64, max as f64),
        Distribution::Uniform { min, max }
        | Distribution::LogUniformValues { min, max }
        | Distribution::QUniform { min, max, .. }
        | Distribution::QLogUniformValues { min, max, .. } => (min, max),
    };
    // Float-to-int `as` saturates; within [min, max] it is exact.
    x.round().max(min.ceil()).min(max.floor()) as i64
}

fn draw(distribution: &Distribution, rng: &mut impl Rng) -> Draw {
    let u: f64 = rng.random();
    let log_uniform = |min: f64, max: f64| (min.ln() + (max.ln() - min.ln()) * u).exp();
    Draw::Float(match *distribution {
        Distribution::Uniform { min, max } => min + (max - min) * u,
        // The float drawn above is unused: it keeps the stream every seed gave before.
        Distribution::IntUniform { min, max } => return Draw::Int(rng.random_range(min..=max)),
        Distribution::LogUniformValues { min, max } => log_uniform(min, max).clamp(min, max),
        Distribution::QUniform { min, max, q } => quantize(min + (max - min) * u, min, max, q),
        Distribution::QLogUniformValues { min, max, q } => {
            quantize(log_uniform(min, max), min, max, q)
        }
    })
}

/// Rounds to a multiple of `q`, stepping back inside [min, max] when rounding left it.
pub(crate) fn quantize(x: f64, min: f64, max: f64, q: f64) -> f64 {
    let mut y = (x / q).round() * q;
    if y > max {
        y -= q;
    }
    if y < min {
        y += q;
    }
    if y < min || y > max {
        x.clamp(min, max)
    } else {
        y
    }
}

#[cfg(test)]
mod tests;
