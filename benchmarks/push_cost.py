"""Where a second of the push API's stream goes: ``StreamClassifier`` fed 0.1-s audio chunks at
48 kHz and 1280x720 frames at 30 fps (``bench_stream.push_stream``, as its ``--soak``), after a warm-up of one window
plus two hops; wall and CPU time per stream second, and the time of each model call and of the
producer's frame scaling per stream second, medians over repeats; then what a skipped camera frame
costs (microseconds per call).

    python benchmarks/push_cost.py MODEL [--seconds 60] [--repeats 5] [--json out.json]

The model calls (ONNX Runtime or another backend) and the log-mel are what a hop cannot avoid; the
rest is resampling, bookkeeping and the queue between the producer and the worker.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict

import numpy as np

import avsc_edge.stream.push as push
from avsc_edge.stream import StreamClassifier
from bench_stream import camera_and_microphone, push_stream

SR, FPS = 48000, 30
CALLS = ("audio_tokens", "audio_slots", "encode_frames", "heads")


def timed(owner, name: str, spent: dict, label: str | None = None):
    """Replace ``owner.name`` by a wrapper that adds its wall time to ``spent[label or name]``;
    returns the original."""
    inner = getattr(owner, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[label or name] += time.perf_counter() - t0

    setattr(owner, name, wrapper)
    return inner


def one_run(model: str, seconds: float, frames: np.ndarray, audio: np.ndarray) -> dict:
    sc = StreamClassifier(model, sample_rate=SR, hop=1.0)
    warm = sc.info.clip_config.seconds + 2.0
    push_stream(sc, 0.0, warm, frames, audio, FPS)
    spent: dict[str, float] = defaultdict(float)
    for name in CALLS:
        timed(sc.state.runner.backend, name, spent)
    timed(sc.state.tokens, "window", spent)          # the log-mel of new audio + the audio tokens
    scale = timed(push, "model_sized", spent, "frame scaling (producer)")   # push_frame's call
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        push_stream(sc, warm, seconds, frames, audio, FPS)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        push.model_sized = scale
        sc.close()
    per_s = {k: v / seconds * 1e3 for k, v in spent.items()}
    per_s["log-mel and token bookkeeping"] = per_s.pop("window") - per_s["audio_tokens"]
    return {"wall_ms_per_s": wall / seconds * 1e3, "cpu_ms_per_s": cpu / seconds * 1e3, "stages_ms_per_s": per_s,
            "predictions": sc.stats["predictions"]}


def bookkeeping_us(model: str, frames: np.ndarray, audio: np.ndarray, calls: int = 2000) -> dict:
    """Microseconds per call of what every skipped camera frame costs: the sampler's decision (on
    the producer) and ``StreamState.frame_seen`` (on the worker), mid-stream, no prediction due."""
    sc = StreamClassifier(model, sample_rate=SR, hop=1.0)
    warm = sc.info.clip_config.seconds + 2.5
    push_stream(sc, 0.0, warm, frames, audio, FPS)         # returns with the worker idle: nothing queued
    state, times = sc.state, [warm + 1e-5 * k for k in range(calls)]
    t0 = time.perf_counter()
    for t in times:
        state.sampler.wants(t, state.first_time)
    t1 = time.perf_counter()
    for t in times:
        state.frame_seen(t)
    t2 = time.perf_counter()
    sc.close()
    return {"sampler_wants_us": (t1 - t0) / calls * 1e6, "frame_seen_us": (t2 - t1) / calls * 1e6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    frames, audio = camera_and_microphone(SR)
    runs = [one_run(args.model, args.seconds, frames, audio) for _ in range(args.repeats)]
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    stages = {k: statistics.median(r["stages_ms_per_s"][k] for r in runs) for k in runs[0]["stages_ms_per_s"]}
    print(f"{args.model}: {args.seconds:g} s of 720p30 per run, {args.repeats} runs, medians")
    walls = ", ".join(f"{r['wall_ms_per_s']:.2f}" for r in runs)
    print(f"wall {med('wall_ms_per_s'):.2f} ms per stream second (runs: {walls}), CPU {med('cpu_ms_per_s'):.2f} ms")
    for name, ms in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"  {name:34s} {ms:6.2f} ms per stream second")
    print(f"  {'sum of the stages above':34s} {sum(stages.values()):6.2f}")
    book = bookkeeping_us(args.model, frames, audio)
    print(f"a skipped frame: the sampler's decision {book['sampler_wants_us']:.1f} us, "
          f"StreamState.frame_seen {book['frame_seen_us']:.1f} us")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "seconds": args.seconds, "runs": runs, "median_stages": stages,
                       "skipped_frame_us": book}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
