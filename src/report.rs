//! What a trial reports while it trains: shared by training, the queue and the API.
use crate::metric::MetricName;
use serde::{Deserialize, Serialize};

/// The metrics of one trial after one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EpochReport {
    /// 1 for the first epoch.
    pub epoch: i64,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    /// Wall seconds of the epoch, validation included.
    pub seconds: f64,
}

impl EpochReport {
    /// The value of a metric a spec can name.
    pub fn metric(&self, name: MetricName) -> f64 {
        match name {
            MetricName::ValAccuracy => self.val_accuracy,
            MetricName::ValLoss => self.val_loss,
            MetricName::TrainLoss => self.train_loss,
        }
    }
}

/// The mean training loss of the batches since the previous sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchLoss {
    /// Batches trained so far in the trial, counted from 1.
    pub step: i64,
    pub epoch: i64,
    pub loss: f64,
}
