//! The end-to-end tests: one test binary with a module per subject, so that
//! libtorch is linked once for all of them, not once per file (each test
//! binary links the whole library, libtorch included). A test is named by
//! its module: `cargo test --test it events::` runs the event tests,
//! `cargo test --test it hardening::store::` one part of the hardening ones.
//!
//! `tests/spec_properties.rs` stays a binary of its own: it installs a
//! counting global allocator, which would count every test here too.
mod common;

mod analysis;
mod auth;
mod binary;
mod cli;
mod cli_manage;
mod concurrency;
mod crashes;
mod dashboard;
mod datasets;
mod events;
mod fused;
mod gpu;
mod hardening;
mod hosts;
mod leases;
mod lifecycle;
mod listing;
mod metrics;
mod pages;
mod progress_groups;
mod protocol;
mod rejections;
mod schemathesis;
mod search;
mod sweeps;
mod timeouts;
