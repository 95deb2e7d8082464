//! The server's caps on what one sweep may ask for (`[limits]` in
//! config.toml): they bound what a spec costs to parse, store and train
//! before any of that work starts.
use serde::{Deserialize, Serialize};

/// The server's caps on what one sweep may ask for. Every field has a
/// default, so a config that names only some of them still loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most learnable weights a trial's network may have.
    pub max_parameters: u64,
    /// Most epochs a trial may train.
    pub max_epochs: u32,
    /// Most trials one sweep may run.
    pub max_trials: u32,
    /// Most minutes one attempt of a trial may train (`trial_timeout_minutes`
    /// is at most this, and this when a spec gives none).
    pub max_trial_minutes: u32,
    /// Most hidden layers a trial's network may have.
    pub max_hidden_layers: u32,
    /// Most units one hidden layer may have.
    pub max_layer_width: u32,
    /// Largest batch size.
    pub max_batch_size: u32,
    /// Most entries in one `values`, `probabilities` or `when` list.
    pub max_values: u32,
    /// Deepest nesting of lists and mappings in a spec document.
    pub max_nesting: u32,
    /// Most keys and values (scalars, lists, mappings) in a spec document,
    /// YAML aliases expanded.
    pub max_spec_nodes: u32,
}

impl Limits {
    /// A day.
    pub const DEFAULT_MAX_TRIAL_MINUTES: u32 = 24 * 60;

    /// Caps no real sweep of this service meets; config.toml's `[limits]` says why each.
    pub const DEFAULT: Limits = Limits {
        max_parameters: 20_000_000,
        max_epochs: 200,
        max_trials: 10_000,
        max_trial_minutes: Self::DEFAULT_MAX_TRIAL_MINUTES,
        max_hidden_layers: 32,
        max_layer_width: 65_536,
        max_batch_size: 65_536,
        max_values: 1_000,
        max_nesting: 32,
        max_spec_nodes: 100_000,
    };

    /// No cap at all: for specs that were checked against the caps when
    /// they were submitted.
    pub const fn unlimited() -> Limits {
        Limits {
            max_parameters: u64::MAX,
            max_epochs: u32::MAX,
            max_trials: u32::MAX,
            max_trial_minutes: u32::MAX,
            max_hidden_layers: u32::MAX,
            max_layer_width: u32::MAX,
            max_batch_size: u32::MAX,
            max_values: u32::MAX,
            max_nesting: u32::MAX,
            max_spec_nodes: u32::MAX,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
