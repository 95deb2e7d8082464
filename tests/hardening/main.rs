//! Issue 13: no request, full disk or bad row may take the service down.
//! One test binary (one libtorch link) with a module per part: spec costs,
//! the store under I/O errors and bad rows, and the HTTP edge.
#[path = "../common/mod.rs"]
mod common;

mod http;
mod spec;
mod store;
