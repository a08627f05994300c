"""What ptxas gives each CUDA kernel (registers, shared memory, stack, spills) for each target
architecture, compiled exactly as setup.py compiles them; exits 1 on a failed compile or a spill.
    python scripts/cuda_resources.py [--archs 87,90] [--json out.json]     (nvcc on PATH)"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY = re.compile(r"Compiling entry function '(\S+)' for '(sm_\d+)'")
PROPS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
USED = re.compile(r"Used (\d+) registers(?:.*?(\d+) bytes smem)?")


def demangle(name: str) -> str:
    try:
        full = subprocess.run(["c++filt", name], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return name
    return re.sub(r"\(.*", "", full.replace("(anonymous namespace)::", "")).split("::")[-1]


def compile_report(source: Path, archs: list[str], nvcc: str) -> list[dict]:
    import pybind11

    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [nvcc, "-c", str(source), "-o", f"{tmp}/k.o", "-std=c++17", "-O3", "--use_fast_math", "-Xcompiler",
               "-fPIC", "--resource-usage", *gencode, f"-I{ROOT / 'csrc'}", f"-I{pybind11.get_include()}",
               f"-I{sysconfig.get_paths()['include']}"]
        done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{source.name}: nvcc failed\n{done.stderr}")
    rows, current = [], None
    for line in done.stderr.splitlines():
        if m := ENTRY.search(line):
            current = {"source": source.name, "kernel": demangle(m.group(1)), "arch": m.group(2)}
        elif current and (m := PROPS.search(line)):
            current.update(stack_bytes=int(m.group(1)), spill_store_bytes=int(m.group(2)),
                           spill_load_bytes=int(m.group(3)))
        elif current and (m := USED.search(line)):
            current.update(registers=int(m.group(1)), smem_bytes=int(m.group(2) or 0))
            rows.append(current)
            current = None
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", default="87,90")
    ap.add_argument("--json")
    args = ap.parse_args()
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        sys.exit("nvcc not on PATH (scripts/cuda_toolkit.sh installs it from the registry)")
    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1]
    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    rows = [r for src in sorted((ROOT / "csrc").glob("*.cu")) for r in compile_report(src, archs, nvcc)]
    print(f"{version}\n")
    print("| source | kernel | arch | registers | shared mem B | stack B | spill stores B | spill loads B |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['source']} | {r['kernel']} | {r['arch']} | {r['registers']} | {r['smem_bytes']} | "
              f"{r['stack_bytes']} | {r['spill_store_bytes']} | {r['spill_load_bytes']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"nvcc": version, "kernels": rows}, indent=1))
    spills = [r for r in rows if r["spill_store_bytes"] or r["spill_load_bytes"]]
    if spills or not rows:
        print("spills (or no kernels found):", spills, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
