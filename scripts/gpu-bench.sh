#!/usr/bin/env bash
# Epoch seconds of the lab network (784-128-64-10) on Fashion-MNIST on the GPU
# against the CPU, at batch 64 and 256 (benches/device.rs), then the GPU
# tests (tests/gpu.rs). One prepared run for a GPU machine:
#
#   bash scripts/gpu-bench.sh               # cuda:0 and the CPU, then the GPU tests
#   bash scripts/gpu-bench.sh --cpu-only    # the CPU half, on any machine
#   bash scripts/gpu-bench.sh --no-tests    # figures only
#
# Environment: HYPERSWEEP_DATA_DIR (default ../shared/data, else shared/data:
# the folder holding fashion-mnist/), REPS (default 3), THREADS (CPU threads,
# default libtorch's: one per core), PROFILE (cargo profile of the bench,
# default release).
set -euo pipefail
cd "$(dirname "$0")/.."

cpu_only=0
tests=1
for a in "$@"; do
  case "$a" in
    --cpu-only) cpu_only=1 ;;
    --no-tests) tests=0 ;;
    *) echo "gpu-bench: unknown argument $a (--cpu-only, --no-tests)" >&2; exit 2 ;;
  esac
done

data=${HYPERSWEEP_DATA_DIR:-}
if [ -z "$data" ]; then
  for d in ../shared/data shared/data; do
    if [ -d "$d/fashion-mnist" ]; then data=$(cd "$d" && pwd); break; fi
  done
fi
if [ -z "$data" ] || [ ! -d "$data/fashion-mnist" ]; then
  echo "gpu-bench: no fashion-mnist/ under ${data:-../shared/data or shared/data}; set HYPERSWEEP_DATA_DIR" >&2
  exit 1
fi

gpu=0
if [ "$cpu_only" = 0 ] && command -v nvidia-smi >/dev/null && nvidia-smi >/dev/null 2>&1; then
  gpu=1
fi
if [ "$cpu_only" = 0 ] && [ "$gpu" = 0 ]; then
  echo "gpu-bench: nvidia-smi sees no GPU here; measuring the CPU only (cuda:0 will say why it is not measured)" >&2
fi

# libtorch from the torch wheel (the full one, with its CUDA libraries, where
# nvidia-smi works).
bash scripts/setup.sh
export LIBTORCH="$PWD/.libtorch"
# The libraries libtorch_cuda.so lacks ("not found"); grep reads all of
# ldd's output (no -q: with pipefail an early exit would fail the pipe).
missing() { ldd .libtorch/lib/libtorch_cuda.so 2>&1 | grep "not found" || true; }
if [ "$gpu" = 1 ] && [ -n "$(missing)" ]; then
  # A venv made on a CPU machine holds the lean install: add the CUDA
  # libraries (cuBLAS, cuDNN, ...) the full wheel depends on.
  echo "gpu-bench: libtorch_cuda.so lacks libraries; installing torch's CUDA dependencies" >&2
  .venv/bin/pip install --quiet "torch==2.13.0"
fi
if [ "$gpu" = 1 ] && [ -n "$(missing)" ]; then
  echo "gpu-bench: libtorch_cuda.so still lacks: $(missing)" >&2
  exit 1
fi

echo "== machine"
date -u
grep -m1 "model name" /proc/cpuinfo || true
echo "cores: $(nproc)"
if [ "$gpu" = 1 ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

devices=cpu
if [ "$cpu_only" = 0 ]; then devices=cpu,cuda:0; fi
args=(--devices "$devices" --batches "64,256" --reps "${REPS:-3}" --data "$data")
if [ -n "${THREADS:-}" ]; then args+=(--threads "$THREADS"); fi

echo "== epoch seconds (cargo bench --bench device --profile ${PROFILE:-release} -- ${args[*]})"
cargo bench --bench device --profile "${PROFILE:-release}" -- "${args[@]}"

if [ "$tests" = 1 ] && [ "$cpu_only" = 0 ]; then
  echo "== GPU tests (cargo test --test it -- gpu::)"
  # --nocapture: a skipped test says why.
  cargo test --test it -- gpu:: --nocapture
fi
