#!/usr/bin/env bash
# Installs what is needed and runs the whole test suite: unit tests of the
# pure parts, and end-to-end tests with a real server, real worker processes
# and real training on the data in ../shared/data, and the dashboard in a
# real headless browser; the end-to-end suite on SQLite and on PostgreSQL.
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
bash scripts/postgres.sh install   # PostgreSQL from Debian's packages, where missing
# One PostgreSQL server for the whole run, in a folder of its own; each test
# takes a scratch database on it (src/store/scratch.rs).
pg_dir=$(mktemp -d /tmp/hypersweep-test-pg.XXXXXX)
chmod 755 "$pg_dir"
trap 'bash scripts/postgres.sh stop "$pg_dir"; rm -rf "$pg_dir"' EXIT
HYPERSWEEP_TEST_POSTGRES=$(bash scripts/postgres.sh start "$pg_dir" --fast | tail -1)
export HYPERSWEEP_TEST_POSTGRES
# Everything on SQLite, the default (the store's own tests on both engines),
cargo test --locked "$@"
# then the end-to-end suite again with every test server on PostgreSQL.
HYPERSWEEP_TEST_DATABASE=postgres cargo test --locked --test it "$@"
