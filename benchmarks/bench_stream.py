"""Streaming per hop through the Classifier's backend: the incremental path (audio tokens and frame
embeddings computed once) against recomputing each window from scratch, and against keeping (and
scaling) every camera frame instead of only those a window may use (stream.sampler); the
real-time factor, and the thread policy (the default against every intra-op thread count), in one
run. "per hop" is the step that emits a prediction; "per s" all the stream's work over its seconds
(with a 1-s hop: the whole cost of one hop, the frames between predictions included).

    python benchmarks/bench_stream.py MODEL [MODEL ...] [--seconds 40] [--hop 1.0] [--fps 30] [--threads 1,2]
    python benchmarks/bench_stream.py MODEL --file [CLIP] [--gop 2]   # Classifier.stream over a file vs its floor
    python benchmarks/bench_stream.py MODEL --soak 600                # the push API, 720p30, RSS each minute

``--file``: a 720p30 H.264 + AAC clip (written when not given: ``--seconds`` long, a keyframe
every ``--gop`` seconds) streamed as fast as it decodes; per hop: wall time of everything against
the file's floor (bench.floor: demux, the audio and exactly the video packets the grid needs).

MODEL: any artifact (.safetensors, .onnx with its split graphs, .plan). Input: a synthetic stream of
0.1-s mono audio chunks at 48 kHz and 1280x720 camera frames at ``--fps``.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np

from avsc_edge import Classifier
from avsc_edge.stream import StreamConfig, StreamState
from avsc_edge.stream.sampler import FrameSampler


class KeepEveryFrame(FrameSampler):
    """The reference: every frame kept and scaled on arrival (the stream before stream.sampler)."""

    def wants(self, t, origin):
        return True


def run(backend, incremental: bool, seconds: float, hop: float, sr: int = 48000, fps: float = 30.0,
        size=(720, 1280), every_frame: bool = False):
    rng = np.random.default_rng(0)
    state = StreamState(backend, sr, StreamConfig(hop=hop, incremental=incremental))
    if every_frame:
        state.sampler = KeepEveryFrame(1.0)
    frames = rng.integers(0, 255, (8, *size, 3), dtype=np.uint8)
    chunk = 0.1
    audio = (rng.standard_normal((int(round(seconds / chunk)), int(sr * chunk))) * 0.1).astype(np.float32)
    hop_ms, preds, fi = [], [], 0
    t_all = time.perf_counter()
    for i in range(len(audio)):
        t = i * chunk
        t0 = time.perf_counter()
        out = state.add_audio(audio[i], t)
        while fi / fps < t + chunk - 1e-9:
            out += state.add_frame(frames[fi % 8], fi / fps)
            fi += 1
        if out:
            hop_ms.append((time.perf_counter() - t0) * 1e3)
            preds += out
    return {"hop_ms": hop_ms, "preds": preds, "seconds": time.perf_counter() - t_all, "stats": dict(state.stats)}


PATHS = {"from scratch": dict(incremental=False), "incremental, every frame scaled": dict(every_frame=True),
         "incremental": dict()}


def measure(model: str, seconds: float, hop: float, fps: float, threads: int | None):
    clf = Classifier(model, threads=threads)
    window = clf.info.clip_config.seconds
    run(clf.backend, True, window + 2 * hop, hop, fps=fps)   # warm-up
    return clf, {name: run(clf.backend, kw.get("incremental", True), seconds, hop, fps=fps,
                           every_frame=kw.get("every_frame", False)) for name, kw in PATHS.items()}


def file_rows(model: str, clip: str | None, seconds: float, gop: float, hop: float, repeats: int = 5) -> dict:
    """Classifier.stream over a file with the events read ahead on a thread (the default) and
    decoded between the model's calls (``read_ahead=0``), alternated, against the file's floor."""
    import tempfile
    from pathlib import Path

    import av

    from avsc_edge.bench.floor import floor_ms
    from bench_gst import make_clip

    clf = Classifier(model)
    configs = {"read ahead": StreamConfig(hop=hop), "serial": StreamConfig(hop=hop, read_ahead=0)}
    with tempfile.TemporaryDirectory() as tmp:
        path = clip or str(Path(tmp) / "clip.mp4")
        if clip is None:
            make_clip(Path(path), seconds, gop_seconds=gop)
        with av.open(path) as c:
            duration = c.duration / av.time_base
        outputs = {name: [p.scores for p in clf.stream(path, config=cfg)] for name, cfg in configs.items()}  # warm-up
        same = all(np.array_equal(a, b) for a, b in zip(*outputs.values())) and len(set(map(len, outputs.values()))) == 1
        walls: dict = {name: [] for name in configs}
        floors, hops = [], len(outputs["serial"])
        for _ in range(repeats):
            for name, cfg in configs.items():
                t0 = time.perf_counter()
                list(clf.stream(path, config=cfg))
                walls[name].append((time.perf_counter() - t0) * 1e3)
            floors.append(floor_ms(path, clf.info.clip_config)["total_ms"])
    floor = statistics.median(floors)
    row = {"model": model, "clip": clip or f"{seconds:g}-s 720p30, keyframe every {gop:g} s", "hops": hops,
           "seconds": duration, "identical_predictions": same, "floor_ms_per_s": floor / duration}
    for name, values in walls.items():
        wall = statistics.median(values)
        key = name.replace(" ", "_")
        row[key] = {"ms_per_hop": wall / hops, "ms_per_s": wall / duration, "x_floor": wall / floor}
        print(f"| {Path(model).parent.name or model} | {row['clip']} | {name} | {hops} | {wall / hops:.1f} | {wall / duration:.1f} | "
              f"{floor / duration:.1f} | {wall / floor:.2f} |")
    print(f"read ahead / serial: {row['read_ahead']['ms_per_s'] / row['serial']['ms_per_s']:.2f}; "
          f"predictions identical: {same}")
    return row


CHUNKS_PER_SECOND = 10   # the push-API benchmarks' microphone: 0.1-s chunks


def camera_and_microphone(sr: int = 48000) -> tuple[np.ndarray, np.ndarray]:
    """Eight 1280x720 RGB frames and ten 0.1-s chunks of noise at ``sr``, cycled through as the
    push-API benchmarks' camera and microphone."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (8, 720, 1280, 3), dtype=np.uint8)
    audio = (rng.standard_normal((CHUNKS_PER_SECOND, sr // CHUNKS_PER_SECOND)) * 0.1).astype(np.float32)
    return frames, audio


def push_stream(sc, start: float, seconds: float, frames: np.ndarray, audio: np.ndarray, fps: float) -> None:
    """Feed a StreamClassifier the audio chunks and the frames at ``fps`` of ``seconds`` of stream
    time from ``start``, as fast as it takes them and losing nothing (at most 64 inputs waiting);
    returns once its worker has caught up. Consecutive calls make one unbroken stream."""
    first, end = round(start * CHUNKS_PER_SECOND), round((start + seconds) * CHUNKS_PER_SECOND)
    fi = max(0, math.floor(first * fps / CHUNKS_PER_SECOND) - 1)
    while fi / fps < first / CHUNKS_PER_SECOND - 1e-9:     # the first frame the last call did not push
        fi += 1
    for i in range(first, end):
        while sc.pending > 64:
            time.sleep(0.0005)
        sc.push_audio(audio[i % len(audio)], i / CHUNKS_PER_SECOND)
        while fi / fps < (i + 1) / CHUNKS_PER_SECOND - 1e-9:
            sc.push_frame(frames[fi % len(frames)], fi / fps)
            fi += 1
    while sc.pending:
        time.sleep(0.0005)


def soak(model: str, seconds: float, fps: float, sr: int = 48000) -> dict:
    """The push API (StreamClassifier) fed 0.1-s audio chunks and 1280x720 frames at ``fps`` for
    ``seconds`` of stream time, as fast as it takes them; resident memory after every minute."""
    from avsc_edge.bench.machine import rss_mb
    from avsc_edge.stream import StreamClassifier

    frames, audio = camera_and_microphone(sr)
    n = 0

    def count(_):
        nonlocal n
        n += 1

    sc = StreamClassifier(model, sample_rate=sr, hop=1.0, on_prediction=count)
    rss, fed, t0 = [], 0.0, time.perf_counter()
    while fed < seconds - 1e-9:
        part = min(60.0, seconds - fed)
        push_stream(sc, fed, part, frames, audio, fps)
        if part == 60.0:                 # a whole minute, the worker caught up: measure
            rss.append(rss_mb())
        fed += part
    sc.close()
    wall = time.perf_counter() - t0
    row = {"model": model, "stream_seconds": seconds, "fps": fps, "predictions": n, "wall_s": wall,
           "ms_per_stream_second": wall / seconds * 1e3, "rss_mb_per_minute": rss, "stats": sc.stats}
    print(f"{model}: {n} predictions over {seconds:g} s of 720p{fps:g} in {wall:.1f} s "
          f"({row['ms_per_stream_second']:.1f} ms per stream second, producer and worker together); "
          f"RSS per minute: {', '.join(f'{r:.0f}' for r in rss)} MB (spread {max(rss) - min(rss):.1f} MB "
          f"after the first: {max(rss[1:] or rss) - min(rss[1:] or rss):.1f}); dropped inputs {sc.stats['dropped_inputs']}")
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--hop", type=float, default=1.0)
    ap.add_argument("--fps", type=float, default=30.0, help="camera frames per second (1280x720)")
    ap.add_argument("--file", nargs="?", const="", help="stream a file (written when no CLIP is given)")
    ap.add_argument("--soak", type=float, help="seconds of push-API stream (720p at --fps) with RSS each minute")
    ap.add_argument("--gop", type=float, default=2.0, help="--file: seconds between keyframes of the written clip")
    ap.add_argument("--threads", default="1,2", help="intra-op thread counts to compare with the default")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.soak:
        report = [soak(m, args.soak, args.fps) for m in args.models]
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=1)
        return 0
    if args.file is not None:
        print("| model | clip | events | hops | ms per hop | ms per stream s | floor ms per s | x floor |\n"
              "|---|---|---|---|---|---|---|---|")
        report = [file_rows(m, args.file or None, args.seconds, args.gop, args.hop) for m in args.models]
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=1)
        return 0
    report = []
    print("| model | backend | precision | path | per-hop p50 ms | p95 ms | per s ms | RTF | audio mel frames / hop | "
          "frames scaled | frames embedded | predictions |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for model in args.models:
        clf, res = measure(model, args.seconds, args.hop, args.fps, None)
        info = clf.info
        name = f"{info.clip_config.seconds:g}-s window, {info.feature_config.sr // 1000} kHz, {info.clip_config.frame_size} px"
        for path, r in res.items():
            n, st = len(r["preds"]), r["stats"]
            scaled = round(args.seconds * args.fps) - st["frames_skipped"]
            print(f"| {name} | {clf.engine.backend} | {clf.engine.precision} | {path} | "
                  f"{statistics.median(r['hop_ms']):.1f} | {np.percentile(r['hop_ms'], 95):.1f} | "
                  f"{r['seconds'] / args.seconds * 1e3:.1f} | {r['seconds'] / args.seconds:.4f} | "
                  f"{st['audio_frames_computed'] / n:.0f} | {scaled} | {st['frames_embedded']} | {n} |")
        inc, every, scratch = res["incremental"], res["incremental, every frame scaled"], res["from scratch"]
        p50 = {k: statistics.median(v["hop_ms"]) for k, v in res.items()}
        diff = max(abs(a.scores[k] - b.scores[k]) for a, b in zip(inc["preds"], scratch["preds"]) for k in a.scores)
        same = all(a.scores == b.scores for a, b in zip(inc["preds"], every["preds"])) and \
            len(inc["preds"]) == len(every["preds"])
        sweep = {}
        for t in [int(x) for x in args.threads.split(",")]:
            _, r = measure(model, min(args.seconds, info.clip_config.seconds + 10 * args.hop), args.hop, args.fps, t)
            sweep[t] = statistics.median(r["incremental"]["hop_ms"])
        default = p50["incremental"]
        best = min(sweep.values())
        print(f"|  | | | per hop: incremental vs from scratch {p50['from scratch'] / default:.2f}x, vs every frame "
              f"scaled {p50['incremental, every frame scaled'] / default:.2f}x (per s "
              f"{every['seconds'] / inc['seconds']:.2f}x; predictions identical: {same}); max score difference vs "
              f"from scratch {diff:.3f}; threads " + ", ".join(f"{t}: {v:.1f} ms" for t, v in sweep.items())
              + f", default ({clf.engine.threads}): {default:.1f} ms = {default / best:.2f}x the best | | | | | | | | |")
        report.append({"model": model, "backend": clf.engine.backend, "precision": clf.engine.precision,
                       "fps": args.fps, "max_score_diff": diff, "identical_to_every_frame": same,
                       "threads_ms": sweep, "default_ms": default,
                       "rtf": {k: v["seconds"] / args.seconds for k, v in res.items()},
                       "per_s_ms": {k: v["seconds"] / args.seconds * 1e3 for k, v in res.items()},
                       "hop_ms_p50": p50, "stats": {k: v["stats"] for k, v in res.items()}})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
