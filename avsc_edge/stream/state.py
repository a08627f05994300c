"""The synchronous heart of streaming: timestamped audio chunks and frames in, one prediction per
hop over the rolling window out. No threads here (see :mod:`avsc_edge.stream.push`).

Windows are defined on the stream's own log-mel: the window ending at time ``t`` holds the ``T``
mel frames (``T`` as the model was trained) whose centres are the last ones at or before ``t``,
and the frames sampled at the centres of ``num_frames`` equal segments of it. Mel frames at window
edges see the neighbouring real audio (the stream is continuous), not the zero padding of an
isolated clip. Frames are sampled on a fixed grid of the stream clock (spacing
``seconds / num_frames``, the same spacing as in training): each window holds the ``num_frames``
grid points inside it, so consecutive windows share frames and only new ones need a CNN pass. With ``incremental=True`` only new mel frames are computed, frame embeddings are
cached and reused while they are in the window, and only the heads run per hop; with
``incremental=False`` everything for the window is recomputed from its raw samples and frames.
Both give the same result (tested).
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..config import JsonConfig
from ..errors import ConfigError, InputError
from ..features import AMIN, StreamingLogMel, check_waveform, log_mel, preprocess_frames
from ..runtime.prediction import Prediction, to_prediction

FLOOR_DB = float(10 * np.log10(AMIN))


@dataclass(frozen=True)
class StreamConfig(JsonConfig):
    """``hop``: seconds between predictions. ``audio_gap``: gaps up to this many seconds are
    zero-filled, longer ones (and clock jumps) restart the audio. ``stall``: a modality with no
    data for longer than this (stream clock) is missing and the single-modality head is used.
    ``smoothing``: exponential smoothing of scores (0 = off, 0.8 = heavy). ``incremental``: see
    the module docstring."""

    hop: float = 1.0
    jitter: float = 0.02
    audio_gap: float = 0.5
    stall: float = 2.0
    smoothing: float = 0.0
    incremental: bool = True
    max_frames: int = 512

    def __post_init__(self) -> None:
        if not 0.01 <= self.hop <= 600:
            raise ConfigError(f"StreamConfig.hop must be in 0.01..600 s, got {self.hop}")
        if not 0 <= self.smoothing < 1:
            raise ConfigError(f"StreamConfig.smoothing must be in [0, 1), got {self.smoothing}")
        if self.stall <= 0 or not 0 <= self.jitter <= self.audio_gap:
            raise ConfigError("StreamConfig needs stall > 0 and 0 <= jitter <= audio_gap")


class _AudioTrack:
    """Resampled mono audio since ``start``: raw samples (bounded history, in the stream's padded
    coordinates: index 0 is the first of the n_fft/2 zeros of the left padding) and, in
    incremental mode, the mel frames computed as samples arrive."""

    def __init__(self, features, sample_rate: int, start: float, keep_frames: int, incremental: bool) -> None:
        self.features, self.sample_rate, self.start = features, sample_rate, start
        self.incremental = incremental
        self.mel = StreamingLogMel(features) if incremental else None
        self.columns: deque[np.ndarray] = deque(maxlen=keep_frames)  # mel columns [n_mels]
        self.keep_samples = (keep_frames + 2) * features.hop_length + features.n_fft
        self.raw = np.zeros(features.n_fft // 2, np.float32)          # the stream's left padding
        self.raw_offset = 0                                            # padded index of raw[0]
        self.received = 0                                              # input samples so far
        self.resampler = None if sample_rate == features.sr else _Resampler(sample_rate, features.sr)
        self.last_data = start

    @property
    def end(self) -> float:
        return self.start + self.received / self.sample_rate

    @property
    def count(self) -> int:
        """Mel frames complete so far (frame t is centred on resampled sample t * hop_length)."""
        padded = self.raw_offset + len(self.raw)
        n_fft, hop = self.features.n_fft, self.features.hop_length
        return 0 if padded < n_fft else 1 + (padded - n_fft) // hop

    def push(self, mono: np.ndarray) -> None:
        self.received += mono.shape[-1]
        self.last_data = self.end
        x = self.resampler.push(mono) if self.resampler else np.asarray(mono, np.float32)
        if x.size == 0:
            return
        self.raw = np.concatenate([self.raw, x])
        if len(self.raw) > 2 * self.keep_samples:
            drop = len(self.raw) - self.keep_samples
            self.raw, self.raw_offset = self.raw[drop:], self.raw_offset + drop
        if self.incremental:
            self.columns.extend(self.mel.push(x).T)

    def recompute(self, first: int, last: int) -> list[np.ndarray | None]:
        """From-scratch log-mel of frames ``first..last`` from the raw samples (None where gone)."""
        from ..config import FeatureConfig

        f = self.features
        lo = max(first, 0, -(-self.raw_offset // f.hop_length))
        start, stop = lo * f.hop_length - self.raw_offset, last * f.hop_length + f.n_fft - self.raw_offset
        if last < lo or stop > len(self.raw):
            return [None] * (last - first + 1)
        cols = log_mel(self.raw[start:stop], FeatureConfig(**{**f.to_dict(), "center": False}))
        return [None] * (lo - first) + list(cols.T)


class _Resampler:
    """Stateful libswresample across chunks (chunk boundaries leave no clicks)."""

    def __init__(self, rate: int, target: int) -> None:
        import av

        from ..media import check_sample_rate

        check_sample_rate(rate)
        self.av, self.rate = av, rate
        self.r = av.AudioResampler(format="fltp", layout="mono", rate=target)

    def push(self, mono: np.ndarray) -> np.ndarray:
        frame = self.av.AudioFrame.from_ndarray(np.ascontiguousarray(mono[None], np.float32), format="fltp", layout="mono")
        frame.sample_rate = self.rate
        out = [f.to_ndarray()[0] for f in self.r.resample(frame)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


class StreamState:
    """Incremental rolling-window classification. ``add_audio`` / ``add_frame`` return the
    predictions that became due (usually zero or one)."""

    def __init__(self, encoders, sample_rate: int, config: StreamConfig = StreamConfig(),
                 source: str | None = None) -> None:
        self.enc, self.info, self.cfg = encoders, encoders.info, config
        self.features, self.clip = self.info.feature_config, self.info.clip_config
        if self.features.top_db is not None or self.features.pad_mode != "constant" or not self.features.center:
            raise ConfigError("streaming needs a model with FeatureConfig.top_db=None, center=True, pad_mode='constant'")
        self.sample_rate = int(sample_rate)
        self.T = self.features.num_frames(int(round(self.clip.seconds * self.features.sr)))
        self.source = source
        self.stats = {"predictions": 0, "late_audio_chunks": 0, "audio_gaps_filled": 0, "audio_restarts": 0,
                      "late_frames": 0, "frames_embedded": 0, "skipped_windows": 0}
        self.reset()

    # -- state -------------------------------------------------------------------------------
    def reset(self) -> None:
        self.audio: _AudioTrack | None = None
        self.frames: deque[tuple[float, np.ndarray]] = deque()
        self.embeddings: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        self.next_emit: float | None = None
        self.last_frame_time: float | None = None
        self.smoothed: np.ndarray | None = None
        self.first_time: float | None = None

    @property
    def now(self) -> float:
        times = [t for t in (self.audio.end if self.audio else None, self.last_frame_time) if t is not None]
        return max(times) if times else 0.0

    # -- inputs ------------------------------------------------------------------------------
    def add_audio(self, samples: np.ndarray, timestamp: float | None = None) -> list[Prediction]:
        x = check_waveform(samples, "audio chunk")
        if x.ndim > 2:
            raise InputError(f"audio chunk must be [samples] or [channels, samples], got {x.shape}")
        mono = x.mean(axis=0) if x.ndim == 2 else x
        notes = []
        if self.audio is None:
            self._start_audio(timestamp if timestamp is not None else self.now)
        elif timestamp is not None:
            gap = timestamp - self.audio.end
            if gap < -self.cfg.jitter:
                self.stats["late_audio_chunks"] += 1
                return []
            if gap > self.cfg.audio_gap:
                self.stats["audio_restarts"] += 1
                self._start_audio(timestamp)
            elif gap > self.cfg.jitter:
                self.stats["audio_gaps_filled"] += 1
                self.audio.push(np.zeros(int(round(gap * self.sample_rate)), np.float32))
                notes.append("audio gap filled")
        self.audio.push(mono)
        return self._emit_due(notes)

    def add_frame(self, rgb: np.ndarray, timestamp: float) -> list[Prediction]:
        arr = np.asarray(rgb)
        if arr.ndim != 3 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
            raise InputError(f"frame must be RGB uint8 [H, W, 3], got {arr.shape} {arr.dtype}")
        if self.first_time is None:
            self.first_time = float(timestamp)
        if self.frames and timestamp <= self.frames[-1][0]:
            if timestamp < self._window_start(self.now):
                self.stats["late_frames"] += 1
                return []
            items = sorted([*self.frames, (float(timestamp), arr)], key=lambda p: p[0])
            self.frames = deque(items)
        else:
            self.frames.append((float(timestamp), arr))
        self.last_frame_time = max(self.last_frame_time or timestamp, float(timestamp))
        self._trim_frames()
        return self._emit_due([])

    # -- scheduling ----------------------------------------------------------------------------
    def _start_audio(self, start: float) -> None:
        keep = self.T + int(np.ceil(self.cfg.hop * self.features.sr / self.features.hop_length)) + 8
        self.audio = _AudioTrack(self.features, self.sample_rate, start, keep, self.cfg.incremental)
        if self.first_time is None:
            self.first_time = start

    def _window_start(self, end: float) -> float:
        return end - self.clip.seconds

    def _trim_frames(self) -> None:
        horizon = self._window_start(self.now) - self.cfg.hop - 1.0
        while self.frames and (self.frames[0][0] < horizon or len(self.frames) > self.cfg.max_frames):
            t, _ = self.frames.popleft()
            self.embeddings.pop(t, None)

    def _emit_due(self, notes: list[str]) -> list[Prediction]:
        if self.first_time is None:
            return []
        if self.next_emit is None:
            self.next_emit = self.first_time + self.clip.seconds
        out = []
        behind = self.now - self.next_emit - self.clip.seconds - self.cfg.stall
        if behind > 0:  # a clock jump: no window in between can hold data, skip ahead
            skip = int(behind // self.cfg.hop)
            self.next_emit += skip * self.cfg.hop
            self.stats["skipped_windows"] += skip
        while self._ready(self.next_emit):
            pred = self._predict(self.next_emit, list(notes))
            if pred is None:
                self.stats["skipped_windows"] += 1
            else:
                out.append(pred)
            self.next_emit += self.cfg.hop
        return out

    def _audio_end_frame(self, end: float) -> int | None:
        """Index of the last mel frame centred at or before ``end`` (None before the audio starts)."""
        if self.audio is None or end < self.audio.start:
            return None
        return int(np.floor((end - self.audio.start) * self.features.sr / self.features.hop_length + 1e-9))

    def _audio_alive(self, end: float) -> bool:
        return self.audio is not None and end - self.audio.last_data <= self.cfg.stall

    def _ready(self, end: float) -> bool:
        """A window is due once every live modality has reached its end: the mel frame centred at
        ``end`` is complete, and a frame at or after ``end`` has arrived (frames come in order).
        A modality silent for longer than ``stall`` is not waited for."""
        now = self.now
        if now < end:
            return False
        e = self._audio_end_frame(end)
        audio_waiting = self._audio_alive(now) and e is not None and self.audio.count <= e
        video_waiting = (self.last_frame_time is not None and self.last_frame_time < end
                         and now - self.last_frame_time <= self.cfg.stall)
        return not (audio_waiting or video_waiting)

    # -- computation ---------------------------------------------------------------------------
    def _audio_window(self, end: float) -> np.ndarray | None:
        """``[1, 1, n_mels, T]`` mel frames of the window, or None when audio is missing."""
        a = self.audio
        if a is None or not self._audio_alive(end):
            return None
        covered = min(a.end, end) - max(a.start, self._window_start(end))
        if covered < 0.5 * self.clip.seconds:
            return None
        e = min(self._audio_end_frame(end), a.count - 1)
        first = e - self.T + 1
        if self.cfg.incremental:
            have = list(a.columns)
            base = a.count - len(have)
            cols = [have[t - base] if t >= base else None for t in range(first, e + 1)]
        else:
            cols = a.recompute(first, e)
        mel = np.full((self.features.n_mels, self.T), FLOOR_DB, np.float32)
        for i, c in enumerate(cols):
            if c is not None:
                mel[:, i] = c
        return mel[None, None]

    def _frame_window(self, end: float) -> list[tuple[float, np.ndarray]] | None:
        start = self._window_start(end)
        inside = [(t, x) for t, x in self.frames if start - 0.5 <= t <= end]
        if not inside or self.last_frame_time is None or end - self.last_frame_time > self.cfg.stall:
            return None
        times = np.array([t for t, _ in inside])
        return [inside[int(np.abs(times - w).argmin())] for w in self.frame_grid(end)]

    def frame_grid(self, end: float) -> np.ndarray:
        """The sample times of the window ending at ``end``: grid points (k + 1/2) * seconds/num_frames
        after the stream's first timestamp that fall inside the window."""
        seg = self.clip.seconds / self.clip.num_frames
        origin = self.first_time or 0.0
        k0 = int(np.ceil((self._window_start(end) - origin) / seg - 0.5 - 1e-9))
        return origin + (k0 + np.arange(self.clip.num_frames) + 0.5) * seg

    def _embed(self, picked: list[tuple[float, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        todo = [(t, x) for t, x in picked if not (self.cfg.incremental and t in self.embeddings)]
        if todo:
            uniq = dict(todo)
            batch = np.concatenate([preprocess_frames(x[None], self.clip) for x in uniq.values()])
            emb, logits = self.enc.frames(batch)
            self.stats["frames_embedded"] += len(uniq)
            fresh = {t: (emb[i], logits[i]) for i, t in enumerate(uniq)}
            if self.cfg.incremental:
                self.embeddings.update(fresh)
        else:
            fresh = {}
        get = lambda t: self.embeddings[t] if self.cfg.incremental and t in self.embeddings else fresh[t]  # noqa: E731
        embs = np.stack([get(t)[0] for t, _ in picked])
        logits = np.stack([get(t)[1] for t, _ in picked])
        return embs.mean(axis=0)[None], logits.max(axis=0)[None]

    def _predict(self, end: float, notes: list[str]) -> Prediction | None:
        """The prediction for the window ending at ``end``; None when neither modality has data."""
        t0 = time.perf_counter()
        timings = {}
        mel = self._audio_window(end)
        picked = self._frame_window(end)
        out: dict = {}
        if mel is not None:
            t1 = time.perf_counter()
            out["event_emb"], out["event_logits"] = self.enc.audio(mel)
            timings["audio_ms"] = (time.perf_counter() - t1) * 1e3
        else:
            notes.append("audio missing or stalled")
        if picked is not None:
            t1 = time.perf_counter()
            out["object_emb"], out["object_logits"] = self._embed(picked)
            timings["visual_ms"] = (time.perf_counter() - t1) * 1e3
        else:
            notes.append("visual missing or stalled")
        t1 = time.perf_counter()
        heads = self.enc.heads
        if mel is not None and picked is not None:
            out["scene_logits"], out["event_to_object"] = heads.fused(out["event_emb"], out["event_logits"],
                                                                      out["object_emb"], out["object_logits"])
            out["modalities"] = ("audio", "visual")
        elif mel is not None:
            out["scene_logits"], out["modalities"] = heads.audio_only(out["event_emb"], out["event_logits"]), ("audio",)
        elif picked is not None:
            out["scene_logits"], out["modalities"] = heads.visual_only(out["object_emb"], out["object_logits"]), ("visual",)
        else:
            return None
        timings["heads_ms"] = (time.perf_counter() - t1) * 1e3
        probs = None
        if self.cfg.smoothing > 0:
            from ..metrics import softmax

            p = softmax(out["scene_logits"].astype(np.float64))[0]
            self.smoothed = p if self.smoothed is None else self.cfg.smoothing * self.smoothed + (1 - self.cfg.smoothing) * p
            probs = self.smoothed
        timings["total_ms"] = (time.perf_counter() - t0) * 1e3
        pred = to_prediction(out, self.info, timings, self.source, probs)
        pred.timestamp, pred.notes = end, notes
        self.stats["predictions"] += 1
        return pred
