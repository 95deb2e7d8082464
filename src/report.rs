//! What a trial reports while it trains: shared by training, the queue and the API.
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
    /// The value of a metric a spec can name (`spec::METRICS`).
    pub fn metric(&self, name: &str) -> f64 {
        match name {
            "val_loss" => self.val_loss,
            "train_loss" => self.train_loss,
            _ => self.val_accuracy,
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
