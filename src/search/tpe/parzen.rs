//! The density TPE fits to a group of observations: a Parzen estimator
//! of truncated Gaussians, with the normal distribution's helpers.
use rand::Rng;

/// A mixture of Gaussians truncated to [low, high]: one per observation plus a
/// broad prior, with Optuna's neighbour-distance bandwidths.
pub(super) struct Parzen {
    mus: Vec<f64>,
    sigmas: Vec<f64>,
    /// log(weight / (sigma * sqrt(2 pi) * truncated mass)) per component.
    offsets: Vec<f64>,
    cumulative: Vec<f64>,
    low: f64,
    high: f64,
}

impl Parzen {
    pub(super) fn new(points: &[f64], low: f64, high: f64, prior_weight: f64) -> Parzen {
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

    pub(super) fn log_pdf(&self, y: f64) -> f64 {
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

    pub(super) fn draw(&self, rng: &mut impl Rng) -> f64 {
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

/// Box-Muller; rand 0.9 alone has no normal distribution.
pub(super) fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

pub(super) fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Abramowitz and Stegun 7.1.26, absolute
/// error below 1.5e-7: ample for truncated masses that are at least ~0.3).
pub(super) fn erfc(x: f64) -> f64 {
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
