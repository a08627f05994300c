"""From what the user passes (a container, a TAU-style pair, arrays) to model inputs, window by window.

Shared by every backend: the same pre-processing the model was trained with, read from the artifact.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .. import media
from ..config import ClipConfig, FeatureConfig
from ..errors import InputError, MediaError
from ..features import check_waveform, fit_length, log_mel, preprocess_frames, window_samples

MediaSource = str | os.PathLike


@dataclass
class ModelInputs:
    """Per-window model inputs; ``None`` for a missing modality."""

    log_mel: np.ndarray | None      # float32 [W, 1, n_mels, T]
    frames: np.ndarray | None       # float32 [W, F, 3, S, S]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def num_windows(self) -> int:
        return (self.log_mel if self.log_mel is not None else self.frames).shape[0]

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(m for m, x in (("audio", self.log_mel), ("visual", self.frames)) if x is not None)


def _num_windows(duration: float, clip: ClipConfig) -> int:
    """Whole windows, plus a trailing partial one only when it holds at least half a window of
    signal (codec padding such as AAC priming must not create a near-empty window)."""
    full = math.floor(duration / clip.seconds + 1e-6)
    partial = duration - full * clip.seconds >= 0.5 * clip.seconds
    return max(1, full + int(partial))


def audio_windows(waveform: np.ndarray, features: FeatureConfig, clip: ClipConfig,
                  threads: int | None = None) -> np.ndarray:
    """Waveform at ``features.sr`` -> ``[W, 1, n_mels, T]`` (the last window zero-padded)."""
    x = check_waveform(waveform)
    x = x.mean(axis=0) if x.ndim == 2 else x
    n = window_samples(features, clip)
    count = _num_windows(x.shape[-1] / features.sr, clip)
    windows = fit_length(x, count * n).reshape(count, n)  # one batched kernel call for all windows
    return log_mel(windows, features, threads)[:, None]


def frame_windows(rgb: np.ndarray, times: np.ndarray, clip: ClipConfig, count: int) -> np.ndarray:
    """Frames with timestamps -> ``[W, F, 3, S, S]``: for each window, the frames nearest its sample times."""
    out = []
    for w in range(count):
        want = media.window_frame_times(w * clip.seconds, clip.seconds, clip.num_frames)
        idx = np.abs(times[None, :] - want[:, None]).argmin(axis=1)
        out.append(preprocess_frames(rgb[idx], clip))
    return np.stack(out)


def _decode_frames(video: MediaSource, clip: ClipConfig, duration: float) -> tuple[np.ndarray, np.ndarray]:
    count = _num_windows(duration, clip)
    times = np.concatenate([media.window_frame_times(w * clip.seconds, clip.seconds, clip.num_frames)
                            for w in range(count)])
    return media.sample_frames(video, times)


def from_files(audio: MediaSource | None, video: MediaSource | None, features: FeatureConfig, clip: ClipConfig,
               threads: int | None = None, max_windows: int | None = None) -> ModelInputs:
    """Decode files: ``audio`` (any file with an audio track) and/or ``video`` (a container).
    ``max_windows`` keeps only the first windows (training uses the first one)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    wave = None
    if audio is not None:
        try:
            wave = media.load_audio(audio, features.sr, mono=clip.mono)
        except media.MissingStreamError:
            if video is None or os.fspath(audio) != os.fspath(video):
                raise
    if wave is not None and max_windows:
        wave = wave[..., : max_windows * window_samples(features, clip)]
    duration = wave.shape[-1] / features.sr if wave is not None else None
    rgb = None
    if video is not None:
        try:
            # the audio gives the duration; only a video without audio needs the container's
            d = duration or media.probe(video).duration or clip.seconds
            d = min(d, max_windows * clip.seconds) if max_windows else d
            rgb, times = _decode_frames(video, clip, d)
            duration = d
        except media.MissingStreamError:
            rgb = None
    if wave is None and rgb is None:
        raise MediaError(f"{video or audio}: neither an audio nor a video track could be read")
    timings["decode_ms"] = (time.perf_counter() - t0) * 1e3
    return _build(wave, rgb, times if rgb is not None else None, duration, features, clip, threads, timings)


def from_arrays(audio: np.ndarray | None, sample_rate: int | None, frames: np.ndarray | None, fps: float | None,
                features: FeatureConfig, clip: ClipConfig, threads: int | None = None) -> ModelInputs:
    """Arrays: waveform ``[samples]`` or ``[channels, samples]`` at ``sample_rate``; RGB uint8 frames
    ``[T, H, W, 3]`` at ``fps``."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    wave = None
    if audio is not None:
        if sample_rate is None:
            raise InputError("audio given as an array needs sample_rate=")
        x = check_waveform(audio, "audio")
        if x.ndim > 2:
            raise InputError(f"audio must be [samples] or [channels, samples], got shape {x.shape}")
        wave = media.resample(x, int(sample_rate), features.sr, mono=clip.mono)
    times = None
    if frames is not None:
        if fps is None or not fps > 0:
            raise InputError("frames given as an array need fps= (frames per second, > 0)")
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or frames.shape[0] == 0:
            raise InputError(f"frames must be RGB uint8 [T, H, W, 3] with T >= 1, got {frames.shape} {frames.dtype}")
        times = np.arange(frames.shape[0]) / float(fps)
    if wave is None and frames is None:
        raise InputError("pass audio= and/or frames=")
    duration = wave.shape[-1] / features.sr if wave is not None else frames.shape[0] / float(fps)
    timings["decode_ms"] = (time.perf_counter() - t0) * 1e3
    return _build(wave, frames, times, duration, features, clip, threads, timings)


def _build(wave, rgb, times, duration, features, clip, threads, timings) -> ModelInputs:
    count = _num_windows(duration, clip)
    t0 = time.perf_counter()
    log_mel = audio_windows(wave, features, clip, threads)[:count] if wave is not None else None
    timings["features_ms"] = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    frames = frame_windows(rgb, times, clip, count) if rgb is not None else None
    timings["frames_ms"] = (time.perf_counter() - t0) * 1e3
    if log_mel is not None and frames is not None and log_mel.shape[0] != frames.shape[0]:
        w = min(log_mel.shape[0], frames.shape[0])
        log_mel, frames = log_mel[:w], frames[:w]
    return ModelInputs(log_mel, frames, timings)
