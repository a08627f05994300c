"""Streaming per hop through the Classifier's backend: the incremental path (audio tokens and frame
embeddings computed once) against recomputing each window from scratch, the real-time factor, and
the thread policy (the default against every intra-op thread count), in one run.

    python benchmarks/bench_stream.py MODEL [MODEL ...] [--seconds 40] [--hop 1.0] [--threads 1,2]

MODEL: any artifact (.safetensors, .onnx with its split graphs, .plan). Input: a synthetic stream of
0.1-s mono audio chunks at 48 kHz and 1280x720 camera frames at 10 fps.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from avsc_edge import Classifier
from avsc_edge.stream import StreamConfig, StreamState


def run(backend, incremental: bool, seconds: float, hop: float, sr: int = 48000, fps: float = 10.0,
        size=(720, 1280)):
    rng = np.random.default_rng(0)
    state = StreamState(backend, sr, StreamConfig(hop=hop, incremental=incremental))
    frames = rng.integers(0, 255, (8, *size, 3), dtype=np.uint8)
    chunk = 0.1
    hop_ms, preds = [], []
    t_all = time.perf_counter()
    for i in range(int(round(seconds / chunk))):
        t = i * chunk
        t0 = time.perf_counter()
        out = state.add_audio((rng.standard_normal(int(sr * chunk)) * 0.1).astype(np.float32), t)
        out += state.add_frame(frames[i % 8], t)
        if out:
            hop_ms.append((time.perf_counter() - t0) * 1e3)
            preds += out
    return {"hop_ms": hop_ms, "preds": preds, "seconds": time.perf_counter() - t_all, "stats": dict(state.stats)}


def measure(model: str, seconds: float, hop: float, threads: int | None):
    clf = Classifier(model, threads=threads)
    window = clf.info.clip_config.seconds
    run(clf.backend, True, window + 2 * hop, hop)   # warm-up
    return clf, {inc: run(clf.backend, inc, seconds, hop) for inc in (False, True)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--hop", type=float, default=1.0)
    ap.add_argument("--threads", default="1,2", help="intra-op thread counts to compare with the default")
    ap.add_argument("--json")
    args = ap.parse_args()
    report = []
    print("| model | backend | precision | path | per-hop p50 ms | p95 ms | RTF | audio mel frames / hop | "
          "frames embedded | predictions |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model in args.models:
        clf, res = measure(model, args.seconds, args.hop, None)
        info = clf.info
        name = f"{info.clip_config.seconds:g}-s window, {info.feature_config.sr // 1000} kHz, {info.clip_config.frame_size} px"
        for inc, r in res.items():
            n = len(r["preds"])
            print(f"| {name} | {clf.engine.backend} | {clf.engine.precision} | {'incremental' if inc else 'from scratch'} | "
                  f"{statistics.median(r['hop_ms']):.1f} | {np.percentile(r['hop_ms'], 95):.1f} | "
                  f"{r['seconds'] / args.seconds:.4f} | {r['stats']['audio_frames_computed'] / n:.0f} | "
                  f"{r['stats']['frames_embedded']} | {n} |")
        speedup = statistics.median(res[False]["hop_ms"]) / statistics.median(res[True]["hop_ms"])
        diff = max(abs(a.scores[k] - b.scores[k]) for a, b in zip(res[True]["preds"], res[False]["preds"]) for k in a.scores)
        sweep = {}
        for t in [int(x) for x in args.threads.split(",")]:
            _, r = measure(model, min(args.seconds, info.clip_config.seconds + 10 * args.hop), args.hop, t)
            sweep[t] = statistics.median(r[True]["hop_ms"])
        default = statistics.median(res[True]["hop_ms"])
        best = min(sweep.values())
        print(f"|  | | | speed-up per hop {speedup:.2f}x; max score difference {diff:.3f}; threads "
              + ", ".join(f"{t}: {v:.1f} ms" for t, v in sweep.items())
              + f", default ({clf.engine.threads}): {default:.1f} ms = {default / best:.2f}x the best | | | | | | |")
        report.append({"model": model, "backend": clf.engine.backend, "precision": clf.engine.precision,
                       "speedup": speedup, "max_score_diff": diff, "threads_ms": sweep, "default_ms": default,
                       "rtf": {str(k): v["seconds"] / args.seconds for k, v in res.items()},
                       "hop_ms_p50": {str(k): statistics.median(v["hop_ms"]) for k, v in res.items()}})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
