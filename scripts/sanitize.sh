#!/usr/bin/env bash
# Build avsc_edge._C with AddressSanitizer + UndefinedBehaviorSanitizer into a scratch copy of the
# tree and run the kernel tests (parity sweeps + binding fuzzing) under it. Any ASan/UBSan report
# aborts the run (halt_on_error) and fails this script.
#   bash scripts/sanitize.sh            (needs the dev environment: pip install -e ".[train,dev]")
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$root/avsc_edge" "$root/csrc" "$root/tests" "$root/setup.py" "$root/pyproject.toml" "$root/README.md" "$work/"
rm -f "$work"/avsc_edge/_C*.so
cd "$work"
AVSC_EDGE_SANITIZE=1 AVSC_EDGE_CUDA=0 python setup.py -q build_ext --inplace >/dev/null
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
export LD_PRELOAD="$asan:$ubsan"
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export PYTHONPATH="$work"
python -c "import avsc_edge._C as C, sys; assert C.__file__.startswith('$work'), C.__file__; print('sanitized build:', C.__file__)"
python -m pytest -q -p no:cacheprovider tests/test_logmel.py tests/test_attention.py tests/test_native_fuzz.py
