//! Server settings: built-in defaults, then `config.toml`, then environment
//! variables (`HYPERSWEEP_*`) and command-line flags.
use crate::spec::Limits;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

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
    /// Worker processes training trials at once, server-wide; `auto`: see [`Config::packing`].
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
    /// Token every request but `GET /healthz` must carry; None for an open
    /// server, which may then listen on loopback only. Never sent to workers.
    #[serde(skip_serializing)]
    pub api_token: Option<ApiToken>,
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
            max_body_bytes: 1 << 20,
            checkpoint_dir: None,
            worker_memory_mb: None,
            shutdown_grace_seconds: 60,
            limits: Limits::default(),
            worker_program: None,
            allowed_hosts: Vec::new(),
            header_read_timeout_seconds: 10,
            max_connections: 512,
            server_lock_seconds: 5,
            api_token: None,
        }
    }
}

/// A number of worker processes or threads: fixed, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Auto,
    Fixed(usize),
}

impl From<usize> for Count {
    fn from(n: usize) -> Count {
        Count::Fixed(n)
    }
}

impl std::str::FromStr for Count {
    type Err = String;

    fn from_str(text: &str) -> Result<Count, String> {
        match text.trim() {
            "auto" => Ok(Count::Auto),
            n => n
                .parse()
                .map(Count::Fixed)
                .map_err(|_| format!("`{n}` is neither a whole number nor \"auto\"")),
        }
    }
}

