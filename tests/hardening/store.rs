//! Hardening tests: store.
