//! Hardening tests: spec.