impl Serialize for Count {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Count::Auto => s.serialize_str("auto"),
            Count::Fixed(n) => s.serialize_u64(*n as u64),
        }
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number or \"auto\"")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Count, E> {
                Ok(Count::Fixed(n as usize))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Count, E> {
                usize::try_from(n)
                    .map(Count::Fixed)
                    .map_err(|_| E::custom(format!("{n} is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Count, E> {
                text.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// How trials share the machine: worker processes, each training one trial
/// with this many libtorch threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packing {
    pub workers: usize,
    pub threads_per_trial: usize,
}

/// Shortest API token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// The API token: a secret that `Debug` never shows and that is compared in
/// constant time.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct ApiToken(String);

impl ApiToken {
    /// A token from its text; see [`ApiToken::validate`] for what is accepted.
    pub fn new(text: impl Into<String>) -> Result<ApiToken, ConfigError> {
        let token = ApiToken(text.into());
        token.validate()?;
        Ok(token)
    }

    /// Parses a token given on the command line or in the environment.
    pub fn parse(text: &str) -> Result<ApiToken, ConfigError> {
        ApiToken::new(text)
    }

    /// At least [`MIN_TOKEN_LEN`] characters of RFC 6750's `b64token` alphabet
    /// (letters, digits, `-._~+/=`), so it fits a header and a cookie unquoted.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
        if self.0.chars().count() < MIN_TOKEN_LEN {
            return Err(ConfigError::Invalid(format!(
                "api_token must be at least {MIN_TOKEN_LEN} characters long"
            )));
        }
        if !self.0.chars().all(allowed) {
            return Err(ConfigError::Invalid(
                "api_token may hold only letters, digits and `-._~+/=`".into(),
            ));
        }
        Ok(())
    }

    /// Whether `candidate` is this token; the time taken does not depend on
    /// where they differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }

    /// The secret itself, for a client to send or a cookie to carry.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

impl PartialEq for ApiToken {
    fn eq(&self, other: &ApiToken) -> bool {
        self.matches(other.0.as_bytes())
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
        if self.workers == Count::Fixed(0) {
            return bad("workers must be at least 1, or \"auto\"");
        }
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
mod tests {
    use super::*;

    #[test]
    fn repo_config_parses_and_matches_defaults_where_silent() {
        let text = include_str!("../config.toml");
        let config = Config::from_toml(text).unwrap();
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.workers, Count::Auto);
        assert_eq!(config.threads_per_trial, Count::Auto);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        assert!(Config::from_toml("listn = \"x\"").is_err());
        assert!(Config::from_toml("workers = 0").is_err());
        let c = Config::from_toml(
            "workers = 3\n[limits]\nmax_parameters = 10\nmax_epochs = 2\nmax_trials = 4",
        )
        .unwrap();
        assert_eq!(c.workers, Count::Fixed(3));
        for bad in [
            "workers = -1",
            "workers = \"many\"",
            "threads_per_trial = 0",
            "workers = 1.5",
        ] {
            assert!(Config::from_toml(bad).is_err(), "{bad}");
        }
        let error = Config::from_toml("workers = \"all\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("auto") && error.contains("workers"),
            "{error}"
        );
        assert_eq!(c.limits.max_epochs, 2);
        // A misspelt limit is an error, not a silent default.
        let typo = Config::from_toml("[limits]\nmax_epoch = 2").unwrap_err();
        assert!(typo.to_string().contains("max_epoch"), "{typo}");
        let zero = Config::from_toml("[limits]\nmax_nesting = 0").unwrap_err();
        assert!(zero.to_string().contains("limits.max_nesting"), "{zero}");
    }

    #[test]
    fn auto_fills_the_cores() {
        let packing = |w: &str, t: &str, cores| {
            let c = Config::from_toml(&format!("workers = {w}\nthreads_per_trial = {t}")).unwrap();
            let p = c.packing_for(cores);
            (p.workers, p.threads_per_trial)
        };
        assert_eq!(packing("\"auto\"", "\"auto\"", 2), (2, 1));
        assert_eq!(packing("\"auto\"", "\"auto\"", 16), (16, 1));
        assert_eq!(packing("\"auto\"", "4", 16), (4, 4));
        assert_eq!(packing("\"auto\"", "4", 2), (1, 4));
        assert_eq!(packing("3", "\"auto\"", 16), (3, 5));
        assert_eq!(packing("32", "\"auto\"", 16), (32, 1));
        assert_eq!(packing("2", "2", 16), (2, 2));
        assert_eq!(
            Config::default().packing_for(0),
            Packing {
                workers: 1,
                threads_per_trial: 1
            }
        );
        // Workers get their settings as JSON: `auto` and numbers round-trip.
        let c = Config {
            workers: Count::Fixed(3),
            ..Config::default()
        };
        let back: Config = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(
            (back.workers, back.threads_per_trial),
            (Count::Fixed(3), Count::Auto)
        );
    }

    #[test]
    fn short_or_odd_tokens_are_rejected() {
        assert!(Config::from_toml("api_token = \"\"").is_err());
        let short = Config::from_toml("api_token = \"0123456789abcde\"").unwrap_err();
        assert!(short.to_string().contains("at least 16"), "{short}");
        assert!(Config::from_toml("api_token = \"0123456789 abcdef\"").is_err());
        assert!(Config::from_toml("api_token = \"0123456789abcde;\"").is_err());
        let c = Config::from_toml("api_token = \"0123456789abcdef\"").unwrap();
        assert!(c.api_token.unwrap().matches(b"0123456789abcdef"));
    }

    #[test]
    fn tokens_never_show_and_compare_exactly() {
        let token = ApiToken::new("s3cret-s3cret-s3cret").unwrap();
        let config = Config {
            api_token: Some(token.clone()),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("s3cret"));
        assert!(!serde_json::to_string(&config).unwrap().contains("s3cret"));
        assert!(token.matches(b"s3cret-s3cret-s3cret"));
        assert!(!token.matches(b"s3cret-s3cret-s3creT"));
        assert!(!token.matches(b"s3cret-s3cret-s3cret-"));
        assert!(!token.matches(b""));
    }

    #[test]
    fn only_loopback_serves_without_a_token() {
        let open = Config::default();
        assert!(open.check_exposure("127.0.0.1:80".parse().unwrap()).is_ok());
        assert!(open.check_exposure("[::1]:80".parse().unwrap()).is_ok());
        let refused = open
            .check_exposure("0.0.0.0:80".parse().unwrap())
            .unwrap_err();
        assert!(refused.to_string().contains("API token"), "{refused}");
        assert!(open.check_exposure("[::]:80".parse().unwrap()).is_err());
        assert!(open.check_exposure("10.1.2.3:80".parse().unwrap()).is_err());
        let guarded = Config {
            api_token: Some(ApiToken::new("0123456789abcdef").unwrap()),
            ..Config::default()
        };
        assert!(guarded
            .check_exposure("0.0.0.0:80".parse().unwrap())
            .is_ok());
    }
}
