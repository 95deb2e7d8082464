//! Server settings: built-in defaults, then `config.toml`, then environment
//! variables (`HYPERSWEEP_*`) and command-line flags.
use crate::spec::Limits;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything the server and its workers are configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// SQLite database URL, e.g. `sqlite://hypersweep.db`.
    pub database: String,
    /// Folder whose subfolders of IDX files become datasets; None for the built-in only.
    pub data_dir: Option<PathBuf>,
    /// Worker processes training trials at once, server-wide.
    pub workers: usize,
    /// libtorch intra-op threads of each trial.
    pub threads_per_trial: usize,
    /// A training-loss sample is stored every this many batches.
    pub batch_loss_every: u32,
    /// Share of the training images held out for validation.
    pub validation_fraction: f64,
    /// How long a worker's claim on a trial lasts without renewal.
    pub lease_seconds: u64,
    /// Attempts a trial gets before a lost lease fails it.
    pub max_attempts: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Folder of the trials' checkpoints; None for `<database file>.checkpoints`.
    pub checkpoint_dir: Option<PathBuf>,
    /// Most memory (MiB) one worker process may allocate (RLIMIT_DATA); a
    /// trial needing more loses that attempt and the worker restarts. None: no cap.
    pub worker_memory_mb: Option<u64>,
    /// At shutdown, how long running trials get to reach their next
    /// checkpoint before their workers are killed.
    pub shutdown_grace_seconds: u64,
    /// Caps on what a sweep may ask for.
    pub limits: Limits,
    /// Program run as a worker process; None for this very executable.
    pub worker_program: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: "sqlite://hypersweep.db".into(),
            data_dir: Some(PathBuf::from("data")),
            workers: 2,
            threads_per_trial: 1,
            batch_loss_every: 100,
            validation_fraction: 0.1,
            lease_seconds: 30,
            max_attempts: 3,
            max_body_bytes: 1 << 20,
            checkpoint_dir: None,
            worker_memory_mb: None,
            shutdown_grace_seconds: 60,
            limits: Limits {
                max_parameters: 20_000_000,
                max_epochs: 200,
                max_trials: 10_000,
                max_trial_minutes: Limits::DEFAULT_MAX_TRIAL_MINUTES,
            },
            worker_program: None,
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads `path`, or `config.toml` in the current folder if it exists, over the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("config.toml"), false),
        };
        if !required && !path.exists() {
            return Ok(Config::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { source, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Parses a TOML document over the defaults.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "config".into(),
            source: Box::new(e),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Rejects settings no server could run with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.into()));
        if self.workers == 0 {
            return bad("workers must be at least 1");
        }
        if self.threads_per_trial == 0 {
            return bad("threads_per_trial must be at least 1");
        }
        if self.batch_loss_every == 0 {
            return bad("batch_loss_every must be at least 1");
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return bad("validation_fraction must be in (0, 1)");
        }
        if self.lease_seconds < 2 {
            return bad("lease_seconds must be at least 2");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts must be at least 1");
        }
        if self.worker_memory_mb.is_some_and(|mb| mb < 256) {
            return bad("worker_memory_mb must be at least 256 (libtorch alone needs about 100)");
        }
        if self.limits.max_trial_minutes == 0 {
            return bad("limits.max_trial_minutes must be at least 1");
        }
        Ok(())
    }

    /// The folder of the trials' checkpoints.
    pub fn checkpoints(&self) -> PathBuf {
        if let Some(dir) = &self.checkpoint_dir {
            return dir.clone();
        }
        let file = self
            .database
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        let file = file.split('?').next().unwrap_or(file);
        PathBuf::from(format!("{file}.checkpoints"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_config_parses_and_matches_defaults_where_silent() {
        let text = include_str!("../config.toml");
        let config = Config::from_toml(text).unwrap();
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert!(config.workers >= 1);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        assert!(Config::from_toml("listn = \"x\"").is_err());
        assert!(Config::from_toml("workers = 0").is_err());
        let c = Config::from_toml(
            "workers = 3\n[limits]\nmax_parameters = 10\nmax_epochs = 2\nmax_trials = 4",
        )
        .unwrap();
        assert_eq!(c.workers, 3);
        assert_eq!(c.limits.max_epochs, 2);
    }
}
