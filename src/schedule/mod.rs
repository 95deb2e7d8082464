//! Early stopping (a sweep's `early_terminate`): after each epoch report, should
//! the trial go on? Pure functions of the sweep's curves: no I/O, no clock.
use crate::metric::Goal;
use serde::{Deserialize, Serialize};

/// The early-stopping rule of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EarlyTerminate {
    /// Asynchronous successive halving (ASHA) at rungs `min_iter * eta^k`.
    Hyperband { min_iter: u32, eta: u32 },
    /// Stop a trial whose best so far is worse than the median of the others.
    Median { min_iter: u32 },
}

/// What the scheduler decided about one epoch report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Whether the trial stops now (ends `pruned`).
    pub stop: bool,
    /// Why, in words a user reads.
    pub reason: String,
    /// The rung epoch, when this epoch is a rung (hyperband only).
    pub rung: Option<u32>,
}

/// Metric values of one trial by epoch: `values[0]` is epoch 1.
#[derive(Debug, Clone, Copy)]
pub struct Curve<'a> {
    /// The trial's id.
    pub trial: i64,
    /// The metric after each epoch reported so far.
    pub values: &'a [f64],
}

/// One trial as rung statistics see it: its curve, how many epochs it was
/// configured for, and whether the scheduler stopped it (state `pruned`).
#[derive(Debug, Clone, Copy)]
pub struct TrialProgress<'a> {
    /// The metric curve so far.
    pub curve: Curve<'a>,
    /// Epochs the trial was configured to train.
    pub max_epochs: u32,
    /// Whether it ended `pruned`, i.e. stopped after its last reported epoch.
    pub pruned: bool,
}

/// How many trials were judged at one rung and how many of them went on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RungStats {
    /// The rung's epoch.
    pub epoch: u32,
    /// Trials that reported this epoch while configured to train past it.
    pub reached: usize,
    /// Those of them the scheduler let continue.
    pub promoted: usize,
}

impl EarlyTerminate {
    /// The rung epochs up to `max_epochs` (inclusive): `min_iter * eta^k`; empty for median.
    pub fn rungs(&self, max_epochs: u32) -> Vec<u32> {
        let EarlyTerminate::Hyperband { min_iter, eta } = *self else {
            return Vec::new();
        };
        // Spec validation guarantees min_iter >= 1 and eta >= 2; guard anyway so
        // a bad rule cannot loop forever.
        let (mut rung, eta) = (u64::from(min_iter.max(1)), u64::from(eta.max(2)));
        let mut out = Vec::new();
        while rung <= u64::from(max_epochs) {
            out.push(rung as u32);
            rung *= eta;
        }
        out
    }

    /// Decides whether `trial` stops after reporting epoch `trial.values.len()`,
    /// given the curves of the sweep's other trials (any state, any length;
    /// never `trial` itself).
    ///
    /// Hyperband (ASHA as an asynchronous stopping rule, as Ray Tune's
    /// `AsyncHyperBandScheduler`): only rung epochs `r = min_iter * eta^k` can
    /// stop a trial. At rung `r` the values at epoch `r` of this trial and of
    /// every other trial that reached `r` are pooled; the cutoff is their
    /// `1 - 1/eta` quantile (linear interpolation between order statistics, as
    /// numpy's default) in the goal's direction, and the trial stops when its
    /// value is strictly worse than the cutoff. The first trial at a rung, and a
    /// trial equal to the cutoff, continue. Once all trials have arrived, those
    /// strictly above the cutoff are the top `1/eta`; while few have, the rule
    /// judges each arrival against those already there.
    ///
    /// Median (Optuna's `MedianPruner`, comparing like with like): from epoch
    /// `min_iter` on, the trial's best value so far is compared with the
    /// median, over the other trials that reached this epoch, of each one's
    /// best value up to this epoch; strictly worse stops. With no other trial
    /// at this epoch the trial continues.
    ///
    /// NaN counts as worse than any number. A `stop` at a trial's final epoch
    /// means nothing: the caller completes the trial instead.
    pub fn decide(&self, goal: Goal, trial: &Curve, others: &[Curve]) -> Decision {
        let epoch = trial.values.len();
        if epoch == 0 {
            return go_on("no epoch reported yet".into(), None);
        }
        let score = |x: f64| score(goal, x);
        match *self {
            EarlyTerminate::Hyperband { eta, .. } => {
                let Some(rung) = self.rungs(epoch as u32).last().copied() else {
                    return go_on(format!("epoch {epoch} is before the first rung"), None);
                };
                if rung as usize != epoch {
                    return go_on(format!("epoch {epoch} is not a rung"), None);
                }
                let mine = trial.values[epoch - 1];
                let mut pool: Vec<f64> = others
                    .iter()
                    .filter_map(|c| c.values.get(epoch - 1))
                    .map(|&x| score(x))
                    .collect();
                if pool.is_empty() {
                    return go_on(format!("rung {rung}: first trial to reach it"), Some(rung));
                }
                pool.push(score(mine));
                let eta = eta.max(2);
                let cutoff = quantile(&mut pool, 1.0 - 1.0 / f64::from(eta));
                let n = pool.len();
                let shown = (show(mine), show(unscore(goal, cutoff)));
                if score(mine) < cutoff {
                    Decision {
                        stop: true,
                        reason: format!(
                            "rung {rung}: {} is worse than the top-1/{eta} cutoff {} of {n} trials",
                            shown.0, shown.1
                        ),
                        rung: Some(rung),
                    }
                } else {
                    go_on(
                        format!(
                            "rung {rung}: {} is within the top-1/{eta} (cutoff {} of {n} trials)",
                            shown.0, shown.1
                        ),
                        Some(rung),
                    )
                }
            }
            EarlyTerminate::Median { min_iter } => {
                if epoch < min_iter as usize {
                    return go_on(format!("epoch {epoch} is before min_iter {min_iter}"), None);
                }
                let best = |values: &[f64]| {
                    values
                        .iter()
                        .map(|&x| score(x))
                        .fold(f64::NEG_INFINITY, f64::max)
                };
                let mine = best(trial.values);
                let mut pool: Vec<f64> = others
                    .iter()
                    .filter(|c| c.values.len() >= epoch)
                    .map(|c| best(&c.values[..epoch]))
                    .collect();
                if pool.is_empty() {
                    return go_on(format!("epoch {epoch}: no other trial reached it"), None);
                }
                let n = pool.len();
                let median = quantile(&mut pool, 0.5);
                let shown = (show(unscore(goal, mine)), show(unscore(goal, median)));
                if mine < median {
                    Decision {
                        stop: true,
                        reason: format!(
                            "epoch {epoch}: best {} is worse than the median {} of {n} trials",
                            shown.0, shown.1
                        ),
                        rung: None,
                    }
                } else {
                    go_on(
                        format!(
                            "epoch {epoch}: best {} is no worse than the median {} of {n} trials",
                            shown.0, shown.1
                        ),
                        None,
                    )
                }
            }
        }
    }
}

