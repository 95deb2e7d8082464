//! Datasets: image classification sets in the IDX (MNIST) format.
//!
//! - [`idx`] parses and validates IDX files, pure and without tch.
//! - [`catalog`] finds datasets (the built-in one and the folders of the data
//!   directory), reads their headers and loads their validated raw bytes.
//! - [`tensors`] turns a loaded dataset into normalized tensors and splits it
//!   into train and validation sets.

pub mod catalog;
pub mod idx;
pub mod tensors;

/// Everything that can go wrong finding, reading or validating a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file's bytes are not a valid IDX file of the expected kind.
    #[error("{file}: {reason}")]
    Corrupt { file: String, reason: String },
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// No dataset of that name (or the name is not a valid dataset name).
    #[error("unknown dataset `{0}`")]
    Unknown(String),
}

impl DataError {
    /// Shorthand for a [`DataError::Corrupt`].
    pub(crate) fn corrupt(file: &str, reason: impl Into<String>) -> Self {
        DataError::Corrupt {
            file: file.to_string(),
            reason: reason.into(),
        }
    }
}
