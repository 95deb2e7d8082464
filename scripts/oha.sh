#!/usr/bin/env bash
# Installs the HTTP load generator oha into .tools/bin, for the API-under-load
# part of `cargo bench --bench service`. Built from crates.io with its own
# lock file (about 5 minutes on 2 cores, once). Idempotent. Not needed for
# building, testing or serving.
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.16.0
if ! .tools/bin/oha --version 2>/dev/null | grep -q "$version"; then
  cargo install oha --version "$version" --locked --root .tools
fi
.tools/bin/oha --version