/// Trials alike for rung statistics: how far they got, how far they were
/// configured to go, whether they ended pruned, and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrialGroup {
    pub epochs_done: u32,
    pub max_epochs: u32,
    pub pruned: bool,
    pub count: usize,
}

/// Per rung of `rule` (those below the largest `max_epochs`, where a decision
/// can matter): how many trials were judged there and how many continued.
/// A trial was judged at rung `r` when it reported epoch `r` and was configured
/// for more than `r` epochs; it continued unless it was pruned right there.
/// Empty for median, which has no rungs.
pub fn rung_stats(rule: &EarlyTerminate, trials: &[TrialProgress]) -> Vec<RungStats> {
    let groups: Vec<TrialGroup> = trials
        .iter()
        .map(|t| TrialGroup {
            epochs_done: t.curve.values.len() as u32,
            max_epochs: t.max_epochs,
            pruned: t.pruned,
            count: 1,
        })
        .collect();
    rung_counts(rule, &groups)
}

/// `rung_stats` over groups of alike trials, as the store counts them.
pub fn rung_counts(rule: &EarlyTerminate, groups: &[TrialGroup]) -> Vec<RungStats> {
    let longest = groups.iter().map(|g| g.max_epochs).max().unwrap_or(0);
    rule.rungs(longest.saturating_sub(1))
        .into_iter()
        .map(|epoch| {
            let judged = groups
                .iter()
                .filter(|g| g.epochs_done >= epoch && g.max_epochs > epoch);
            let reached = judged.clone().map(|g| g.count).sum();
            let promoted = judged
                .filter(|g| !(g.pruned && g.epochs_done == epoch))
                .map(|g| g.count)
                .sum();
            RungStats {
                epoch,
                reached,
                promoted,
            }
        })
        .collect()
}

fn go_on(reason: String, rung: Option<u32>) -> Decision {
    Decision {
        stop: false,
        reason,
        rung,
    }
}

/// Maps a metric value so that bigger is better and NaN is worst.
fn score(goal: Goal, x: f64) -> f64 {
    match goal {
        _ if x.is_nan() => f64::NEG_INFINITY,
        Goal::Maximize => x,
        Goal::Minimize => -x,
    }
}

/// Back from a score to the metric's units (NaN for the worst, which only NaN reaches).
fn unscore(goal: Goal, s: f64) -> f64 {
    match goal {
        _ if s == f64::NEG_INFINITY => f64::NAN,
        Goal::Maximize => s,
        Goal::Minimize => -s,
    }
}

/// The `q` quantile of `values` by linear interpolation (numpy's default);
/// sorts `values`. An infinite neighbour wins the interpolation, so -inf
/// (NaN metrics) never turns into NaN.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let pos = q * (values.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos.fract());
    let (a, b) = (values[lo], values[(lo + 1).min(values.len() - 1)]);
    if frac == 0.0 || a == b || a.is_infinite() {
        a
    } else {
        a + frac * (b - a)
    }
}

/// A metric value for a reason string: four significant-ish digits.
fn show(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x == 0.0 || (1e-3..1e5).contains(&x.abs()) {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{x:.3e}")
    }
}

#[cfg(test)]
mod tests;
