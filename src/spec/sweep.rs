//! `SweepSpec`: a validated sweep, how one is built, and what it answers.
use super::validate::{validate, Admission};
use super::warm::WarmStart;
use super::{
    applies, AtDeadline, Combinations, Condition, DatasetShape, Format, Limits, Method, Metric,
    ParamName, ParamSpec, SpecError, Target, TrialParams,
};
use crate::schedule::EarlyTerminate;
use serde_json::Value;
use std::collections::BTreeMap;

/// A validated sweep: every field is in range and every parameter well-formed.
/// The fields are private to `spec`: only `parse`, `from_document` and
/// `from_stored` (through `validate`) build one, so no caller can hold an
/// invalid spec; read it through its accessors.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    pub(super) name: String,
    pub(super) dataset: String,
    pub(super) method: Method,
    pub(super) metric: Metric,
    /// Trials the sweep runs: as given, or the grid's size (capped by `max_trials`).
    pub(super) max_trials: u32,
    pub(super) max_parallel: Option<u32>,
    /// Trials trained as one fused group; None: the server's `fuse`.
    pub(super) fuse: Option<u32>,
    pub(super) seed: u64,
    pub(super) parameters: BTreeMap<ParamName, ParamSpec>,
    /// Parameters that apply only when another has given values.
    pub(super) conditions: BTreeMap<ParamName, Condition>,
    /// Every parameter, parents before those whose `when` names them.
    pub(super) order: Vec<ParamName>,
    /// Early stopping of hopeless trials, if any.
    pub(super) early_terminate: Option<EarlyTerminate>,
    /// Minutes after submission past which no trial starts.
    pub(super) max_minutes: Option<f64>,
    /// What running trials do when `max_minutes` is up.
    pub(super) at_max_minutes: AtDeadline,
    /// A metric value that completes the sweep as soon as a trial reaches it.
    pub(super) target: Option<Target>,
    /// Bayes draws at random until this many trials have finished.
    pub(super) n_startup_trials: u32,
    /// Minutes one attempt of a trial may train before it fails `timeout`.
    pub(super) trial_timeout_minutes: f64,
    /// The spec as a JSON document with defaults filled in, as stored.
    pub(super) document: Value,
    /// Earlier sweeps and given configurations the sweep starts from.
    pub(super) warm_start: WarmStart,
    /// What the spec is accepted with but probably does not mean.
    pub(super) warnings: Vec<String>,
}

impl SweepSpec {
    /// The sweep's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The dataset its trials train on.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// How configurations are chosen.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The metric the sweep optimises, and its goal.
    pub fn metric(&self) -> &Metric {
        &self.metric
    }

    /// Trials the sweep runs: as given, or the grid's size (capped by `max_trials`).
    pub fn max_trials(&self) -> u32 {
        self.max_trials
    }

    /// Trials of this sweep that may run at once; None for no cap.
    pub fn max_parallel(&self) -> Option<u32> {
        self.max_parallel
    }

    /// How many of its trials a worker trains as one fused group (1:
    /// one at a time); None leaves it to the server's `fuse` setting.
    pub fn fuse(&self) -> Option<u32> {
        self.fuse
    }

    /// The seed of the sweep's randomness.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Each parameter's search space.
    pub fn parameters(&self) -> &BTreeMap<ParamName, ParamSpec> {
        &self.parameters
    }

    /// Parameters that apply only when another has given values.
    pub fn conditions(&self) -> &BTreeMap<ParamName, Condition> {
        &self.conditions
    }

    /// Every parameter, parents before those whose `when` names them.
    pub fn order(&self) -> &[ParamName] {
        &self.order
    }

    /// Early stopping of hopeless trials, if any.
    pub fn early_terminate(&self) -> Option<&EarlyTerminate> {
        self.early_terminate.as_ref()
    }

    /// Minutes after submission past which no trial starts.
    pub fn max_minutes(&self) -> Option<f64> {
        self.max_minutes
    }

    /// What running trials do when `max_minutes` is up.
    pub fn at_max_minutes(&self) -> AtDeadline {
        self.at_max_minutes
    }

    /// A metric value that completes the sweep as soon as a trial reaches it.
    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref()
    }

    /// Bayes draws at random until this many trials have finished.
    pub fn n_startup_trials(&self) -> u32 {
        self.n_startup_trials
    }

    /// Minutes one attempt of a trial may train before it fails `timeout`.
    pub fn trial_timeout_minutes(&self) -> f64 {
        self.trial_timeout_minutes
    }

    /// The spec as a JSON document with defaults filled in, as stored.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Earlier sweeps and given configurations the sweep starts from.
    pub fn warm_start(&self) -> &WarmStart {
        &self.warm_start
    }

    /// What the spec is accepted with but probably does not mean, e.g. a
    /// loss maximized.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

impl SweepSpec {
    /// Parses a spec body in `format`. `dataset` answers the shape of a dataset
    /// name, or why it cannot be trained on; `fallback_seed` is used when the
    /// spec gives no seed.
    pub fn parse(
        body: &str,
        format: Format,
        limits: &Limits,
        dataset: &dyn Fn(&str) -> Result<DatasetShape, String>,
        fallback_seed: u64,
    ) -> Result<SweepSpec, SpecError> {
        // Bounded before any parser runs: see `scan` and `document`.
        let document = super::document::read(body, format, limits)?;
        Self::from_document(document, limits, dataset, fallback_seed)
    }

    /// The spec of a stored sweep, validated when it was submitted; the
    /// server's caps and dataset were checked then and are not again, nor
    /// are rules newer than the sweep (distinct values, the name's characters).
    pub fn from_stored(document: &Value) -> Result<SweepSpec, SpecError> {
        let any = |_: &str| {
            Ok(DatasetShape {
                features: 1,
                classes: 1,
            })
        };
        validate(document.clone(), Admission::Stored, &any, 0)
    }

    /// The grid's configurations in order (see `grid`): each the parameters
    /// that apply, with their values. Needs `value` or `values` for every
    /// parameter, and distinct values, as a grid spec has.
    pub fn grid(&self) -> Result<Combinations, SpecError> {
        Combinations::new(&self.parameters, &self.conditions, &self.order)
    }

    /// Whether `name` applies given the values chosen so far (see `when`).
    pub fn applies(&self, name: ParamName, chosen: &BTreeMap<ParamName, Value>) -> bool {
        applies(self.conditions.get(&name), chosen)
    }

    /// The parameters that applied to a trial, with their values.
    pub fn active_params(&self, params: &TrialParams) -> BTreeMap<ParamName, Value> {
        let mut chosen = BTreeMap::new();
        for name in &self.order {
            if self.applies(*name, &chosen) {
                chosen.insert(*name, params.get(*name));
            }
        }
        chosen
    }

    /// Validates a new spec already read into a JSON value.
    pub fn from_document(
        document: Value,
        limits: &Limits,
        dataset: &dyn Fn(&str) -> Result<DatasetShape, String>,
        fallback_seed: u64,
    ) -> Result<SweepSpec, SpecError> {
        validate(document, Admission::New(limits), dataset, fallback_seed)
    }
}
