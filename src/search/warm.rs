//! Bayes beyond its own sweep: the finished trials of earlier sweeps
//! (`warm_start.sweeps`) in its history, and no configuration sampled
//! twice on a discrete space.
use super::tpe::Observation;
use super::{suggest_with, trial_seed};
use crate::spec::{SweepSpec, TrialParams};
use std::collections::HashSet;

/// Draws TPE may make before a discrete space's next untried configuration
/// is taken in grid order instead.
const RESAMPLES: u32 = 8;

/// An earlier sweep's finished trials (`source` its spec) as observations
/// for `spec`'s TPE: the parameters both sweeps search with a value this
/// space can give; the others absent, so TPE models them from this sweep alone.
pub fn warm_observations(
    spec: &SweepSpec,
    source: &SweepSpec,
    finished: &[(TrialParams, Option<f64>)],
) -> Vec<Observation> {
    finished
        .iter()
        .map(|(params, value)| Observation {
            params: source
                .active_params(params)
                .into_iter()
                .filter(|(name, value)| spec.contains(*name, value))
                .collect(),
            value: value.unwrap_or(f64::NAN),
        })
        .collect()
}

/// A configuration by TPE over the sweep's own history and `warm`, not one
/// of `taken` (the `config_key`s of the sweep's trials with a
/// configuration) when the space is discrete: drawn again a few times,
/// then the first untried one in grid order. None when a discrete space has
/// no untried configuration left.
pub fn suggest_untried(
    spec: &SweepSpec,
    finished: &[(TrialParams, Option<f64>)],
    warm: &[Observation],
    taken: &HashSet<String>,
    seed: u64,
) -> Option<TrialParams> {
    let size = spec.space_size();
    if size.is_some_and(|size| taken.len() as u64 >= size) {
        return None;
    }
    for attempt in 0..RESAMPLES {
        let seed = match attempt {
            0 => seed,
            n => trial_seed(seed, n),
        };
        let params = suggest_with(spec, finished, warm, seed);
        if size.is_none() || !taken.contains(&spec.config_key(&params)) {
            return Some(params);
        }
    }
    spec.untried(taken)?.next()
}
