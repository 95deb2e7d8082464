//! hypersweep: a self-hosted hyperparameter search service. A user sends a
//! sweep over HTTP; worker processes train its trials with libtorch; SQLite
//! stores every metric and is the queue.
//!
//! # Layout
//! - [`spec`]: parses and validates sweep specs (pure).
//! - [`search`]: which configurations a sweep's trials train: grid, random, TPE (pure).
//! - [`schedule`]: early stopping: ASHA/Hyperband and the median rule (pure).
//! - [`report`]: what a trial reports per epoch (pure types).
//! - [`state`]: the states of trials and sweeps (pure types).
//! - [`data`]: IDX datasets: the built-in one, those in `data_dir`, as tensors.
//! - [`train`]: the network, the optimizers, checkpoints and the training loop (tch).
//! - [`store`]: SQLite through sqlx: sweeps, trials, reports, events, the queue,
//!   and taking trials back from workers that stopped; behind traits
//!   (`Queue`, `Recovery`, `Sweeps`, `Events`, `Sessions`) a second engine can implement.
//! - [`worker`]: the worker process: claim, resume or train, report, renew the
//!   lease, hand the trial back at a checkpoint on SIGTERM.
//! - [`api`]: the HTTP routes (axum).
//! - [`server`]: wires store, worker processes and API together; restarts dead
//!   workers and drains them at shutdown.
//! - [`cli`]: the command-line client: submit, watch, best, trials, cancel (reqwest, indicatif).
//! - [`config`]: settings from defaults, `config.toml`, environment and flags.
//!
//! Dependencies point down this list's pure part and into the store; only
//! `api` knows axum, only `store` knows sqlx, only `data` and `train` know tch.
pub mod api;
pub mod cli;
pub mod config;
pub mod data;
pub mod report;
pub mod schedule;
pub mod search;
pub mod server;
pub mod spec;
pub mod state;
pub mod store;
pub mod train;
pub mod worker;
