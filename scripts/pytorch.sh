#!/usr/bin/env bash
# Makes `import torch` work in .venv, for the PyTorch side of the benchmarks
# (benches/pytorch_throughput.py). scripts/setup.sh installs the torch wheel
# without its dependencies (libtorch is all the Rust build needs); the Python
# module `torch._C` also links cuDNN, cuBLAS, NCCL and friends even on a CPU,
# so this adds exactly the nvidia-* wheels it loads (versions as pip resolves
# `torch==2.13.0`), still without triton or cuda-bindings. ~2 GB, once.
# Idempotent. Not needed for building, testing or serving.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! .venv/bin/python -c 'import torch' >/dev/null 2>&1; then
  .venv/bin/pip install --quiet --no-deps \
    nvidia-cudnn-cu13==9.20.0.48 nvidia-cusparselt-cu13==0.8.1 \
    nvidia-nccl-cu13==2.29.7 nvidia-nvshmem-cu13==3.4.5 \
    nvidia-cublas==13.1.1.3 nvidia-cuda-nvrtc==13.0.88 nvidia-cufft==12.0.0.61 \
    nvidia-cufile==1.15.1.6 nvidia-curand==10.4.0.35 nvidia-cusparse==12.6.3.3 \
    nvidia-nvjitlink==13.5.37 nvidia-cusolver==12.0.4.66
  .venv/bin/python -c 'import torch' # fails loudly if a library is still missing
fi
