//! Issue 13: no request, full disk or bad row may take the service down.
//! A module per part: spec costs, the store under I/O errors and bad rows,
//! and the HTTP edge.
mod http;
mod spec;
mod store;
