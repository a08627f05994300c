"""How often ``stream.sampler`` misses the frame nearest a grid point, and how many frames it keeps,
for cameras whose arrival intervals jitter.

    python benchmarks/frame_sampler.py [--runs 2000] [--jitter 0,0.15,0.3] [--json out.json]

Each run is a 60-s stream: arrivals start at 0.37 s, intervals ``(1 + U(-jitter, jitter)) / fps``,
grid origin 0.2 s (as ``tests/test_stream_sampler.py``). A run misses when, for any grid point
inside the stream, the arrival nearest to it is not kept: a window would then take a farther frame
than keeping every frame does. "kept" is the share of arrivals copied and scaled; "decision" the
median time of one ``wants`` call over the runs (one 60-s stream's calls, divided by their number).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from avsc_edge.stream.sampler import FrameSampler

SECONDS, ORIGIN = 60.0, 0.2
CAMERAS = [(30.0, 10 / 3), (10.0, 1.25), (24.0, 0.5), (4.0, 10 / 3), (30.0, 0.5)]   # fps, grid step (s)


def arrivals(rng: np.random.Generator, fps: float, jitter: float) -> np.ndarray:
    gaps = (1 + rng.uniform(-jitter, jitter, int(SECONDS * fps * 1.2))) / fps
    t = 0.37 + np.cumsum(gaps)
    return t[t < SECONDS]


def one_run(rng: np.random.Generator, fps: float, seg: float, jitter: float) -> tuple[bool, float, float]:
    times = arrivals(rng, fps, jitter).tolist()
    sampler = FrameSampler(seg)
    t0 = time.perf_counter()
    wanted = [sampler.wants(t, ORIGIN) for t in times]
    decision_us = (time.perf_counter() - t0) / len(times) * 1e6
    kept, times = np.array(wanted), np.array(times)
    grid = ORIGIN + (np.arange(int(SECONDS / seg)) + 0.5) * seg
    grid = grid[(grid > times[0]) & (grid < times[-1])]
    nearest = np.abs(times[:, None] - grid[None]).argmin(axis=0)
    return bool((~kept[nearest]).any()), float(kept.mean()), decision_us


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--jitter", default="0,0.15,0.3", help="comma-separated, as a fraction of the interval")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    print("| jitter | fps | grid step (s) | runs missing a nearest frame | frames kept | decision (us) |\n"
          "|---|---|---|---|---|---|")
    for jitter in (float(j) for j in args.jitter.split(",")):
        for fps, seg in CAMERAS:
            results = [one_run(rng, fps, seg, jitter) for _ in range(args.runs)]
            misses = sum(m for m, _, _ in results)
            kept = 100 * float(np.mean([k for _, k, _ in results]))
            decision = float(np.median([d for _, _, d in results]))
            rows.append({"jitter": jitter, "fps": fps, "grid_step_s": seg, "runs": args.runs,
                         "runs_missing": misses, "kept_percent": kept, "decision_us": decision})
            print(f"| ±{100 * jitter:.0f} % | {fps:g} | {seg:.2f} | {misses}/{args.runs} | {kept:.2f} % | {decision:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "seed": args.seed}, f, indent=1)


if __name__ == "__main__":
    main()
