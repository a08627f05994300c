#!/usr/bin/env bash
# Jetson's CPU is aarch64: cross-compile the C++ kernels with Debian's aarch64 toolchain and run the
# known-answer test under qemu-user (static binary: no aarch64 sysroot needed at run time). Also
# builds and runs it natively, so a failure tells a port problem from a reference problem.
#   apt-get install -y g++-aarch64-linux-gnu qemu-user    (CI does this)
#   bash scripts/aarch64_check.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=("$root/csrc/tests/known_answer.cpp" "$root/csrc/logmel.cpp" "$root/csrc/fft.cpp" "$root/csrc/attention.cpp")
flags=(-std=c++17 -O3 -fopenmp -ffp-contract=fast -I"$root/csrc")
g++ "${flags[@]}" "${src[@]}" -o "$work/kat-native"
"$work/kat-native"
aarch64-linux-gnu-g++ "${flags[@]}" -static "${src[@]}" -o "$work/kat-aarch64"
file "$work/kat-aarch64" | grep -q "ARM aarch64" || { echo "not an aarch64 binary" >&2; exit 1; }
echo "--- aarch64 (qemu-user) ---"
qemu-aarch64 "$work/kat-aarch64"
