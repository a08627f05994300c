#!/usr/bin/env bash
# Install the CUDA 13.5 compiler from the package registry's wheels (nvcc, cudart, the CRT headers)
# into DIR and print the folder holding nvcc. No GPU or system toolkit needed: the .cu sources
# compile for sm_87 (Jetson Orin) and sm_90 on any x86-64 Linux machine.
#   export PATH="$(bash scripts/cuda_toolkit.sh ~/.cache/avsc-edge/cuda-13.5):$PATH"
#   AVSC_EDGE_CUDA=1 pip install -e .
set -euo pipefail
dir=${1:?usage: cuda_toolkit.sh DIR}
version=13.5.37
bin="$dir/nvidia/cu13/bin"
if [ ! -x "$bin/nvcc" ]; then
  python3 -m pip install -q --disable-pip-version-check --target "$dir" \
    "nvidia-cuda-nvcc==$version" "nvidia-cuda-runtime==$version" "nvidia-cuda-crt==$version" >&2
fi
"$bin/nvcc" --version >&2
echo "$bin"
