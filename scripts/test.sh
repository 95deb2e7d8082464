#!/usr/bin/env bash
# Installs what is needed and runs the whole test suite: unit tests of the
# pure parts, and end-to-end tests with a real server, real worker processes
# and real training on the data in ../shared/data, and the dashboard in a
# real headless browser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/browser.sh   # headless Chromium for the dashboard's browser test
bash scripts/check-deploy.sh   # docker/compose.yaml and deploy/kubernetes/, checked statically
bash scripts/hosts-setup.sh    # ip and nftables for the several-hosts tests (tests/hosts.rs)
# schemathesis fuzzes the API from its OpenAPI document (tests/schemathesis.rs).
SCHEMATHESIS_VERSION=4.32.5
if ! .venv/bin/st --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  .venv/bin/pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
cargo test --locked "$@"
