"""``avsc-edge tag``: AudioSet events from the sound and ImageNet objects from the frames, window by
window, from the genuine taggers inside the package (EfficientAT ``mn04_as``, MobileNetV1
0.25/128) through ONNX Runtime: no model to bring, no torch.

Files are cut into the ``edge`` preset's 10-s windows as ``predict`` cuts them, except that a clip
shorter than a window (or a trailing part of at least half a window) is tagged at its own length,
as EfficientAT's own ``inference.py`` tags a clip: the tagger pools over time, and silence padded
in would be heard. Live sources (URLs, ``gst:``, cameras) are tagged every ``hop`` seconds over the
last window.
"""
from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Iterator

import numpy as np

from .. import vocab
from ..errors import InputError
from ..preprocess.audio_features import log_mel
from ..preprocess.frames import preprocess_frames
from ..preprocess.windows import Recording
from ..runtime.onnx_backend import open_session
from ..runtime.prediction import sigmoid
from .bundle import genuine_configs, weights_file


def top(probs: np.ndarray | None, names: tuple[str, ...], k: int) -> list[tuple[str, float]]:
    if probs is None:
        return []
    return [(names[i], float(probs[i])) for i in np.argsort(-probs)[:k]]


@dataclass
class TagWindow:
    """One window: ``events`` (AudioSet class, probability) and ``objects`` (ImageNet class, the
    highest probability over the window's frames), best first."""

    start: float
    end: float
    events: list[tuple[str, float]] = field(default_factory=list)
    objects: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Tags:
    """The tags of one recording: per window, and over the whole recording (``events``: mean of the
    windows' probabilities; ``objects``: their maximum)."""

    source: str | None
    windows: list[TagWindow]
    events: list[tuple[str, float]]
    objects: list[tuple[str, float]]
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class Tagger:
    """The bundled taggers. ``top_k``: classes reported per window and per recording.

    >>> tags = Tagger().tag("clip.mp4")                       # doctest: +SKIP
    >>> tags.events[:3], tags.windows[0].objects              # doctest: +SKIP
    """

    def __init__(self, top_k: int = 5, threads: int | None = None, decoder: str | None = None) -> None:
        if not 1 <= top_k <= 100:
            raise InputError(f"top_k must be in 1..100, got {top_k}")
        self.top_k, self.threads, self.decoder = top_k, threads, decoder
        self.features, self.clip = genuine_configs()
        self.audio = open_session(weights_file("audio_tagger.onnx"), "cpu", threads)
        self.visual = open_session(weights_file("parts/frames.onnx"), "cpu", threads)
        self.events, self.objects = vocab.load("audioset"), vocab.load("imagenet")

    # -- the two taggers -------------------------------------------------------------------------
    def audio_probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Mono samples at the taggers' rate (any length) -> the 527 AudioSet probabilities."""
        x = np.asarray(samples, np.float32)
        if x.shape[-1] <= self.features.n_fft // 2:   # reflect padding needs half a frame of signal
            x = np.pad(x, (0, self.features.n_fft // 2 + 1 - x.shape[-1]))
        return self.mel_probabilities(log_mel(x, self.features, self.threads)[None])

    def mel_probabilities(self, mel: np.ndarray) -> np.ndarray:
        """A log-mel ``[1, n_mels, T]`` of the taggers' front end -> the 527 AudioSet probabilities."""
        return sigmoid(self.audio.run(["event_logits"], {"log_mel": np.ascontiguousarray(mel[None], np.float32)})[0][0])

    def frame_probabilities(self, frames: np.ndarray) -> np.ndarray:
        """Frames prepared for the visual tagger (``[N, 3, S, S]``) -> ImageNet probabilities ``[N, 1000]``."""
        return sigmoid(self.visual.run(["frame_logits"], {"frame": np.ascontiguousarray(frames, np.float32)})[0])

    # -- recordings ------------------------------------------------------------------------------
    def tag(self, path: str | os.PathLike | None = None, *, audio=None, video=None, sample_rate: int | None = None,
            frames: np.ndarray | None = None, fps: float | None = None) -> Tags:
        """Tag one recording: a container (``path``), a TAU-style pair (``audio=``, ``video=`` files),
        or arrays (``audio=`` waveform + ``sample_rate=``, ``frames=`` RGB uint8 ``[T, H, W, 3]`` + ``fps=``)."""
        t0 = time.perf_counter()
        rec, source = Recording.from_user(path, audio, video, sample_rate, frames, fps, self, self.threads,
                                          self.decoder, True)
        rec.pad_short = False
        windows, event_sum, object_max = [], None, None
        for w in rec.windows():
            events = self.mel_probabilities(w.log_mel) if w.log_mel is not None else None
            objects = self.frame_probabilities(w.frames).max(axis=0) if w.frames is not None else None
            heard = (w.log_mel.shape[-1] - 1) * self.features.hop_length / self.features.sr if w.log_mel is not None \
                else self.clip.seconds
            end = w.start + min(self.clip.seconds, heard)
            windows.append(TagWindow(w.start, end, top(events, self.events, self.top_k),
                                     top(objects, self.objects, self.top_k)))
            if events is not None:
                event_sum = events if event_sum is None else event_sum + events
            if objects is not None:
                object_max = objects if object_max is None else np.maximum(object_max, objects)
        n_audio = sum(1 for w in windows if w.events)
        timings = {**rec.timings, "total_ms": (time.perf_counter() - t0) * 1e3}
        return Tags(source, windows, top(None if event_sum is None else event_sum / n_audio, self.events, self.top_k),
                    top(object_max, self.objects, self.top_k), timings, list(rec.notes))

    # the front ends, where Recording.from_user reads them off an artifact's info
    @property
    def feature_config(self):
        return self.features

    @property
    def clip_config(self):
        return self.clip

    def tag_many(self, items, keep_going: bool = True) -> Iterator[tuple[str, "Tags | Exception"]]:
        """Many files (paths, globs, folders, (audio, video) pairs), in order; a bad file yields its
        AVSCError when ``keep_going``."""
        from ..errors import AVSCError
        from ..runtime.inputs import expand_inputs, pair_name

        pairs = [p for item in ([items] if isinstance(items, (str, os.PathLike)) else items)
                 for p in (expand_inputs([str(item)]) if not isinstance(item, tuple) else [item])]
        for audio, video in pairs:
            name = pair_name((audio, video))
            try:
                yield name, (self.tag(audio) if audio == video else self.tag(audio=audio, video=video))
            except AVSCError as exc:
                if not keep_going:
                    raise
                yield name, exc

    # -- live sources ----------------------------------------------------------------------------
    def stream(self, source, hop: float = 1.0, config=None, realtime: bool = False,
               microphone: int | bool | None = None) -> Iterator[TagWindow]:
        """Tags every ``hop`` seconds over the last window of a live or recorded source (anything
        ``Classifier.stream`` takes: files, URLs, ``gst:``, cameras)."""
        from ..stream import StreamConfig
        from ..stream.runner import source_events

        cfg = config or StreamConfig(hop=hop)
        sr, seconds = self.features.sr, self.clip.seconds
        events, _ = source_events(source, sr, self.clip, cfg, realtime, microphone, self.decoder)
        audio: deque[tuple[float, np.ndarray]] = deque()
        frames: deque[tuple[float, np.ndarray]] = deque()
        next_emit = None
        for kind, data, t in events:
            if kind in ("end", "reopened"):
                continue
            if kind == "audio":
                audio.append((t, np.asarray(data, np.float32)))
            else:
                probs = self.frame_probabilities(preprocess_frames(data[None], self.clip))[0]
                frames.append((t, probs))
            now = t + (data.shape[-1] / sr if kind == "audio" else 0.0)
            next_emit = now + hop if next_emit is None else next_emit
            while audio and audio[0][0] + audio[0][1].shape[-1] / sr < now - seconds:
                audio.popleft()
            while frames and frames[0][0] < now - seconds:
                frames.popleft()
            if now >= next_emit:
                next_emit = now + cfg.hop
                yield self._window(audio, frames, now)

    def _window(self, audio, frames, end: float) -> TagWindow:
        sr, seconds = self.features.sr, self.clip.seconds
        events = None
        if audio:
            samples = np.concatenate([x for _, x in audio])[-int(seconds * sr):]
            events = self.audio_probabilities(samples)
        objects = np.max([p for _, p in frames], axis=0) if frames else None
        return TagWindow(max(0.0, end - seconds), end, top(events, self.events, self.top_k),
                         top(objects, self.objects, self.top_k))
