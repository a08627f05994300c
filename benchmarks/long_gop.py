"""``predict`` on long-GOP clips against decoding every video frame (PyAV, nothing else) and against
the floor (bench.floor), interleaved per clip in one process, medians over clips x repeats.

    python benchmarks/long_gop.py MODEL DATA [--clips 6] [--repeats 2] [--json out.json]

DATA: a TAU-layout folder, e.g. ``avsc-edge synth --profile longgop --out DATA --clips 20``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def full_decode_ms(path: str) -> float:
    import av

    t0 = time.perf_counter()
    with av.open(path) as c:
        for _ in c.decode(video=0):
            pass
    return (time.perf_counter() - t0) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    from avsc_edge import Classifier
    from avsc_edge.bench.floor import floor_ms
    from avsc_edge.data import TauDataset

    clips = [str(c.video) for c in TauDataset(args.data).clips("evaluate")[: args.clips]]
    clf = Classifier(args.model)
    clf.predict(clips[0])    # warm-up
    times: dict[str, list[float]] = {"predict": [], "floor": [], "full_decode": []}
    for _ in range(args.repeats):
        for clip in clips:
            t0 = time.perf_counter()
            clf.predict(clip)
            times["predict"].append((time.perf_counter() - t0) * 1e3)
            times["floor"].append(floor_ms(clip, clf.info.clip_config)["total_ms"])
            times["full_decode"].append(full_decode_ms(clip))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.model} on {args.data}: predict {med['predict']:.1f} ms, floor {med['floor']:.1f} ms, decoding every "
          f"frame {med['full_decode']:.1f} ms; every frame / predict {med['full_decode'] / med['predict']:.2f}x, "
          f"predict / floor {med['predict'] / med['floor']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "data": args.data, "ms": times, "median_ms": med},
                                              indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
