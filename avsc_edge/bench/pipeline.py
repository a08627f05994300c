"""End-to-end ``predict`` timings per stage (decode, frames, features, inference), and the cost of
each frame policy, on one recording. Medians after warm-up."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .timing import median_time

STAGES = ("decode_ms", "frames_ms", "features_ms", "inference_ms", "total_ms")


@dataclass
class PredictRow:
    artifact: str
    backend: str
    precision: str
    label: str
    stages: dict[str, float] = field(default_factory=dict)   # median ms per stage


def time_predict(artifact: str | Path, clip: str | Path, repeats: int = 10, warmup: int = 2,
                 threads: int | None = None) -> PredictRow:
    from ..classifier import Classifier

    clf = Classifier(artifact, threads=threads)
    for _ in range(warmup):
        clf.predict(clip)
    runs = [clf.predict(clip) for _ in range(repeats)]
    stages = {s: statistics.median(r.timings[s] for r in runs) for s in STAGES}
    return PredictRow(str(artifact), clf.engine.backend, clf.engine.precision, runs[-1].label, stages)


def time_first_window(clip: str | Path, features, clip_cfg, repeats: int = 10) -> float:
    """Median seconds to decode one window's audio and frames and pre-process them (the SDK path)."""
    from ..preprocess.windows import Recording

    def first():
        window = next(Recording.from_files(clip, clip, features, clip_cfg).windows())
        return window.log_mel, window.frames   # frames decode on a second thread: wait for them

    return median_time(first, repeats, warmup=2)


def time_policies(video: str | Path, times: np.ndarray, size: int, repeats: int = 5) -> dict[str, float]:
    """Median seconds to fetch the frames at ``times`` with each frame policy."""
    from .. import media

    return {p: median_time(lambda: media.sample_frames(video, times, size, p), repeats, warmup=1)
            for p in media.POLICIES}
