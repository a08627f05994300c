"""End-to-end ``predict`` timings per backend and stage (decode, log-mel, frames, inference), and
frame sampling by seeking against decoding every frame. Medians after warm-up."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .timing import median_time

STAGES = ("decode_ms", "features_ms", "frames_ms", "inference_ms", "total_ms")


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
    return PredictRow(str(artifact), clf.backend.name, clf.backend.precision, runs[-1].label, stages)


def time_frame_sampling(video: str | Path, times: np.ndarray, repeats: int = 5) -> dict[str, float]:
    """Median seconds to fetch the frames at ``times`` by seeking and by decoding forward."""
    from .. import media

    return {m: median_time(lambda: media.sample_frames(video, times, m), repeats, warmup=1) for m in ("seek", "decode")}


def write_long_video(path: Path, seconds: float = 60.0, fps: float = 30.0, width: int = 320, height: int = 240) -> Path:
    """A long H.264 + AAC test video (keyframe every 2 s, as cameras write them)."""
    from ..data.synth_video import render_scene_frames
    from ..data.synth import write_av

    rng = np.random.default_rng(0)
    frames = render_scene_frames(rng, ["car", "tree", "person"], int(seconds * fps), width, height)
    audio = (rng.standard_normal((2, int(seconds * 48000))) * 0.05).astype(np.float32)
    write_av(path, frames, fps, audio, 48000)
    return path
