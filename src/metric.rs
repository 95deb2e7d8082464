//! The metric a sweep optimises and its goal: below both `spec`, which
//! parses them, and `schedule`, which ranks curves by the goal, so that
//! neither imports the other for them. Pure.
use serde::{Deserialize, Serialize};

/// Whether a bigger metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    Maximize,
    Minimize,
}

impl Goal {
    /// Both goals.
    pub const ALL: [Goal; 2] = [Goal::Maximize, Goal::Minimize];

    /// The goal as written in a spec and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Maximize => "maximize",
            Goal::Minimize => "minimize",
        }
    }
}

crate::names::text_enum!(Goal, "goal");

/// The metrics a sweep can optimise, as stored in every epoch report.
pub const METRICS: &[&str] = &["val_accuracy", "val_loss", "train_loss"];

/// The metric a sweep optimises, and in which direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Metric {
    pub name: String,
    pub goal: Goal,
}

impl Metric {
    /// Whether `a` is strictly better than `b` under this metric's goal.
    pub fn better(&self, a: f64, b: f64) -> bool {
        match self.goal {
            Goal::Maximize => a > b,
            Goal::Minimize => a < b,
        }
    }
}
