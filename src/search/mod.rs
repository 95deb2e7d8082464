//! Search strategies: which configurations a sweep's trials train. Pure
//! functions of the spec and its seed: the same spec and seed always give the
//! same configurations in the same order.
use crate::spec::{Distribution, Method, ParamName, ParamSpec, SweepSpec, TrialParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::collections::BTreeMap;

/// The configurations of the sweep's trials, in trial-number order.
pub fn configurations(spec: &SweepSpec) -> Vec<TrialParams> {
    match spec.method {
        Method::Grid => grid(&spec.parameters, spec.max_trials as usize),
        Method::Random => random(&spec.parameters, spec.seed, spec.max_trials as usize),
    }
}

/// The seed of trial `number`'s own randomness (initial weights, shuffling, dropout).
pub fn trial_seed(sweep_seed: u64, number: u32) -> u64 {
    // SplitMix64 of the pair, so neighbouring trials get unrelated streams.
    let mut z = sweep_seed ^ (u64::from(number) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) >> 1
}

/// Every combination of the discrete values, the last parameter varying fastest.
fn grid(parameters: &BTreeMap<ParamName, ParamSpec>, limit: usize) -> Vec<TrialParams> {
    let axes: Vec<(ParamName, Vec<Value>)> = parameters
        .iter()
        .map(|(name, spec)| (*name, spec.discrete_values().unwrap_or_default()))
        .collect();
    let mut out = Vec::new();
    let mut index = vec![0usize; axes.len()];
    while out.len() < limit {
        let mut params = TrialParams::default();
        for ((name, values), &i) in axes.iter().zip(&index) {
            params.set(*name, &values[i]);
        }
        out.push(params);
        // Advance the odometer; stop once it wraps around.
        let mut axis = axes.len();
        loop {
            if axis == 0 {
                return out;
            }
            axis -= 1;
            index[axis] += 1;
            if index[axis] < axes[axis].1.len() {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

/// Independent draws from each parameter's distribution.
fn random(
    parameters: &BTreeMap<ParamName, ParamSpec>,
    seed: u64,
    count: usize,
) -> Vec<TrialParams> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let mut params = TrialParams::default();
            for (name, spec) in parameters {
                params.set(*name, &sample(spec, &mut rng));
            }
            params
        })
        .collect()
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
        } => {
            let x = draw(distribution, rng);
            if *integer {
                Value::from(x.round() as i64)
            } else {
                Value::from(x)
            }
        }
    }
}

fn draw(distribution: &Distribution, rng: &mut impl Rng) -> f64 {
    let u: f64 = rng.random();
    let log_uniform = |min: f64, max: f64| (min.ln() + (max.ln() - min.ln()) * u).exp();
    match *distribution {
        Distribution::Uniform { min, max } => min + (max - min) * u,
        Distribution::IntUniform { min, max } => rng.random_range(min..=max) as f64,
        Distribution::LogUniformValues { min, max } => log_uniform(min, max).clamp(min, max),
        Distribution::QUniform { min, max, q } => quantize(min + (max - min) * u, min, max, q),
        Distribution::QLogUniformValues { min, max, q } => {
            quantize(log_uniform(min, max), min, max, q)
        }
    }
}

/// Rounds to a multiple of `q`, stepping back inside [min, max] when rounding left it.
fn quantize(x: f64, min: f64, max: f64, q: f64) -> f64 {
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
