#!/usr/bin/env bash
# One prepared check for a bare x86-64 machine with an NVIDIA GPU, the CUDA toolkit (nvcc) and
# PyTorch with CUDA, and no network. Other Python packages it lacks travel as wheels in .whl/
# (PyAV at least; see benchmarks/README.md "CUDA"). Finishes within ~8 minutes:
#   1. builds avsc_edge._C with CUDA in place (sm_90 and sm_87, or AVSC_EDGE_CUDA_ARCHS),
#   2. runs tests/test_cuda.py (kernel parity, the log-mel plan, the PyTorch-CUDA backend),
#   3. runs benchmarks/bench_cuda.py (CUDA log-mel and attention vs PyTorch CUDA; predict on the
#      PyTorch-CUDA backend with features computed on the GPU, vs the CPU),
# and writes test_cuda.xml, test_cuda.log, bench_cuda.json and machine.txt into OUT_DIR.
#
#   bash scripts/gpu_check.sh OUT_DIR
set -euo pipefail
out=${1:?usage: bash scripts/gpu_check.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
if compgen -G ".whl/*.whl" >/dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/avsc-site .whl/*.whl
  export PYTHONPATH="/tmp/avsc-site:${PYTHONPATH:-}"
fi
export PATH="$PATH:/usr/local/cuda/bin" PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  nvcc --version | tail -1; "$py" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"; } \
  | tee "$out/machine.txt"
start=$(date +%s)
AVSC_EDGE_CUDA=1 AVSC_EDGE_CUDA_ARCHS=${AVSC_EDGE_CUDA_ARCHS:-"90;87"} "$py" setup.py -q build_ext --inplace \
  2>&1 | tail -5
export PYTHONPATH="$PWD:${PYTHONPATH:-}"
"$py" -c "from avsc_edge import kernels; i = kernels.info(); print(i); assert i['cuda_devices'] > 0, 'no GPU visible to avsc_edge'"
echo "build: $(( $(date +%s) - start )) s"
status=0
timeout 240 "$py" -m pytest -q -p no:cacheprovider tests/test_cuda.py --junitxml "$out/test_cuda.xml" 2>&1 \
  | tee "$out/test_cuda.log" || status=1
timeout 240 "$py" benchmarks/bench_cuda.py --json "$out/bench_cuda.json" || status=1
echo "total: $(( $(date +%s) - start )) s, status $status"
exit $status
