//! Parameter importance by fANOVA (Hutter, Hoos and Leyton-Brown 2014, as
//! Optuna's `FanovaImportanceEvaluator`): a random forest is fitted on the
//! trials' parameters -> metric; per tree, each parameter's importance is
//! the variance of the tree's marginal prediction over that parameter alone,
//! as a share of the tree's total variance over the bounded space; the
//! shares are averaged over the trees and scaled to sum to 1.
//!
//! Importance is about variance, so the goal does not change it. A
//! parameter that does not apply to a trial (its `when` does not hold) is a
//! value of its own: an extra category, or for a number a band just below
//! its range, as wide as the share of trials it is missing from.
use super::forest::{self, Extent, Feature, Options, MAX_LEVELS};
use super::space::{Axis, AxisKind};
use crate::spec::{Goal, ParamName};

/// The method's name, as answers give it.
pub const METHOD: &str = "fanova";

/// One trial as importance sees it: a position per axis (None: does not
/// apply; see `Axis::position`) and the metric's value.
#[derive(Debug, Clone)]
pub struct Observation {
    pub position: Vec<Option<f64>>,
    pub value: f64,
}

/// Each axis's importance, highest first (ties in axis order). Empty when
/// fewer than 2 observations have a finite value; all zero when the metric
/// does not vary.
pub fn importance(
    axes: &[Axis],
    observations: &[Observation],
    goal: Goal,
    seed: u64,
) -> Vec<(ParamName, f64)> {
    let rows: Vec<&Observation> = observations
        .iter()
        .filter(|o| o.value.is_finite() && o.position.len() == axes.len())
        .collect();
    if rows.len() < 2 || axes.is_empty() {
        return Vec::new();
    }
    // Larger is better for both goals; the variances are the same.
    let sign = match goal {
        Goal::Maximize => 1.0,
        Goal::Minimize => -1.0,
    };
    let y: Vec<f64> = rows.iter().map(|o| sign * o.value).collect();
    let (features, x) = encode(axes, &rows);
    let shares = fanova(&features, &x, &y, seed);
    let mut out: Vec<(ParamName, f64)> = axes.iter().map(|a| a.name).zip(shares).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

/// The forest's features and rows for these observations (see the module doc).
fn encode(axes: &[Axis], rows: &[&Observation]) -> (Vec<Feature>, Vec<Vec<f64>>) {
    let mut features = Vec::with_capacity(axes.len());
    let mut x = vec![Vec::with_capacity(axes.len()); rows.len()];
    for (j, axis) in axes.iter().enumerate() {
        let missing = rows.iter().filter(|o| o.position[j].is_none()).count();
        let (feature, absent) = match &axis.kind {
            AxisKind::Categorical { levels } => {
                let levels = (levels.len() + usize::from(missing > 0)).min(MAX_LEVELS);
                (Feature::Categorical { levels }, (levels - 1) as f64)
            }
            AxisKind::Numeric { .. } => {
                let (lo, hi) = axis.bounds();
                let share = missing as f64 / rows.len() as f64;
                let band = if missing == 0 || hi <= lo {
                    0.0
                } else {
                    (hi - lo) * share.min(0.95) / (1.0 - share.min(0.95))
                };
                let lo = lo - band;
                (Feature::Numeric { lo, hi }, lo + band / 2.0)
            }
        };
        for (row, o) in x.iter_mut().zip(rows) {
            let v = o.position[j].unwrap_or(absent);
            row.push(match feature {
                Feature::Categorical { levels } => v.clamp(0.0, (levels - 1) as f64),
                Feature::Numeric { lo, hi } => v.clamp(lo, hi),
            });
        }
        features.push(feature);
    }
    (features, x)
}

/// Each feature's share of the variance (main effects only), summing to 1;
/// all zero when no tree varies.
pub fn fanova(features: &[Feature], x: &[Vec<f64>], y: &[f64], seed: u64) -> Vec<f64> {
    let opts = Options {
        seed,
        ..Options::default()
    };
    let mut sums = vec![0.0; features.len()];
    let mut varied = 0usize;
    for tree in forest::fit(features, x, y, &opts) {
        let leaves = tree.leaves(features);
        let volumes: Vec<f64> = leaves.iter().map(|l| volume(features, l)).collect();
        let mean: f64 = leaves.iter().zip(&volumes).map(|(l, v)| v * l.value).sum();
        let total: f64 = leaves
            .iter()
            .zip(&volumes)
            .map(|(l, v)| v * (l.value - mean).powi(2))
            .sum();
        // A tree that predicts one value everywhere (or NaN) explains nothing.
        if total.is_nan() || total <= 1e-12 * (1.0 + mean * mean) {
            continue;
        }
        varied += 1;
        for (j, sum) in sums.iter_mut().enumerate() {
            *sum += marginal_variance(features, &leaves, &volumes, j, mean) / total;
        }
    }
    if varied == 0 {
        return vec![0.0; features.len()];
    }
    let all: f64 = sums.iter().sum();
    if all > 0.0 {
        sums.iter().map(|s| s / all).collect()
    } else {
        vec![0.0; features.len()]
    }
}

/// The share of the space a leaf covers.
fn volume(features: &[Feature], leaf: &forest::Leaf) -> f64 {
    features
        .iter()
        .zip(&leaf.extents)
        .map(|(f, e)| fraction(*f, *e))
        .product()
}

/// The share of one feature's domain an extent covers.
fn fraction(feature: Feature, extent: Extent) -> f64 {
    match (feature, extent) {
        (Feature::Numeric { lo, hi }, Extent::Interval(a, b)) if hi > lo => (b - a) / (hi - lo),
        (Feature::Categorical { levels }, Extent::Categories(set)) => {
            set.count_ones() as f64 / levels as f64
        }
        _ => 1.0,
    }
}

/// The variance over feature `j` of the tree's prediction averaged over
/// every other feature: the domain of `j` is cut into the cells its splits
/// make, and each leaf adds its value, weighted by its extent in the other
/// features, to the cells it covers (a difference array for numbers).
fn marginal_variance(
    features: &[Feature],
    leaves: &[forest::Leaf],
    volumes: &[f64],
    j: usize,
    mean: f64,
) -> f64 {
    let weight = |l: &forest::Leaf, v: f64| {
        let own = fraction(features[j], l.extents[j]);
        if own > 0.0 {
            l.value * v / own
        } else {
            0.0
        }
    };
    match features[j] {
        Feature::Numeric { lo, hi } => {
            if hi <= lo {
                return 0.0;
            }
            let mut cuts: Vec<f64> = vec![lo, hi];
            for l in leaves {
                if let Extent::Interval(a, b) = l.extents[j] {
                    cuts.extend([a, b]);
                }
            }
            cuts.sort_by(f64::total_cmp);
            cuts.dedup();
            let mut diff = vec![0.0; cuts.len()];
            for (l, v) in leaves.iter().zip(volumes) {
                if let Extent::Interval(a, b) = l.extents[j] {
                    let at = |t: f64| cuts.partition_point(|c| *c < t);
                    let w = weight(l, *v);
                    diff[at(a)] += w;
                    diff[at(b)] -= w;
                }
            }
            let mut running = 0.0;
            let mut variance = 0.0;
            for k in 0..cuts.len() - 1 {
                running += diff[k];
                let width = (cuts[k + 1] - cuts[k]) / (hi - lo);
                variance += width * (running - mean).powi(2);
            }
            variance
        }
        Feature::Categorical { levels } => {
            let mut cells = vec![0.0; levels];
            for (l, v) in leaves.iter().zip(volumes) {
                if let Extent::Categories(set) = l.extents[j] {
                    let w = weight(l, *v);
                    for (c, cell) in cells.iter_mut().enumerate() {
                        if set & (1u64 << c) != 0 {
                            *cell += w;
                        }
                    }
                }
            }
            cells
                .iter()
                .map(|m| (m - mean).powi(2) / levels as f64)
                .sum()
        }
    }
}
