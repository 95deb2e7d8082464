//! The states of trials and sweeps (pure types). The database, the API and
//! the event log spell them as `as_str` does; the compiler, not a string
//! compare, catches a misspelt state.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a trial stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialState {
    /// Waiting for a worker to claim it.
    Queued,
    /// Claimed by a worker, under a lease.
    Running,
    /// Trained every epoch.
    Completed,
    /// Stopped early by the scheduler.
    Pruned,
    /// Could not go on (diverged, out of attempts, timeout, ...).
    Failed,
    /// Its sweep ended before it did.
    Cancelled,
}

/// Where a sweep stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepState {
    /// Its trials may still be claimed or are training.
    Running,
    /// Every trial has ended, or a budget was spent and nothing runs.
    Completed,
    /// Cancelled by a user.
    Cancelled,
}

/// A state's text that names none of its values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a {what} state")]
pub struct UnknownState {
    /// `trial` or `sweep`.
    pub what: &'static str,
    pub value: String,
}

impl TrialState {
    /// Every trial state, in the order of their life.
    pub const ALL: [TrialState; 6] = [
        TrialState::Queued,
        TrialState::Running,
        TrialState::Completed,
        TrialState::Pruned,
        TrialState::Failed,
        TrialState::Cancelled,
    ];

    /// The state as the database, the API and events spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            TrialState::Queued => "queued",
            TrialState::Running => "running",
            TrialState::Completed => "completed",
            TrialState::Pruned => "pruned",
            TrialState::Failed => "failed",
            TrialState::Cancelled => "cancelled",
        }
    }

    /// Whether the trial has ended: no attempt will train it again.
    pub const fn is_ended(self) -> bool {
        !matches!(self, TrialState::Queued | TrialState::Running)
    }
}

impl SweepState {
    /// Every sweep state.
    pub const ALL: [SweepState; 3] = [
        SweepState::Running,
        SweepState::Completed,
        SweepState::Cancelled,
    ];

    /// The state as the database, the API and events spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            SweepState::Running => "running",
            SweepState::Completed => "completed",
            SweepState::Cancelled => "cancelled",
        }
    }

    /// Whether the sweep has ended: no trial of it starts any more.
    pub const fn is_ended(self) -> bool {
        !matches!(self, SweepState::Running)
    }
}

impl FromStr for TrialState {
    type Err = UnknownState;

    fn from_str(text: &str) -> Result<TrialState, UnknownState> {
        TrialState::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| UnknownState {
                what: "trial",
                value: text.to_string(),
            })
    }
}

impl FromStr for SweepState {
    type Err = UnknownState;

    fn from_str(text: &str) -> Result<SweepState, UnknownState> {
        SweepState::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| UnknownState {
                what: "sweep",
                value: text.to_string(),
            })
    }
}

impl fmt::Display for TrialState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for SweepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_text_and_serde_agrees() {
        for state in TrialState::ALL {
            assert_eq!(state.as_str().parse::<TrialState>(), Ok(state));
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::json!(state.as_str())
            );
        }
        for state in SweepState::ALL {
            assert_eq!(state.as_str().parse::<SweepState>(), Ok(state));
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::json!(state.as_str())
            );
        }
    }

    #[test]
    fn an_unknown_state_is_an_error_naming_it() {
        let e = "Running".parse::<TrialState>().unwrap_err();
        assert_eq!(e.to_string(), "`Running` is not a trial state");
        let e = "pruned".parse::<SweepState>().unwrap_err();
        assert_eq!(e.to_string(), "`pruned` is not a sweep state");
    }
}
