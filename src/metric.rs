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

/// A metric a sweep can optimise: one of the values every epoch report holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricName {
    ValAccuracy,
    ValLoss,
    TrainLoss,
}

impl MetricName {
    /// Every metric.
    pub const ALL: [MetricName; 3] = [
        MetricName::ValAccuracy,
        MetricName::ValLoss,
        MetricName::TrainLoss,
    ];

    /// The metric as written in a spec, stored, and named by its column.
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricName::ValAccuracy => "val_accuracy",
            MetricName::ValLoss => "val_loss",
            MetricName::TrainLoss => "train_loss",
        }
    }

    /// Whether a bigger value is better: accuracy is, losses are not.
    pub fn higher_is_better(self) -> bool {
        match self {
            MetricName::ValAccuracy => true,
            MetricName::ValLoss | MetricName::TrainLoss => false,
        }
    }
}

crate::names::text_enum!(MetricName, "metric");

/// The metrics' names, in `MetricName::ALL`'s order.
pub const METRICS: [&str; 3] = [
    MetricName::ValAccuracy.as_str(),
    MetricName::ValLoss.as_str(),
    MetricName::TrainLoss.as_str(),
];

/// The metric a sweep optimises, and in which direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Metric {
    #[schema(value_type = String)]
    pub name: MetricName,
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
