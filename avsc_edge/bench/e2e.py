"""``avsc-edge bench``: every artifact x batch size on one validation set, decode to label, through
the :class:`~avsc_edge.Classifier`'s public calls (``predict`` for batch 1; the ``predict_many``
pipeline, decoding ahead on worker threads and batching windows across clips, for larger batches).

Per row: model (preset) and whether it is trained, file size, accuracy and log-loss (trained
models only), per-clip latency p50/p95/p99, throughput, real-time factor (processing time / audio
duration), peak host memory growth, the per-stage split (decode, frames, features, inference), and
the model alone: one window of the artifact's input shapes, no decoding in flight (inference in the
stage split shares the two cores with the frames still decoding, so it reads high for small models).
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..labels import SCENES
from ..metrics import scene_metrics
from .floor import floor_ms
from .machine import rss_mb

ROW_FIELDS = ("backend", "precision", "model", "trained", "batch", "size_mb", "accuracy", "log_loss", "p50_ms",
              "p95_ms", "p99_ms", "clips_per_s", "rtf", "peak_mem_mb", "stages", "model_ms", "floor_ms", "clip_kind")
STAGES = ("decode", "frames", "features", "inference")


@dataclass
class BenchRow:
    artifact: str
    backend: str
    precision: str
    model: str
    trained: bool
    batch: int
    size_mb: float
    accuracy: float | None
    log_loss: float | None
    p50_ms: float
    p95_ms: float
    p99_ms: float
    clips_per_s: float
    rtf: float
    peak_mem_mb: float
    stages: dict[str, float] = field(default_factory=dict)
    clips: int = 0
    model_ms: float | None = None      # the model alone on one window (median), see model_alone_ms
    floor_ms: float | None = None      # bench.floor: demux + decode of the packets the model needs (median)
    clip_kind: str = ""                # what the clips are (e.g. "720p30 GOP 2 s")


def model_alone_ms(clf, repeats: int = 21, warmup_s: float = 1.0) -> float:
    """Median milliseconds of the model alone on ``batch`` windows of random inputs in the artifact's
    shapes (``runner.run_windows``): no decoding, resampling or frame scaling. Warm-up runs fill
    ``warmup_s`` first (right after decoding, the first runs measured ~25 % slow)."""
    f, c = clf.info.feature_config, clf.info.clip_config
    rng = np.random.default_rng(0)
    b = clf.runner.batch_size
    mel = rng.standard_normal((b, 1, f.n_mels, f.num_frames(round(c.seconds * f.sr)))).astype(np.float32)
    frames = rng.standard_normal((b, c.num_frames, 3, c.frame_size, c.frame_size)).astype(np.float32)
    start = time.perf_counter()
    while time.perf_counter() - start < warmup_s:
        clf.runner.run_windows(mel, frames)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        clf.runner.run_windows(mel, frames)
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def artifact_size(path: str | os.PathLike) -> int:
    """Bytes of an artifact with its split graphs / engines."""
    from ..formats.artifact import part_paths

    p = Path(path)
    parts = part_paths(p).values() if p.suffix in (".onnx", ".plan", ".engine") else []
    return (p.stat().st_size if p.is_file() else 0) + sum(q.stat().st_size for q in parts if q.is_file())


def model_name(info) -> str:
    from ..config import PRESETS, ModelConfig

    m = info.model_config
    for name, p in PRESETS.items():
        ref = ModelConfig(**{**p["model"], "variant": m.variant})
        if (ref.audio_backbone, ref.visual_backbone, ref.audio_width, ref.audio_channels, ref.visual_channels,
                ref.d) == (m.audio_backbone, m.visual_backbone, m.audio_width, m.audio_channels, m.visual_channels, m.d):
            return name
    return "custom"


def bench_artifact(artifact: str | os.PathLike, clips, labels: np.ndarray, batch: int, repeats: int = 1,
                   warmup: int = 1, threads: int | None = None, workers: int = 2,
                   progress: Callable[[str], None] | None = None, clip_kind: str = "") -> BenchRow:
    """Decode-to-label timing of ``artifact`` over ``clips`` (TAU ``Clip`` objects; the video
    container, with its own audio track, is what is classified)."""
    from ..classifier import Classifier

    base_mem = peak = rss_mb()    # before the model loads: the row's memory includes it
    clf = Classifier(artifact, threads=threads, batch_size=batch)
    videos = [str(c.video) for c in clips]

    def one_pass() -> tuple[list, float]:
        t0 = time.perf_counter()
        if batch == 1:
            preds = [clf.predict(v) for v in videos]
        else:
            preds = [p for _, p in clf.predict_many(videos, workers=workers, keep_going=False)]
        return preds, time.perf_counter() - t0

    for _ in range(warmup):
        clf.predict(videos[0])
    latencies, stages, elapsed, preds = [], {s: [] for s in STAGES}, 0.0, []
    floors = []
    for r in range(repeats):
        preds, seconds = one_pass()
        elapsed += seconds
        peak = max(peak, rss_mb())
        floors += [floor_ms(v, clf.info.clip_config)["total_ms"] for v in videos]   # interleaved with the rows
        for p in preds:
            latencies.append(p.timings["total_ms"])
            for s in STAGES:
                stages[s].append(p.timings.get(f"{s}_ms", 0.0))
        if progress:
            progress(f"{model_name(clf.info)} {clf.engine.backend} {clf.engine.precision} ({Path(artifact).name}) "
                     f"batch {batch}{f', {clip_kind} clips' if clip_kind else ''}: repeat {r + 1}/{repeats}")
    info = clf.info
    trained = not info.metrics.get("untrained", False)
    scored = trained and set(info.labels) == set(SCENES)   # a few-shot model's own labels: latency only
    m = scene_metrics(np.array([[p.scores[lab] for lab in SCENES] for p in preds]), labels, SCENES) if scored else None
    lat = np.array(latencies)
    audio_seconds = info.clip_config.seconds
    return BenchRow(
        artifact=str(artifact), backend=clf.engine.backend, precision=clf.engine.precision, model=model_name(info),
        trained=trained, batch=batch, size_mb=artifact_size(artifact) / 1e6,
        accuracy=m.accuracy if m else None, log_loss=m.log_loss if m else None,
        p50_ms=float(np.percentile(lat, 50)), p95_ms=float(np.percentile(lat, 95)), p99_ms=float(np.percentile(lat, 99)),
        clips_per_s=len(lat) / elapsed, rtf=elapsed / len(lat) / audio_seconds, peak_mem_mb=peak - base_mem,
        stages={s: float(np.median(v)) for s, v in stages.items()}, clips=len(clips), model_ms=model_alone_ms(clf),
        floor_ms=float(np.median(floors)), clip_kind=clip_kind)


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def table(rows: list[BenchRow]) -> str:
    """A Markdown table (also readable on a terminal). RTF = wall time per clip / clip duration;
    "RSS +MB" = the process's resident memory at the row's peak minus before its model loaded (rows
    run in one process: memory an earlier row kept is not counted again); stage columns are median
    milliseconds per clip; "floor ms" = demuxing the file once and decoding the audio and exactly
    the video packets the model needs, nothing else, on one thread (bench.floor), and "x floor" the
    row's p50 over it: how far from the limit."""
    head = ("| model | clips | backend | precision | batch | size MB | accuracy | log-loss | p50 ms | p95 ms | p99 ms | "
            "clips/s | RTF | RSS +MB | decode ms | frames ms | log-mel ms | inference ms | model alone ms | floor ms | "
            "x floor |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        s = r.stages
        model = r.model + ("" if r.trained else " (untrained)")
        ratio = r.p50_ms / r.floor_ms if r.floor_ms else None
        lines.append(f"| {model} | {r.clip_kind or '-'} | {r.backend} | {r.precision} | {r.batch} | {r.size_mb:.2f} | "
                     f"{_num(r.accuracy, '.3f')} | "
                     f"{_num(r.log_loss, '.3f')} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} | "
                     f"{r.clips_per_s:.2f} | {r.rtf:.4f} | {r.peak_mem_mb:.0f} | {s['decode']:.1f} | {s['frames']:.1f} | "
                     f"{s['features']:.1f} | {s['inference']:.1f} | {_num(r.model_ms, '.1f')} | "
                     f"{_num(r.floor_ms, '.1f')} | {_num(ratio, '.2f')} |")
    return "\n".join(lines)


def plot(rows: list[BenchRow], path: str | os.PathLike) -> None:
    """Two panels: latency per clip by stage (stacked bars, one per row), and latency against
    accuracy for the trained models."""
    from ..plots import pyplot, save

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    names = [f"{r.model}{'' if r.trained else '*'} {r.backend}\n{r.precision} b{r.batch}" for r in rows]
    bottom = np.zeros(len(rows))
    for i, s in enumerate(STAGES):
        vals = np.array([r.stages[s] for r in rows])
        ax1.bar(range(len(rows)), vals, bottom=bottom, label=s, color=f"C{i}")
        bottom += vals
    ax1.set_xticks(range(len(rows)), names, fontsize=7)
    ax1.set_ylabel("ms per clip (median)")
    ax1.set_title("where the time goes (* untrained: latency only)")
    ax1.legend(fontsize=8)
    trained = [r for r in rows if r.accuracy is not None]
    kinds = sorted({(r.model, r.backend, r.precision) for r in trained})
    for r in trained:
        ax2.scatter(r.p50_ms, r.accuracy, s=60, color=f"C{kinds.index((r.model, r.backend, r.precision))}",
                    marker="o" if r.batch == 1 else "s", edgecolors="black")
    for i, k in enumerate(kinds):
        ax2.scatter([], [], color=f"C{i}", label=" ".join(k))
    ax2.set_xscale("log")
    ax2.set_xlabel("latency per clip, p50 (ms, decode to label)")
    ax2.set_ylabel("accuracy (validation)")
    ax2.set_title("latency vs accuracy (square: batch > 1)")
    if kinds:
        ax2.legend(fontsize=7)
    ax2.grid(alpha=0.3, which="both")
    fig.tight_layout()
    save(fig, path, 110)


def rows_json(rows: list[BenchRow], machine: dict) -> dict:
    return {"machine": machine, "rows": [asdict(r) for r in rows]}
