//! Why a trial could not train: one enum the worker matches on. libtorch's
//! failures are turned into it where they happen (its fallible `f_*` calls)
//! or, for a panic that still escapes libtorch, once at `guard`.
use super::device::DeviceError;
use crate::data::DataError;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::TchError;

/// A failure of training, as the worker tells it apart.
///
/// Divergence is no error: the trainer worked, the configuration did not,
/// and it ends with `Outcome::Diverged` and the epoch it happened in.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// libtorch (or the C++ runtime) could not allocate memory.
    #[error("training failed: {0}")]
    OutOfMemory(String),
    /// The configuration cannot be trained (a row stored before specs were
    /// range-checked): `field` says which value and `problem` why.
    #[error("{field} {problem}")]
    InvalidConfiguration { field: String, problem: String },
    /// The dataset could not be found, read or validated.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A checkpoint cannot be read, lacks its header or is of another network.
    #[error("{0}")]
    BadCheckpoint(String),
    /// A checkpoint could not be written (full disk, the writer thread gone).
    #[error("{0}")]
    CheckpointNotWritten(String),
    /// libtorch failed otherwise; its message's first line.
    #[error("training failed: {0}")]
    Torch(String),
}

impl From<DeviceError> for TrainError {
    /// The device is the worker's configuration: `device cuda:1: this
    /// machine has 1 CUDA device(s), ...`.
    fn from(e: DeviceError) -> TrainError {
        let message = e.to_string();
        TrainError::InvalidConfiguration {
            field: "device".into(),
            problem: message
                .strip_prefix("device ")
                .unwrap_or(&message)
                .to_string(),
        }
    }
}

impl From<TchError> for TrainError {
    fn from(e: TchError) -> TrainError {
        classify(&e.to_string())
    }
}

/// Runs `f`, turning a panic that escapes libtorch into a `TrainError`:
/// the one place a panic payload is read.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, TrainError>) -> Result<T, TrainError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let text = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        Err(classify(&text))
    })
}

/// A libtorch message as an error: out of memory or another failure. Only
/// the first line is kept: libtorch's messages carry a C++ backtrace (its
/// newlines escaped when the error went through `Debug`).
fn classify(message: &str) -> TrainError {
    let first = message.split("\\n").next().unwrap_or_default();
    let first = first.lines().next().unwrap_or_default().to_string();
    // libtorch has no error code for it: its CPU allocator and the C++
    // runtime say so in these words.
    let out_of_memory = ["can't allocate memory", "out of memory", "bad_alloc"]
        .iter()
        .any(|m| message.contains(m));
    if out_of_memory {
        TrainError::OutOfMemory(first)
    } else {
        TrainError::Torch(first)
    }
}
