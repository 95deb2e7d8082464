//! The trials a sweep queues: at submission (`plan`) and when its budget is
//! raised (`extend`), each with its seed and where its configuration came from.
use super::{complete, params_of, random, trial_seed};
use crate::spec::{Method, SweepSpec, TrialParams};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

/// Where a trial's configuration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The sweep's method.
    Search,
    /// A user's `POST /v1/sweeps/{id}/trials`.
    Enqueued,
    /// The spec's `warm_start.trials`.
    WarmStart,
}

impl Source {
    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Search => "search",
            Source::Enqueued => "enqueued",
            Source::WarmStart => "warm_start",
        }
    }
}

/// One trial of a sweep as planned: what it trains with, and its seed.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTrial {
    /// Its configuration; None for bayes, sampled when a worker claims it.
    pub params: Option<TrialParams>,
    /// The seed of its own randomness (see `trial_seed`).
    pub seed: u64,
    pub source: Source,
}

/// The draws that fill the parameters a warm-start trial leaves out come
/// from a stream of their own: the search's stream is that of the same
/// sweep without a warm start.
const WARM_STREAM: u64 = 0x5741_524d_5354_5254;

/// The configurations fixed at submission, in trial-number order (see `plan`).
pub fn configurations(spec: &SweepSpec) -> Vec<Option<TrialParams>> {
    plan(spec).into_iter().map(|t| t.params).collect()
}

/// The trials a new sweep queues, in trial-number order: its warm-start
/// trials first, then its method's up to `max_trials`: every grid point
/// (up to `max_trials`), random draws, or bayes trials without a
/// configuration (sampled when claimed). Fewer than `max_trials` when a
/// discrete space has no more configurations: no configuration is planned twice.
pub fn plan(spec: &SweepSpec) -> Vec<PlannedTrial> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed() ^ WARM_STREAM);
    let warm: Vec<TrialParams> = spec
        .warm_start()
        .trials
        .iter()
        .map(|given| complete(spec, given, &mut rng))
        .collect();
    let taken: HashSet<String> = warm.iter().map(|p| spec.config_key(p)).collect();
    let search = Extension {
        taken: &taken,
        position: 0,
        first_number: warm.len() as u32,
        count: (spec.max_trials() as usize).saturating_sub(warm.len()),
    };
    let mut trials: Vec<PlannedTrial> = warm
        .into_iter()
        .zip(0..)
        .map(|(params, number)| PlannedTrial {
            params: Some(params),
            seed: trial_seed(spec.seed(), number),
            source: Source::WarmStart,
        })
        .collect();
    trials.extend(extend(spec, &search));
    trials
}

/// Where a sweep's search stands, for more trials.
pub struct Extension<'a> {
    /// The `config_key` of every configuration trained, training or queued.
    pub taken: &'a HashSet<String>,
    /// How far the method's own order has gone: trials it planned so far
    /// (an enqueued trial took the place of one of them).
    pub position: usize,
    /// The number of the first new trial.
    pub first_number: u32,
    /// How many trials are wanted.
    pub count: usize,
}

/// `count` more search trials: the grid's next points not taken; random's
/// seeded stream continued (on a discrete space, its draws not taken, then
/// the untried configurations in grid order); bayes trials to sample when
/// claimed. Fewer when a discrete space has no more.
pub fn extend(spec: &SweepSpec, e: &Extension) -> Vec<PlannedTrial> {
    let configs: Vec<Option<TrialParams>> = match spec.method() {
        Method::Bayes => vec![None; e.count],
        Method::Grid => spec
            .grid()
            .map(|grid| {
                grid.map(|chosen| params_of(&chosen))
                    .filter(|p| !e.taken.contains(&spec.config_key(p)))
                    .take(e.count)
                    .map(Some)
                    .collect()
            })
            .unwrap_or_default(),
        Method::Random => match spec.space_size() {
            Some(size) => fresh(spec, e.taken, e.count, size)
                .into_iter()
                .map(Some)
                .collect(),
            None => {
                let mut rng = ChaCha8Rng::seed_from_u64(spec.seed());
                let mut drawn: Vec<TrialParams> = (0..e.position + e.count)
                    .map(|_| random(spec, &mut rng))
                    .collect();
                // With `fuse: N`, each block of N trials takes the shape,
                // optimizer and batch size its first drew, so that a group
                // fills; the rest is drawn per trial as without it.
                let fuse = spec.fuse().unwrap_or(1).max(1) as usize;
                for i in 0..drawn.len() {
                    let lead = i - i % fuse;
                    if lead != i {
                        drawn[i] = drawn[lead].with_group_shape(drawn[i].clone());
                    }
                }
                drawn.into_iter().skip(e.position).map(Some).collect()
            }
        },
    };
    configs
        .into_iter()
        .zip(e.first_number..)
        .map(|(params, number)| PlannedTrial {
            params,
            seed: trial_seed(spec.seed(), number),
            source: Source::Search,
        })
        .collect()
}

/// Up to `count` random configurations of a discrete space of `size`, none
/// in `taken` nor twice: the seeded stream's draws from its start, skipping
/// repeats, and once repeats dominate, the untried ones in grid order.
fn fresh(spec: &SweepSpec, taken: &HashSet<String>, count: usize, size: u64) -> Vec<TrialParams> {
    let mut seen = taken.clone();
    let mut out = Vec::with_capacity(count);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed());
    let mut draws = 0usize;
    let budget = 64 * (count + taken.len()) + 1024;
    while out.len() < count && (seen.len() as u64) < size && draws < budget {
        draws += 1;
        let params = random(spec, &mut rng);
        if seen.insert(spec.config_key(&params)) {
            out.push(params);
        }
    }
    if out.len() < count && (seen.len() as u64) < size {
        let rest: Vec<TrialParams> = match spec.untried(&seen) {
            Some(untried) => untried.take(count - out.len()).collect(),
            None => Vec::new(),
        };
        out.extend(rest);
    }
    out
}
