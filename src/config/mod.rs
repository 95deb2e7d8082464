//! Server settings: built-in defaults, then `config.toml`, then environment
//! variables (`HYPERSWEEP_*`) and command-line flags.
use crate::blobs::BlobPlace;
use crate::spec::Limits;
use crate::store::Engine;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod count;
mod token;

pub use count::{Count, Packing};
pub use token::{ApiToken, MIN_TOKEN_LEN};

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
    /// Worker processes the server starts on its own host, each training
    /// one trial at a time; `auto`: see [`Config::packing`]; 0: none (remote
    /// workers only).
    pub workers: Count,
    /// libtorch intra-op threads of each trial; `auto`: see [`Config::packing`].
    pub threads_per_trial: Count,
    /// A training-loss sample is stored every this many batches.
    pub batch_loss_every: u32,
    /// Share of the training images held out for validation.
    pub validation_fraction: f64,
    /// How long a worker's claim on a trial lasts without renewal.
    pub lease_seconds: u64,
    /// Attempts a trial gets before a lost lease fails it.
    pub max_attempts: u32,
    /// Trials of one sweep and network shape a worker trains as one fused
    /// group, for sweeps whose spec sets no `fuse`; 1: one at a time.
    pub fuse: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Folder of the trials' checkpoints (the blob store's folder) and of
    /// this server's own working files; None for `<database file>.checkpoints`
    /// on SQLite, `hypersweep.checkpoints` on PostgreSQL.
    pub checkpoint_dir: Option<PathBuf>,
    /// Where uploaded files (checkpoints) are kept, so that every replica
    /// reaches them: `folder` (`checkpoint_dir`; under several replicas a
    /// volume they share) or `database`. None: `folder` on SQLite,
    /// `database` on PostgreSQL.
    pub blob_store: Option<BlobPlace>,
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
    /// Host names (with or without `:port`) requests may name in `Host`;
    /// empty: the listen address, and `localhost`/`127.0.0.1`/`[::1]` when
    /// it is a loopback one. Anything else is refused (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// A connection must send its request headers within this many seconds.
    pub header_read_timeout_seconds: u64,
    /// Most connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// A server renews its hold on the database this often; another server
    /// refuses to start while the hold is good, and takes the database over
    /// once the holder's process has ended (seen on the same machine) or
    /// its hold is 3 periods old.
    pub server_lock_seconds: u64,
    /// Whether `GET /metrics` answers without the API token (for a
    /// Prometheus that cannot send one); the rest of the API still needs it.
    pub metrics_public: bool,
    /// Token every request but `GET /healthz` must carry; None for an open
    /// server, which may then listen on loopback only. Never sent to workers.
    #[serde(skip_serializing)]
    pub api_token: Option<ApiToken>,
    /// Token that may speak only the worker protocol (`/v1/worker/...`):
    /// what remote workers are given. None: workers use the API token (or
    /// none, on an open server); the server's own workers get one of their own.
    #[serde(skip_serializing)]
    pub worker_token: Option<ApiToken>,
    /// Largest checkpoint a worker may upload, in bytes.
    pub max_checkpoint_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: "sqlite://hypersweep.db".into(),
            data_dir: Some(PathBuf::from("data")),
            workers: Count::Auto,
            threads_per_trial: Count::Auto,
            batch_loss_every: 100,
            validation_fraction: 0.1,
            lease_seconds: 30,
            max_attempts: 3,
            fuse: 1,
            max_body_bytes: 1 << 20,
            checkpoint_dir: None,
            blob_store: None,
            worker_memory_mb: None,
            shutdown_grace_seconds: 60,
            limits: Limits::default(),
            worker_program: None,
            allowed_hosts: Vec::new(),
            header_read_timeout_seconds: 10,
            max_connections: 512,
            server_lock_seconds: 5,
            metrics_public: false,
            api_token: None,
            worker_token: None,
            max_checkpoint_bytes: 4 << 30,
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

    /// Workers and threads per trial on this machine, `auto` resolved from
    /// the cores this process may use.
    pub fn packing(&self) -> Packing {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.packing_for(cores)
    }

    /// Workers and threads per trial on a machine of `cores` cores. `auto`
    /// fills the cores: one single-threaded worker per core when both are
    /// `auto`, because a sweep's trials are independent and small networks
    /// scale far better across processes than across threads
    /// (BENCHMARKS.md, packing); otherwise the `auto` one is the cores
    /// divided by the other, at least 1.
    pub fn packing_for(&self, cores: usize) -> Packing {
        let cores = cores.max(1);
        let (workers, threads_per_trial) = match (self.workers, self.threads_per_trial) {
            (Count::Fixed(w), Count::Fixed(t)) => (w, t),
            (Count::Fixed(w), Count::Auto) => (w, (cores / w.max(1)).max(1)),
            (Count::Auto, Count::Fixed(t)) => ((cores / t.max(1)).max(1), t),
            (Count::Auto, Count::Auto) => (cores, 1),
        };
        Packing {
            workers,
            threads_per_trial,
        }
    }

    /// Rejects settings no server could run with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.into()));
        if self.threads_per_trial == Count::Fixed(0) {
            return bad("threads_per_trial must be at least 1, or \"auto\"");
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
        if !(1..=crate::spec::MAX_FUSE).contains(&self.fuse) {
            let max = crate::spec::MAX_FUSE;
            return bad(&format!("fuse must be 1 to {max} (1: one trial at a time)"));
        }
        if self.worker_memory_mb.is_some_and(|mb| mb < 256) {
            return bad("worker_memory_mb must be at least 256 (libtorch alone needs about 100)");
        }
        if self.header_read_timeout_seconds == 0 {
            return bad("header_read_timeout_seconds must be at least 1");
        }
        if self.max_connections == 0 {
            return bad("max_connections must be at least 1");
        }
        if self.server_lock_seconds == 0 {
            return bad("server_lock_seconds must be at least 1");
        }
        let l = &self.limits;
        for (name, value) in [
            ("max_parameters", l.max_parameters),
            ("max_epochs", l.max_epochs.into()),
            ("max_trials", l.max_trials.into()),
            ("max_trial_minutes", l.max_trial_minutes.into()),
            ("max_hidden_layers", l.max_hidden_layers.into()),
            ("max_layer_width", l.max_layer_width.into()),
            ("max_batch_size", l.max_batch_size.into()),
            ("max_values", l.max_values.into()),
            ("max_nesting", l.max_nesting.into()),
            ("max_spec_nodes", l.max_spec_nodes.into()),
        ] {
            if value == 0u64 {
                return Err(ConfigError::Invalid(format!(
                    "limits.{name} must be at least 1"
                )));
            }
        }
        if let Some(token) = &self.api_token {
            token.validate()?;
        }
        if let Some(token) = &self.worker_token {
            token.validate()?;
            if self.api_token.as_ref() == Some(token) {
                return bad(
                    "worker_token must differ from api_token: it is the one with fewer rights",
                );
            }
        }
        if self.blob_store == Some(BlobPlace::Folder)
            && self.checkpoint_dir.is_none()
            && Engine::of_url(&self.database) == Engine::Postgres
        {
            return bad(
                "blob_store = \"folder\" on PostgreSQL needs checkpoint_dir: a folder every \
                 replica mounts (or blob_store = \"database\", the default there)",
            );
        }
        if self.max_checkpoint_bytes < 1 << 20 {
            return bad("max_checkpoint_bytes must be at least 1048576 (1 MiB)");
        }
        Ok(())
    }

    /// Where uploaded files are kept (`blob_store`, or its default).
    pub fn blob_place(&self) -> BlobPlace {
        match (self.blob_store, Engine::of_url(&self.database)) {
            (Some(place), _) => place,
            (None, Engine::Sqlite) => BlobPlace::Folder,
            (None, Engine::Postgres) => BlobPlace::Database,
        }
    }

    /// The folder of the trials' checkpoints.
    pub fn checkpoints(&self) -> PathBuf {
        if let Some(dir) = &self.checkpoint_dir {
            return dir.clone();
        }
        if Engine::of_url(&self.database) == Engine::Postgres {
            return PathBuf::from("hypersweep.checkpoints");
        }
        let file = self
            .database
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        let file = file.split('?').next().unwrap_or(file);
        PathBuf::from(format!("{file}.checkpoints"))
    }

    /// Refuses an address other machines can reach unless a token guards it.
    pub fn check_exposure(&self, addr: SocketAddr) -> Result<(), ConfigError> {
        if self.api_token.is_some() || addr.ip().is_loopback() {
            return Ok(());
        }
        Err(ConfigError::Invalid(format!(
            "refusing to listen on {addr} without an API token: only a loopback address \
             (127.0.0.1, ::1) may serve without one. Set `api_token` in config.toml, pass \
             --api-token, or set HYPERSWEEP_API_TOKEN (at least {MIN_TOKEN_LEN} characters, \
             e.g. from `openssl rand -hex 32`)"
        )))
    }
}

#[cfg(test)]
mod tests;
