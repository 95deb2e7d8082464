//! A regression forest (bagged CART trees) over a bounded space of
//! numerical and categorical features, and the partition each tree makes of
//! that space, which fANOVA integrates over (see `importance`). Pure and
//! deterministic for a seed.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The domain of one feature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Feature {
    /// A number in `[lo, hi]` (already on the scale it is searched on).
    Numeric { lo: f64, hi: f64 },
    /// One of `levels` categories, written as its index `0.0, 1.0, ...`;
    /// at most [`MAX_LEVELS`].
    Categorical { levels: usize },
}

/// The most categories a categorical feature may have (they are a bit set).
pub const MAX_LEVELS: usize = 64;

/// How a forest is grown (Optuna's fANOVA: 64 trees, depth 64, split at 2).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub trees: usize,
    pub max_depth: usize,
    pub min_samples_split: usize,
    /// Each tree's bootstrap draws at most this many rows: the cost of a
    /// forest stays bounded on a sweep of 100k trials.
    pub max_samples: usize,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            trees: 64,
            max_depth: 64,
            min_samples_split: 2,
            max_samples: 4096,
            seed: 0,
        }
    }
}

/// Which side of a split a point goes to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Numeric: `x < t` goes left.
    Below(f64),
    /// Categorical: categories whose bit is set go left.
    In(u64),
}

#[derive(Debug, Clone)]
enum Node {
    Leaf(f64),
    Split {
        feature: usize,
        rule: Rule,
        left: usize,
        right: usize,
    },
}

/// One fitted tree.
#[derive(Debug, Clone)]
pub struct Tree {
    nodes: Vec<Node>,
}

/// A region of the space: per feature an interval `[lo, hi)` or a set of categories.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Extent {
    Interval(f64, f64),
    Categories(u64),
}

/// A leaf of a tree: its region and its prediction.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub extents: Vec<Extent>,
    pub value: f64,
}

/// Fits `opts.trees` trees on rows `x` (one value per feature) and targets `y`.
pub fn fit(features: &[Feature], x: &[Vec<f64>], y: &[f64], opts: &Options) -> Vec<Tree> {
    let n = y.len();
    if n == 0 {
        return Vec::new();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let draws = n.min(opts.max_samples.max(1));
    (0..opts.trees)
        .map(|_| {
            let sample: Vec<usize> = (0..draws).map(|_| rng.random_range(0..n)).collect();
            // Each feature's rows sorted by its value once; splits keep the order.
            let sorted: Vec<Vec<usize>> = (0..features.len())
                .map(|f| {
                    let mut rows = sample.clone();
                    rows.sort_by(|a, b| x[*a][f].total_cmp(&x[*b][f]));
                    rows
                })
                .collect();
            let mut tree = Tree { nodes: Vec::new() };
            let data = Data { features, x, y };
            grow(&mut tree, &data, &sample, sorted, 0, opts);
            tree
        })
        .collect()
}

/// What a tree is fitted on.
struct Data<'a> {
    features: &'a [Feature],
    x: &'a [Vec<f64>],
    y: &'a [f64],
}

/// Grows the subtree of `rows` (`sorted`: the same rows in each feature's
/// order); the index of its root.
fn grow(
    tree: &mut Tree,
    data: &Data,
    rows: &[usize],
    sorted: Vec<Vec<usize>>,
    depth: usize,
    opts: &Options,
) -> usize {
    let mean = rows.iter().map(|&i| data.y[i]).sum::<f64>() / rows.len() as f64;
    let at = tree.nodes.len();
    tree.nodes.push(Node::Leaf(mean));
    if depth >= opts.max_depth || rows.len() < opts.min_samples_split.max(2) {
        return at;
    }
    let Some((feature, rule)) = best_split(data, rows, &sorted) else {
        return at;
    };
    let left_of = |i: &usize| goes_left(rule, data.x[*i][feature]);
    let (l, r): (Vec<usize>, Vec<usize>) = rows.iter().partition(|i| left_of(i));
    let (mut sl, mut sr) = (Vec::new(), Vec::new());
    for list in sorted {
        let (a, b): (Vec<usize>, Vec<usize>) = list.into_iter().partition(left_of);
        sl.push(a);
        sr.push(b);
    }
    let left = grow(tree, data, &l, sl, depth + 1, opts);
    let right = grow(tree, data, &r, sr, depth + 1, opts);
    tree.nodes[at] = Node::Split {
        feature,
        rule,
        left,
        right,
    };
    at
}

fn goes_left(rule: Rule, v: f64) -> bool {
    match rule {
        Rule::Below(t) => v < t,
        Rule::In(mask) => mask & (1u64 << (v as usize).min(MAX_LEVELS - 1)) != 0,
    }
}

