//! The worker protocol, version 1: what a worker and the server say to
//! each other over HTTP (`/v1/worker/...`), as the types both sides
//! serialize. The server decides (samples at claim time, judges every epoch
//! report, keeps leases by its clock); a worker trains what it claimed and
//! writes only under the attempt it was given, so a write from an attempt
//! that lost its lease is refused (409 with `lease_lost`).
use crate::report::{BatchLoss, EpochReport};
use crate::spec::TrialParams;
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// The header naming the worker on a trial's routes.
pub const WORKER_HEADER: &str = "x-hypersweep-worker";

/// The header carrying a checkpoint's SHA-256 (lowercase hex).
pub const SHA256_HEADER: &str = "x-checkpoint-sha256";

/// Longest long poll a claim may ask for.
pub const MAX_WAIT_MS: u64 = 30_000;

/// Most trials one claim may ask for (a fused group's size).
pub const MAX_CLAIM: u32 = 256;

/// The prefix of the ids of the workers a server starts on its own host;
/// they die with it (the kernel kills them), so a starting server takes
/// their trials back at once instead of waiting for their leases.
pub const LOCAL_PREFIX: &str = "local.";

/// `POST /v1/worker/register`: who the worker is and what it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// The id the worker asks for; None lets the server choose one.
    #[serde(default)]
    pub id: Option<String>,
    /// The worker's host name.
    pub host: String,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Trials it trains at once.
    pub slots: u32,
    /// libtorch threads per trial.
    pub threads: u32,
    /// Memory of its host, in bytes (0: unknown).
    #[serde(default)]
    pub memory_bytes: u64,
    /// The protocol version it speaks.
    pub protocol: u32,
}

/// The answer to a registration: the worker's id and the server's settings
/// that training follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registered {
    pub worker_id: String,
    pub protocol: u32,
    /// The length of every lease, by the server's clock.
    pub lease_ms: u64,
    pub batch_loss_every: u32,
    pub validation_fraction: f64,
    pub max_attempts: u32,
}

/// `POST /v1/worker/claim`: up to `max` trials, waiting up to `wait_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    pub worker_id: String,
    #[serde(default = "one")]
    pub max: u32,
    #[serde(default)]
    pub wait_ms: u64,
    /// The trials may be one fused group: of one sweep, fusing with the
    /// first (`TrialParams::fuses_with`), as many as the sweep's `fuse`
    /// (or the server's) allows, up to `max`. False: up to `max` trials of
    /// any sweeps, each trained on its own.
    #[serde(default)]
    pub group: bool,
    /// A trial of a fused group this worker trains now: the trials claimed
    /// join it, so they fuse with it (of its sweep), up to `max`.
    #[serde(default)]
    pub join: Option<i64>,
}

fn one() -> u32 {
    1
}

/// The answer to a claim: none, one or several trials, each under its own lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claimed {
    pub trials: Vec<Assignment>,
}

/// One claimed trial with everything needed to train it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub trial_id: i64,
    pub sweep_id: i64,
    pub number: i64,
    /// Fences every write of this training: a later attempt makes it stale.
    pub attempt: i64,
    pub seed: u64,
    /// Fixes the sweep's validation split.
    pub sweep_seed: u64,
    /// Epochs the trial has reports of: a checkpoint up to it may be resumed.
    pub epochs_done: i64,
    /// The configuration to train, sampled by the server when needed.
    pub params: TrialParams,
    /// The sweep's spec, as stored.
    pub spec: serde_json::Value,
    /// The lease's length; the worker renews it every third of that.
    pub lease_ms: u64,
    pub dataset: Manifest,
    /// The checkpoint to resume from, if an earlier attempt uploaded one.
    pub checkpoint: Option<CheckpointRef>,
}

/// A dataset as files with their digests: what a worker needs locally.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    /// Embedded in every build: no file travels.
    pub builtin: bool,
    pub files: Vec<FileRef>,
}

/// One file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// Its name in the dataset's folder, e.g. `train-images-idx3-ubyte.gz`.
    pub name: String,
    /// SHA-256 of its bytes, lowercase hex: `GET /v1/worker/files/{sha256}`.
    pub sha256: String,
    pub bytes: u64,
}

/// A checkpoint stored on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRef {
    pub sha256: String,
    pub bytes: u64,
    /// The attempt that uploaded it.
    pub attempt: i64,
}

/// `POST .../rewind`: training starts after this epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rewind {
    pub epoch: i64,
}

/// The reports kept after a rewind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rewound {
    pub reports: Vec<EpochReport>,
}

/// `POST .../report`: one epoch's report and its training-loss samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub report: EpochReport,
    #[serde(default)]
    pub samples: Vec<BatchLoss>,
}

/// What the server decided about an epoch report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Train the next epoch.
    Continue,
    /// Pruned by the scheduler (or the trial ended elsewhere): stop now.
    Stop,
    /// The sweep's target is reached: evaluate on the test split and finish.
    Finish,
}

/// The answer to a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    pub decision: Decision,
}

/// `POST .../finish`: how the trial ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    Completed { test_loss: f64, test_accuracy: f64 },
    Failed { reason: String },
}

/// `POST .../lose`: the attempt is given up as a crash would (out of memory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lose {
    pub reason: String,
}

/// The path of a trial attempt's routes.
pub fn trial_path(trial_id: i64, attempt: i64) -> String {
    format!("/v1/worker/trials/{trial_id}/attempts/{attempt}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_tagged_as_the_protocol_says() {
        let done = Outcome::Completed {
            test_loss: 0.5,
            test_accuracy: 0.9,
        };
        let text = serde_json::to_value(&done).unwrap();
        assert_eq!(text["outcome"], "completed");
        assert_eq!(serde_json::from_value::<Outcome>(text).unwrap(), done);
        let failed: Outcome =
            serde_json::from_str(r#"{"outcome":"failed","reason":"diverged"}"#).unwrap();
        assert_eq!(
            failed,
            Outcome::Failed {
                reason: "diverged".into()
            }
        );
        assert!(serde_json::from_str::<Outcome>(r#"{"outcome":"won"}"#).is_err());
    }

    #[test]
    fn a_claim_asks_for_one_trial_at_once_unless_told() {
        let claim: ClaimRequest = serde_json::from_str(r#"{"worker_id":"w"}"#).unwrap();
        assert_eq!((claim.max, claim.wait_ms), (1, 0));
        let decided = serde_json::to_string(&Decided {
            decision: Decision::Continue,
        })
        .unwrap();
        assert_eq!(decided, r#"{"decision":"continue"}"#);
    }
}
