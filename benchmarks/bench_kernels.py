"""Fused kernels vs their references, medians and speed-ups measured in the same run.

    python benchmarks/bench_kernels.py [--only log_mel|attention] [--json out/kernels.json]
"""
from __future__ import annotations

import argparse
import json
import platform
from dataclasses import asdict

from avsc_edge.bench.kernels import markdown, run
from avsc_edge.kernels import info


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["log_mel", "attention"], default=None)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = run(args.only or "all", tuple(args.threads))
    print(f"machine: {platform.processor() or platform.machine()}, kernels: {info()}")
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) | {"speedup": r.speedup} for r in rows], f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