/// The split of `rows` that lowers the squared error most, if any does:
/// for a number, between two neighbouring values; for categories, between
/// two of them ordered by their mean target (Breiman's ordering).
fn best_split(data: &Data, rows: &[usize], sorted: &[Vec<usize>]) -> Option<(usize, Rule)> {
    let y = data.y;
    let total: f64 = rows.iter().map(|&i| y[i]).sum();
    let n = rows.len() as f64;
    // Minimising SSE is maximising sum_left^2/n_left + sum_right^2/n_right.
    let base = total * total / n;
    let least = 1e-12 * (1.0 + base.abs());
    let gain = |left: f64, k: f64| {
        let right = total - left;
        left * left / k + right * right / (n - k) - base
    };
    let mut best: Option<(f64, usize, Rule)> = None;
    let mut consider = |g: f64, f: usize, rule: Rule| {
        if g > least && best.as_ref().is_none_or(|b| g > b.0) {
            best = Some((g, f, rule));
        }
    };
    for (f, feature) in data.features.iter().enumerate() {
        match feature {
            Feature::Numeric { .. } => {
                let list = &sorted[f];
                let mut left = 0.0;
                for k in 1..list.len() {
                    left += y[list[k - 1]];
                    let (a, b) = (data.x[list[k - 1]][f], data.x[list[k]][f]);
                    if b > a {
                        consider(gain(left, k as f64), f, Rule::Below((a + b) / 2.0));
                    }
                }
            }
            Feature::Categorical { levels } => {
                let mut sums = vec![(0.0f64, 0usize); *levels];
                for &i in rows {
                    let c = (data.x[i][f] as usize).min(levels - 1);
                    sums[c].0 += y[i];
                    sums[c].1 += 1;
                }
                let mut present: Vec<usize> = (0..*levels).filter(|c| sums[*c].1 > 0).collect();
                present.sort_by(|a, b| {
                    let mean = |c: usize| sums[c].0 / sums[c].1 as f64;
                    mean(*a).total_cmp(&mean(*b))
                });
                let (mut left, mut k, mut mask) = (0.0, 0usize, 0u64);
                for c in &present[..present.len().saturating_sub(1)] {
                    left += sums[*c].0;
                    k += sums[*c].1;
                    mask |= 1u64 << c;
                    consider(gain(left, k as f64), f, Rule::In(mask));
                }
            }
        }
    }
    best.map(|(_, f, rule)| (f, rule))
}

impl Tree {
    /// The tree's prediction at a point.
    pub fn predict(&self, point: &[f64]) -> f64 {
        let mut at = 0;
        loop {
            match &self.nodes[at] {
                Node::Leaf(v) => return *v,
                Node::Split {
                    feature,
                    rule,
                    left,
                    right,
                } => {
                    at = if goes_left(*rule, point[*feature]) {
                        *left
                    } else {
                        *right
                    }
                }
            }
        }
    }

    /// The leaves with the regions of `features`' space they cover; together
    /// they tile it. Categories absent from a split's rows go right.
    pub fn leaves(&self, features: &[Feature]) -> Vec<Leaf> {
        let whole: Vec<Extent> = features
            .iter()
            .map(|f| match f {
                Feature::Numeric { lo, hi } => Extent::Interval(*lo, *hi),
                Feature::Categorical { levels } => Extent::Categories(all_levels(*levels)),
            })
            .collect();
        let mut out = Vec::new();
        let mut stack = vec![(0usize, whole)];
        while let Some((at, extents)) = stack.pop() {
            match &self.nodes[at] {
                Node::Leaf(value) => out.push(Leaf {
                    extents,
                    value: *value,
                }),
                Node::Split {
                    feature,
                    rule,
                    left,
                    right,
                } => {
                    let (mut l, mut r) = (extents.clone(), extents);
                    match (*rule, l[*feature]) {
                        (Rule::Below(t), Extent::Interval(a, b)) => {
                            l[*feature] = Extent::Interval(a, t.clamp(a, b));
                            r[*feature] = Extent::Interval(t.clamp(a, b), b);
                        }
                        (Rule::In(mask), Extent::Categories(set)) => {
                            l[*feature] = Extent::Categories(set & mask);
                            r[*feature] = Extent::Categories(set & !mask);
                        }
                        _ => unreachable!("a rule matches its feature's kind"),
                    }
                    stack.push((*left, l));
                    stack.push((*right, r));
                }
            }
        }
        out
    }
}

/// The bit set of categories `0..levels`.
pub fn all_levels(levels: usize) -> u64 {
    if levels >= 64 {
        u64::MAX
    } else {
        (1u64 << levels) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_learnt_and_its_leaves_tile_the_space() {
        let features = [
            Feature::Numeric { lo: 0.0, hi: 1.0 },
            Feature::Categorical { levels: 3 },
        ];
        let x: Vec<Vec<f64>> = (0..60)
            .map(|i| vec![i as f64 / 60.0, (i % 3) as f64])
            .collect();
        let y: Vec<f64> = x
            .iter()
            .map(|p| if p[0] < 0.5 { 0.0 } else { 1.0 } + if p[1] == 2.0 { 5.0 } else { 0.0 })
            .collect();
        let trees = fit(&features, &x, &y, &Options::default());
        assert_eq!(trees.len(), 64);
        let t = &trees[0];
        assert_eq!(t.predict(&[0.1, 0.0]), 0.0);
        assert_eq!(t.predict(&[0.9, 2.0]), 6.0);
        let volume: f64 = t
            .leaves(&features)
            .iter()
            .map(|l| {
                l.extents
                    .iter()
                    .map(|e| match e {
                        Extent::Interval(a, b) => b - a,
                        Extent::Categories(c) => c.count_ones() as f64 / 3.0,
                    })
                    .product::<f64>()
            })
            .sum();
        assert!((volume - 1.0).abs() < 1e-9, "{volume}");
    }

    #[test]
    fn the_same_seed_grows_the_same_forest() {
        let features = [Feature::Numeric { lo: 0.0, hi: 1.0 }];
        let x: Vec<Vec<f64>> = (0..30).map(|i| vec![(i * 7 % 30) as f64 / 30.0]).collect();
        let y: Vec<f64> = x.iter().map(|p| (p[0] * 9.0).sin()).collect();
        let grow = |seed| {
            let opts = Options {
                seed,
                ..Options::default()
            };
            let trees = fit(&features, &x, &y, &opts);
            let at = [0.05, 0.33, 0.71];
            trees
                .iter()
                .flat_map(|t| at.map(|p| t.predict(&[p])))
                .collect::<Vec<f64>>()
        };
        assert_eq!(grow(3), grow(3));
        assert_ne!(grow(3), grow(4));
    }
}
