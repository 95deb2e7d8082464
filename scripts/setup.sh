#!/usr/bin/env bash
# Installs what hypersweep needs to build and run: libtorch, taken from the
# PyPI torch wheel (no other source is reachable), in a venv at .venv, linked
# as .libtorch (where .cargo/config.toml points torch-sys). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.13.0 # tch 0.26 expects exactly this libtorch
marker=".venv/.hypersweep-torch-$TORCH_VERSION"

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) first" >&2
  exit 1
fi

if [ ! -f "$marker" ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  if command -v nvidia-smi >/dev/null && nvidia-smi >/dev/null 2>&1; then
    # A GPU machine: the full wheel with its CUDA libraries.
    .venv/bin/pip install --quiet "torch==$TORCH_VERSION"
  else
    # CPU only: libtorch_cpu needs just the CUDA runtime and CUPTI stubs
    # (13 MB) instead of the 2.7 GB of nvidia-* wheels.
    .venv/bin/pip install --quiet --no-deps "torch==$TORCH_VERSION" \
      nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
  fi
  touch "$marker"
fi

# The text-format parser tests/metrics.rs checks GET /metrics with.
PROMETHEUS_CLIENT_VERSION=0.26.0
if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('prometheus_client') != '$PROMETHEUS_CLIENT_VERSION')" 2>/dev/null; then
  .venv/bin/pip install --quiet "prometheus_client==$PROMETHEUS_CLIENT_VERSION"
fi

site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ln -sfn "$site/torch" .libtorch
