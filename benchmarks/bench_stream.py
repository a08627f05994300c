"""Streaming: per-hop latency of the incremental path against re-classifying the whole window from
scratch (same windows, same results), and the real-time factor (processing time / stream time).

    python benchmarks/bench_stream.py MODEL [--seconds 60] [--hop 1.0]

MODEL: a .safetensors checkpoint, or an .onnx exported with --split.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from avsc_edge.stream import StreamConfig, StreamState
from avsc_edge.stream.encoders import open_encoders


def run(enc, incremental: bool, seconds: float, hop: float, sr: int = 16000, fps: float = 10.0):
    rng = np.random.default_rng(0)
    state = StreamState(enc, sr, StreamConfig(hop=hop, incremental=incremental))
    frames = rng.integers(0, 255, (16, 96, 128, 3), dtype=np.uint8)
    chunk = 0.1
    hop_ms, preds = [], []
    t_all = time.perf_counter()
    for i in range(int(seconds / chunk)):
        t = i * chunk
        t0 = time.perf_counter()
        out = state.add_audio((rng.standard_normal(int(sr * chunk)) * 0.1).astype(np.float32), t)
        out += state.add_frame(frames[i % 16], t)
        if out:
            hop_ms.append((time.perf_counter() - t0) * 1e3)
            preds += out
    return hop_ms, preds, time.perf_counter() - t_all, state.stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--hop", type=float, default=1.0)
    args = ap.parse_args()
    enc = open_encoders(args.model)
    print(f"model {args.model} ({enc.name}), window {enc.info.clip_config.seconds:g} s, "
          f"{enc.info.clip_config.num_frames} frames, hop {args.hop:g} s, {args.seconds:g} s stream, 10 fps\n")
    results = {}
    for incremental in (False, True):
        run(enc, incremental, min(10.0, args.seconds), args.hop)  # warm-up
        results[incremental] = run(enc, incremental, args.seconds, args.hop)
    print("| path | per-hop p50 (ms) | p95 (ms) | real-time factor | frames embedded | predictions |")
    print("|---|---|---|---|---|---|")
    for incremental, (hop_ms, preds, total, stats) in results.items():
        name = "incremental" if incremental else "whole window from scratch"
        print(f"| {name} | {statistics.median(hop_ms):.2f} | {np.percentile(hop_ms, 95):.2f} | "
              f"{total / args.seconds:.4f} | {stats['frames_embedded']} | {len(preds)} |")
    a, b = results[True][1], results[False][1]
    diff = max(abs(x.scores[k] - y.scores[k]) for x, y in zip(a, b) for k in x.scores)
    print(f"\nspeed-up per hop: {statistics.median(results[False][0]) / statistics.median(results[True][0]):.2f}x; "
          f"max |score difference| between the paths: {diff:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
