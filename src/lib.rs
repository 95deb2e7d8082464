//! hypersweep: a self-hosted hyperparameter search service. A user sends a
//! sweep over HTTP; workers on any host train its trials with libtorch over
//! the worker protocol; SQLite stores every metric and is the queue, and
//! the server, the only process that opens it, decides.
//!
//! # Layout
//! - [`names`]: the domain's enums as text, and the error of an unknown name (pure).
//! - [`metric`]: the metric a sweep optimises and its goal (pure).
//! - [`metrics`]: what `GET /metrics` reports, and the Prometheus text format (pure).
//! - [`report`]: what a trial reports per epoch (pure types).
//! - [`protocol`]: the worker protocol's messages, version 1 (pure types).
//! - [`digest`]: SHA-256 as the protocol writes it.
//! - [`schedule`]: early stopping: ASHA/Hyperband and the median rule (pure).
//! - [`spec`]: reads a spec body (format, bounded parse) and validates it into
//!   a `SweepSpec` that only validation builds; the parameters, optimizers and
//!   activations a trial trains with (pure).
//! - [`search`]: which configurations a sweep's trials train: grid, random,
//!   TPE, and the trials a new sweep queues (pure).
//! - [`state`]: the states of trials and sweeps (pure types).
//! - [`analysis`]: what a sweep teaches: parameter importance (fANOVA over a
//!   random forest), best so far, the axes plots and exports use (pure).
//! - [`data`]: IDX datasets: the built-in one, those in `data_dir`, as tensors.
//! - [`train`]: the network, the optimizers, checkpoints and the training loop (tch).
//! - [`store`]: SQLite through sqlx: sweeps, trials, reports, events, the queue,
//!   and taking trials back from workers that stopped; behind traits
//!   (`Queue`, `Recovery`, `Sweeps`, `Lifecycle`, `Events`, `Sessions`,
//!   `Workers`) a second engine can implement.
//! - [`worker`]: the worker process, a client of the worker protocol: register,
//!   claim, make the dataset and checkpoint local, train on its device, report
//!   (buffered while the server is out of reach), renew the lease, upload
//!   checkpoints, hand the trial back at a checkpoint on SIGTERM.
//! - [`api`]: the HTTP routes (the worker protocol's server side in
//!   `api::worker`: sampling at claim time, the scheduler's verdicts, files),
//!   the traced router and the connection loop (axum, hyper).
//! - [`server`]: wires store, the server's own worker processes and API
//!   together; restarts dead workers and drains them at shutdown.
//! - [`cli`]: the command-line client: submit, watch, best, trials, cancel (reqwest, indicatif).
//! - [`config`]: settings from defaults, `config.toml`, environment and flags.
//!
//! Dependencies point down this list's pure part (`spec` -> `schedule` ->
//! `metric` -> `names`; `search` -> `spec`; `analysis` -> `spec`) and into the store; only `api`
//! knows axum, only `store` knows sqlx, only `data` and `train` know tch;
//! the pure modules know none of them, nor tokio.
pub mod analysis;
pub mod api;
pub mod blobs;
pub mod cli;
pub mod config;
pub mod data;
pub mod digest;
pub mod metric;
pub mod metrics;
pub mod names;
pub mod protocol;
pub mod report;
pub mod schedule;
pub mod search;
pub mod server;
pub mod spec;
pub mod state;
pub mod store;
pub mod train;
pub mod worker;
