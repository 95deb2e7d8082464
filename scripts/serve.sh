#!/usr/bin/env bash
# Installs what is needed, builds the release binary, and starts the service
# (config.toml: 127.0.0.1:8080, built-in mnist-10k dataset). Extra arguments go
# to `hypersweep serve`, e.g. --data-dir ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked
exec target/release/hypersweep serve "$@"
