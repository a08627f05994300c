"""``avsc-edge bench``: every backend x precision x batch on one validation set, decode to label.

Per row: model file size, accuracy and log-loss, per-clip latency p50/p95/p99, throughput,
real-time factor (processing time / audio duration), peak host memory growth, and the per-stage
split (decode, log-mel, frames, inference; the fusion head runs inside the inference graph).
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..labels import SCENES
from ..metrics import scene_metrics, softmax
from .machine import rss_mb

ROW_FIELDS = ("backend", "precision", "batch", "size_mb", "accuracy", "log_loss", "p50_ms", "p95_ms", "p99_ms",
              "clips_per_s", "rtf", "peak_mem_mb", "stages")


@dataclass
class BenchRow:
    artifact: str
    backend: str
    precision: str
    batch: int
    size_mb: float
    accuracy: float
    log_loss: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    clips_per_s: float
    rtf: float
    peak_mem_mb: float
    stages: dict[str, float] = field(default_factory=dict)
    clips: int = 0


def bench_artifact(artifact: str | os.PathLike, clips, labels: np.ndarray, batch: int, repeats: int = 1,
                   warmup: int = 1, threads: int | None = None,
                   progress: Callable[[str], None] | None = None) -> BenchRow:
    """Decode-to-label timing of ``artifact`` over ``clips`` (TAU ``Clip`` objects, container path)."""
    from ..classifier import Classifier
    from ..runtime.inputs import ModelInputs, from_files

    clf = Classifier(artifact, threads=threads)
    info = clf.info
    base_mem = rss_mb()
    peak = base_mem

    def run_batch(group):
        prepared, stage = [], {"decode_ms": 0.0, "features_ms": 0.0, "frames_ms": 0.0}
        for c in group:
            inp = from_files(c.video, c.video, info.feature_config, info.clip_config, threads)
            prepared.append(inp)
            for k in stage:
                stage[k] += inp.timings.get(k, 0.0)
        counts = [p.num_windows for p in prepared]
        joined = ModelInputs(np.concatenate([p.log_mel for p in prepared]), np.concatenate([p.frames for p in prepared]))
        t0 = time.perf_counter()
        out = clf.backend.run(joined.log_mel, joined.frames)
        stage["inference_ms"] = (time.perf_counter() - t0) * 1e3
        probs, start = [], 0
        for n in counts:
            probs.append(softmax(out["scene_logits"][start:start + n].astype(np.float64)).mean(axis=0))
            start += n
        return np.stack(probs), stage

    groups = [clips[i:i + batch] for i in range(0, len(clips), batch)]
    for g in groups[:warmup]:
        run_batch(g)
    per_clip, stages, probs = [], {k: [] for k in ("decode_ms", "features_ms", "frames_ms", "inference_ms")}, None
    t_all = time.perf_counter()
    for r in range(repeats):
        run_probs = []
        for g in groups:
            t0 = time.perf_counter()
            p, stage = run_batch(g)
            dt = (time.perf_counter() - t0) * 1e3
            per_clip += [dt / len(g)] * len(g)
            for k, v in stage.items():
                stages[k] += [v / len(g)] * len(g)
            run_probs.append(p)
            peak = max(peak, rss_mb())
        probs = np.concatenate(run_probs)
        if progress:
            progress(f"{Path(artifact).name} batch {batch}: repeat {r + 1}/{repeats}")
    elapsed = time.perf_counter() - t_all
    m = scene_metrics(probs, labels, SCENES)
    lat = np.array(per_clip)
    clip_seconds = clf.info.clip_config.seconds
    return BenchRow(
        artifact=str(artifact), backend=clf.backend.name, precision=clf.backend.precision, batch=batch,
        size_mb=Path(artifact).stat().st_size / 1e6, accuracy=m.accuracy, log_loss=m.log_loss,
        p50_ms=float(np.percentile(lat, 50)), p95_ms=float(np.percentile(lat, 95)), p99_ms=float(np.percentile(lat, 99)),
        clips_per_s=len(lat) / elapsed, rtf=float(np.median(lat)) / 1e3 / clip_seconds, peak_mem_mb=peak - base_mem,
        stages={k.removesuffix("_ms"): float(np.median(v)) for k, v in stages.items()}, clips=len(clips))


def table(rows: list[BenchRow]) -> str:
    """A Markdown table (also readable on a terminal)."""
    head = ("| backend | precision | batch | size MB | accuracy | log-loss | p50 ms | p95 ms | p99 ms | clips/s | RTF | "
            "mem MB | decode | log-mel | frames | inference |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        s = r.stages
        lines.append(f"| {r.backend} | {r.precision} | {r.batch} | {r.size_mb:.2f} | {r.accuracy:.3f} | {r.log_loss:.3f} | "
                     f"{r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} | {r.clips_per_s:.1f} | {r.rtf:.4f} | "
                     f"{r.peak_mem_mb:.0f} | {s['decode']:.1f} | {s['features']:.1f} | {s['frames']:.1f} | {s['inference']:.1f} |")
    return "\n".join(lines)


def plot(rows: list[BenchRow], path: str | os.PathLike) -> None:
    """Latency (p50, log scale) against accuracy: colour = backend/precision, marker = batch size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted({(r.backend, r.precision) for r in rows})
    batches = sorted({r.batch for r in rows})
    markers = "osD^vP*X"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        ax.scatter(r.p50_ms, r.accuracy, s=70, color=f"C{kinds.index((r.backend, r.precision))}",
                   marker=markers[batches.index(r.batch) % len(markers)], alpha=0.85, edgecolors="black")
    handles = [plt.Line2D([], [], color=f"C{i}", marker="o", ls="", label=f"{b} {p}") for i, (b, p) in enumerate(kinds)]
    handles += [plt.Line2D([], [], color="gray", marker=markers[i % len(markers)], ls="", label=f"batch {b}")
                for i, b in enumerate(batches)]
    ax.legend(handles=handles, fontsize=8, loc="best")
    ax.set_xscale("log")
    ax.set_xlabel("latency per clip, p50 (ms, decode to label)")
    ax.set_ylabel("accuracy (validation)")
    ax.set_title("avsc-edge bench: latency vs accuracy")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def rows_json(rows: list[BenchRow], machine: dict) -> dict:
    return {"machine": machine, "rows": [asdict(r) for r in rows]}
