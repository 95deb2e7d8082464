//! Tree-structured Parzen Estimator (method `bayes`): proposes the next
//! configuration from the finished trials, as Optuna's default independent TPE
//! does. Pure: a function of the search space, the history and a seeded RNG.
use super::quantize;
use crate::spec::{Distribution, Goal, ParamName, ParamSpec};
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

/// A distribution's internal axis: log or linear, widened by half a step for
/// discrete ones so that the end values get their fair share.
struct Axis<'a> {
    distribution: &'a Distribution,
    log: bool,
    /// Whether values are JSON integers.
    integer: bool,
    low: f64,
    high: f64,
}

impl<'a> Axis<'a> {
    fn new(distribution: &'a Distribution, integer: bool) -> Self {
        let (min, max, log, step) = match *distribution {
            Distribution::Uniform { min, max } => (min, max, false, 0.0),
            Distribution::IntUniform { min, max } => (min as f64, max as f64, false, 1.0),
            Distribution::LogUniformValues { min, max } => (min, max, true, 0.0),
            Distribution::QUniform { min, max, q } => (min, max, false, q),
            Distribution::QLogUniformValues { min, max, q } => (min, max, true, q),
        };
        let low = match min - step / 2.0 {
            low if log && low <= 0.0 => min,
            low => low,
        };
        let integer = integer || matches!(distribution, Distribution::IntUniform { .. });
        let inward = |x: f64| if log { x.ln() } else { x };
        let (low, high) = (inward(low), inward(max + step / 2.0));
        Axis {
            distribution,
            log,
            integer,
            low,
            high,
        }
    }

    fn inward(&self, x: f64) -> f64 {
        if self.log {
            x.ln()
        } else {
            x
        }
    }

    /// Back to a valid value of the distribution: in range, rounded, quantized.
    fn outward(&self, y: f64) -> f64 {
        let x = if self.log { y.exp() } else { y };
        match *self.distribution {
            Distribution::Uniform { min, max } | Distribution::LogUniformValues { min, max } => {
                x.clamp(min, max)
            }
            Distribution::IntUniform { min, max } => x.round().clamp(min as f64, max as f64),
            Distribution::QUniform { min, max, q }
            | Distribution::QLogUniformValues { min, max, q } => quantize(x, min, max, q),
        }
    }
}

/// A mixture of Gaussians truncated to [low, high]: one per observation plus a
/// broad prior, with Optuna's neighbour-distance bandwidths.
struct Parzen {
    mus: Vec<f64>,
    sigmas: Vec<f64>,
    /// log(weight / (sigma * sqrt(2 pi) * truncated mass)) per component.
    offsets: Vec<f64>,
    cumulative: Vec<f64>,
    low: f64,
    high: f64,
}

impl Parzen {
    fn new(points: &[f64], low: f64, high: f64, prior_weight: f64) -> Parzen {
        let range = high - low;
        let mut mus = points.to_vec();
        mus.sort_by(f64::total_cmp);
        let n = mus.len();
        // Each point's bandwidth is its larger gap to a neighbour, the bounds
        // counting as neighbours only for a lone point (Optuna, consider_endpoints
        // off), clipped so that many points cannot collapse it to nothing.
        let min_sigma = range / (1.0 + n as f64).min(100.0);
        let sigma = |i: usize| {
            if n == 1 {
                return (mus[0] - low).max(high - mus[0]);
            }
            let left = i.checked_sub(1).map_or(0.0, |j| mus[i] - mus[j]);
            let right = mus.get(i + 1).map_or(0.0, |r| r - mus[i]);
            left.max(right)
        };
        let mut sigmas: Vec<f64> = (0..n).map(|i| sigma(i).clamp(min_sigma, range)).collect();
        let mut weights = vec![1.0; n];
        if prior_weight > 0.0 {
            mus.push(low + range / 2.0);
            sigmas.push(range);
            weights.push(prior_weight);
        }
        let total: f64 = weights.iter().sum();
        let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
        let offsets = (0..mus.len())
            .map(|i| {
                let (mu, s) = (mus[i], sigmas[i]);
                let mass = normal_cdf((high - mu) / s) - normal_cdf((low - mu) / s);
                (weights[i] / total).ln() - s.ln() - half_ln_2pi - mass.max(1e-300).ln()
            })
            .collect();
        let cumulative = weights
            .iter()
            .scan(0.0, |acc, w| {
                *acc += w;
                Some(*acc)
            })
            .collect();
        Parzen {
            mus,
            sigmas,
            offsets,
            cumulative,
            low,
            high,
        }
    }

    fn log_pdf(&self, y: f64) -> f64 {
        // Streaming log-sum-exp: one exp per component, no allocation.
        let (mut top, mut sum) = (f64::NEG_INFINITY, 0.0);
        for ((mu, s), c) in self.mus.iter().zip(&self.sigmas).zip(&self.offsets) {
            let z = (y - mu) / s;
            let t = c - 0.5 * z * z;
            if t > top {
                sum = sum * (top - t).exp() + 1.0;
                top = t;
            } else {
                sum += (t - top).exp();
            }
        }
        top + sum.ln()
    }

    fn draw(&self, rng: &mut impl Rng) -> f64 {
        let total = *self.cumulative.last().expect("a component");
        let u = rng.random::<f64>() * total;
        let i = self
            .cumulative
            .partition_point(|&c| c <= u)
            .min(self.mus.len() - 1);
        let (mu, s) = (self.mus[i], self.sigmas[i]);
        // Rejection from the untruncated Gaussian: every component keeps at
        // least ~38% of its mass inside, so this ends fast.
        for _ in 0..100 {
            let x = mu + s * standard_normal(rng);
            if (self.low..=self.high).contains(&x) {
                return x;
            }
        }
        mu
    }
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

/// Box-Muller; rand 0.9 alone has no normal distribution.
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Abramowitz and Stegun 7.1.26, absolute
/// error below 1.5e-7: ample for truncated masses that are at least ~0.3).
fn erfc(x: f64) -> f64 {
    const A: [f64; 5] = [
        0.254829592,
        -0.284496736,
        1.421413741,
        -1.453152027,
        1.061405429,
    ];
    let t = 1.0 / (1.0 + 0.3275911 * x.abs());
    let poly = A.iter().rev().fold(0.0, |acc, a| (acc + a) * t);
    let r = poly * (-x * x).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
#[path = "tpe_tests.rs"]
mod tests;
