"""The synchronous heart of streaming: timestamped audio chunks and frames in, one prediction per
hop over the rolling window out, through the :class:`~avsc_edge.Classifier`'s backend (the same
parts, precision and provider as ``predict``). No threads here (see :mod:`avsc_edge.stream.push`).

* Audio: the stream's own log-mel (edge frames see the neighbouring audio, not padding) and the
  audio CNN's time tokens on a fixed grid; incrementally, each token is computed once (see
  :mod:`avsc_edge.stream.audio`).
* Frames: sampled on a fixed grid of the stream clock (spacing ``seconds / num_frames``, as in
  training); each window holds the ``num_frames`` grid points inside it, so consecutive windows
  share frames, and each frame's embedding is computed once and cached. Frames that cannot be the
  nearest to a grid point are neither kept nor scaled (:mod:`avsc_edge.stream.sampler`).
* Per hop the heads (frame pooling, cross-attention, fusion) run on the cached embeddings.

A window of a file exactly one window long, streamed with ``hop = window``, equals
:meth:`Classifier.predict` of that file (tested).
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

import numpy as np

from ..backbones import audio_stride
from ..config import JsonConfig
from ..errors import ConfigError, InputError
from ..preprocess.audio_features import check_waveform
from ..preprocess.frames import preprocess_frames
from ..runtime.prediction import WindowAccumulator, softmax
from ..runtime.runner import as_runner
from .audio import AudioTrack, TokenCache, scratch_tokens
from .sampler import FrameSampler


@dataclass(frozen=True)
class StreamConfig(JsonConfig):
    """``hop``: seconds between predictions. ``audio_gap``: gaps up to this many seconds are
    zero-filled, longer ones (and clock jumps) restart the audio. ``stall``: a modality with no
    data for longer than this (stream clock) is missing and the single-modality head is used; for
    the video never less than 1.5 frame intervals of the model's frame grid and of the frames as
    they arrive (:attr:`StreamState.video_stall`).
    ``smoothing``: exponential smoothing of scores (0 = off, 0.8 = heavy). ``incremental``: compute
    each audio token and frame embedding once (see :mod:`avsc_edge.stream.audio`); ``False``
    recomputes each window from its raw samples and frames. ``audio_margin``: tokens of real
    audio left of each incrementally computed token. ``max_jump``: a timestamp further than this
    from the stream clock (either way: a camera's clock reset, a bogus value) restarts the stream
    (``stats["clock_restarts"]``). ``retries`` / ``backoff``: a lost network source is re-opened at
    most ``retries`` times in all, waiting ``backoff * 2**k`` seconds after the k-th failure in a
    row (``stats["source_reopened"]``). ``timeout``: seconds a network source may send nothing
    before it counts as lost (``SourceTimeoutError``; also the limit for opening it).
    ``read_ahead``: events of a local file (audio blocks, frames) decoded ahead of the model on a
    thread of its own, so that decoding and inference share the cores; 0 decodes between the
    model's calls on the caller's thread."""

    hop: float = 1.0
    jitter: float = 0.02
    audio_gap: float = 0.5
    stall: float = 2.0
    smoothing: float = 0.0
    incremental: bool = True
    audio_margin: int = 1
    max_frames: int = 512
    max_jump: float = 60.0
    retries: int = 5
    backoff: float = 1.0
    timeout: float = 10.0
    read_ahead: int = 64

    def __post_init__(self) -> None:
        if not 0.01 <= self.hop <= 600:
            raise ConfigError(f"StreamConfig.hop must be in 0.01..600 s, got {self.hop}")
        if not 0 <= self.smoothing < 1:
            raise ConfigError(f"StreamConfig.smoothing must be in [0, 1), got {self.smoothing}")
        if self.stall <= 0 or not 0 <= self.jitter <= self.audio_gap:
            raise ConfigError("StreamConfig needs stall > 0 and 0 <= jitter <= audio_gap")
        if not self.audio_gap < self.max_jump <= 1e6:
            raise ConfigError(f"StreamConfig.max_jump must be in (audio_gap, 1e6] s, got {self.max_jump}")
        if not 0 <= self.read_ahead <= 4096:
            raise ConfigError(f"StreamConfig.read_ahead must be in 0..4096 events, got {self.read_ahead}")
        if not (0 <= self.retries <= 1000 and 0 <= self.backoff <= 60):
            raise ConfigError(f"StreamConfig needs retries in 0..1000 and backoff in 0..60 s, got {self.retries}, "
                              f"{self.backoff}")
        if not 0.1 <= self.timeout <= 3600:
            raise ConfigError(f"StreamConfig.timeout must be in 0.1..3600 s, got {self.timeout}")
        if not 0 <= self.audio_margin <= 16:
            raise ConfigError(f"StreamConfig.audio_margin must be in 0..16 tokens, got {self.audio_margin}")


MAX_TIMESTAMP = 1e9   # seconds (31 years): beyond it a step of one hop is lost in float rounding


def check_timestamp(timestamp) -> float:
    """A finite, plausible number of seconds (:class:`InputError` otherwise)."""
    try:
        t = float(timestamp)
    except (TypeError, ValueError):
        raise InputError(f"timestamp must be a number of seconds, got {timestamp!r}") from None
    if not (math.isfinite(t) and abs(t) <= MAX_TIMESTAMP):
        raise InputError(f"timestamp {timestamp!r} is not a finite number of seconds within +-{MAX_TIMESTAMP:g}")
    return t


def model_sized(rgb: np.ndarray, clip) -> np.ndarray:
    """A frame brought to the model's size by its geometry (kept as is when already there)."""
    from ..media import resize_frames

    return resize_frames(rgb[None], clip.frame_size, clip.frame_geometry)[0]


class StreamState:
    """Rolling-window classification through a :class:`~avsc_edge.runtime.runner.ModelRunner` (or
    a Classifier, or a bare backend), part by part: audio tokens computed incrementally, each frame
    embedded once. ``add_audio`` / ``add_frame`` return the predictions that became due (usually zero
    or one); ``finish`` flushes the end."""

    def __init__(self, model, sample_rate: int, config: StreamConfig = StreamConfig(),
                 source: str | None = None) -> None:
        self.runner = as_runner(model)
        self.backend = self.runner.backend
        self.info, self.cfg = self.runner.info, config
        self.features, self.clip = self.info.feature_config, self.info.clip_config
        if self.features.top_db is not None or not self.features.center:
            raise ConfigError("streaming needs a model with FeatureConfig.top_db=None and center=True")
        model = self.info.model_config
        if not (model.uses_audio and model.uses_visual):
            raise ConfigError(f"streaming needs an audio-visual model, not the {model.variant!r} ablation variant")
        self.sample_rate = int(sample_rate)
        if not 1000 <= self.sample_rate <= 768_000:
            raise InputError(f"sample rate {self.sample_rate} Hz is outside 1 kHz..768 kHz")
        self.T = self.features.num_frames(int(round(self.clip.seconds * self.features.sr)))
        self.stride = audio_stride(model)                      # mel frames per audio token
        self.n_tokens = self.T // self.stride
        self.source = source
        self.stats = {"predictions": 0, "late_audio_chunks": 0, "audio_gaps_filled": 0, "audio_restarts": 0,
                      "late_frames": 0, "frames_embedded": 0, "skipped_windows": 0, "audio_frames_computed": 0,
                      "clock_restarts": 0, "source_reopened": 0, "frames_skipped": 0}
        self._pending_notes: list[str] = []
        self.reset()

    # -- state -------------------------------------------------------------------------------
    def reset(self) -> None:
        self.audio: AudioTrack | None = None
        self.tokens: TokenCache | None = None
        self.frames: deque[tuple[float, np.ndarray]] = deque()
        self.sampler = FrameSampler(self.clip.seconds / self.clip.num_frames)
        self.embeddings: OrderedDict[float, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.next_emit: float | None = None
        self.last_frame_time: float | None = None
        self._frame_spacing: float | None = None   # seconds between frames, as they arrive (smoothed)
        self.smoothed: np.ndarray | None = None
        self.first_time: float | None = None
        self.emitted = 0
        self.finished = False
        self.end_time: float | None = None

    @property
    def video_stall(self) -> float:
        """Seconds without a frame after which the video counts as stalled: ``stall``, but never
        less than one and a half frame intervals, of the model's frame grid (``edge``: a frame
        per 3.3 s) and of the frames as they really arrive (a slow camera)."""
        grid = self.clip.seconds / self.clip.num_frames
        return max(self.cfg.stall, 1.5 * grid, 1.5 * (self._frame_spacing or 0.0))

    @property
    def now(self) -> float:
        times = [t for t in (self.audio.end if self.audio else None, self.last_frame_time, self.end_time)
                 if t is not None]
        return max(times) if times else 0.0

    # -- inputs ------------------------------------------------------------------------------
    def add_audio(self, samples: np.ndarray, timestamp: float | None = None) -> list:
        x = check_waveform(samples, "audio chunk")
        if x.ndim > 2:
            raise InputError(f"audio chunk must be [samples] or [channels, samples], got {x.shape}")
        mono = x.mean(axis=0) if x.ndim == 2 else x
        if timestamp is not None:
            timestamp = self._on_clock(timestamp)
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

    def add_frame(self, rgb: np.ndarray, timestamp: float, sampled: bool = False) -> list:
        """A frame at ``timestamp``; kept (at the model's size) only when a window may use it (see
        :class:`~avsc_edge.stream.sampler.FrameSampler`; ``sampled``: the caller asked
        :attr:`sampler` already, as the push API does before copying a frame)."""
        arr = np.asarray(rgb)
        if arr.ndim != 3 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
            raise InputError(f"frame must be RGB uint8 [H, W, 3], got {arr.shape} {arr.dtype}")
        timestamp = self._on_clock(timestamp)
        if not (sampled or self.sampler.wants(timestamp, self.first_time)):
            return self.frame_seen(timestamp)
        if not self._hold_frame(model_sized(arr, self.clip), timestamp):   # memory: the model's size
            return []
        return self._frame_clock(timestamp)

    def frame_seen(self, timestamp: float) -> list:
        """A frame no window will use arrived: it only moves the stream clock (the camera is alive)."""
        timestamp = self._on_clock(timestamp)
        self.stats["frames_skipped"] += 1
        if self.first_time is None:
            self.first_time = timestamp
        return self._frame_clock(timestamp)

    def _hold_frame(self, arr: np.ndarray, timestamp: float) -> bool:
        if self.first_time is None:
            self.first_time = timestamp
        if self.frames and timestamp <= self.frames[-1][0]:
            if timestamp < self.now - self.clip.seconds:
                self.stats["late_frames"] += 1
                return False
            if any(t == timestamp for t, _ in self.frames):
                return False   # the same frame twice (a file source repeats a keyframe for two grid times)
            self.frames = deque(sorted([*self.frames, (timestamp, arr)], key=lambda p: p[0]))
        else:
            self.frames.append((timestamp, arr))
        return True

    def _frame_clock(self, timestamp: float) -> list:
        if self.last_frame_time is not None and timestamp > self.last_frame_time:
            gap = timestamp - self.last_frame_time
            self._frame_spacing = gap if self._frame_spacing is None else 0.8 * self._frame_spacing + 0.2 * gap
        self.last_frame_time = max(self.last_frame_time or timestamp, timestamp)
        self._trim_frames()
        return self._emit_due([])

    def finish(self, end: float | None = None) -> list:
        """The end of the stream (a file's end, a closed push stream): the audio is padded as a
        whole recording is, and the windows ending up to the stream's end (``end`` when the source
        knows it, e.g. a file's duration; else its last data) are emitted; a stream shorter than one
        window gets one padded window, as ``predict`` gives it."""
        if self.finished or self.first_time is None:
            return []
        self.finished = True
        if end is not None:
            self.end_time = check_timestamp(end)
        if self.audio is not None:
            self.audio.finish()
        out = self._emit_due([])
        held = self.now - self.first_time
        if self.emitted == 0:   # as predict: a recording shorter than one window is one padded window
            pred = self._predict(self.first_time + self.clip.seconds,
                                 [f"the stream ({held:.1f} s) is shorter than the model's {self.clip.seconds:g}-s "
                                  "window: it is padded"], whole=True)
            if pred is not None:
                pred.timestamp = self.now     # not a time past the stream's end
                out.append(pred)
        return out

    def start_at(self, t: float) -> None:
        """Put the stream's origin (its first window's start) at ``t``: a file's windows start at its
        beginning whichever track comes first, as ``predict``'s do."""
        if self.first_time is None:
            self.first_time = check_timestamp(t)

    def _on_clock(self, timestamp) -> float:
        """A checked timestamp; one far from the stream clock restarts the stream."""
        t = check_timestamp(timestamp)
        if self.first_time is not None and abs(t - self.now) > self.cfg.max_jump:
            self.stats["clock_restarts"] += 1
            self.reset()
        return t

    # -- scheduling ----------------------------------------------------------------------------
    def _start_audio(self, start: float) -> None:
        keep = self.T + int(np.ceil(self.cfg.hop * self.features.sr / self.features.hop_length)) \
            + (self.cfg.audio_margin + 2) * self.stride
        self.audio = AudioTrack(self.features, self.sample_rate, start, keep)
        self.tokens = TokenCache(self.backend, self.stride, self.cfg.audio_margin, keep=2 * self.n_tokens + 8)
        if self.first_time is None:
            self.first_time = start

    def _window_start(self, end: float) -> float:
        return end - self.clip.seconds

    def _trim_frames(self) -> None:
        horizon = self._window_start(self.now) - self.cfg.hop - 1.0
        while self.frames and (self.frames[0][0] < horizon or len(self.frames) > self.cfg.max_frames):
            t, _ = self.frames.popleft()
            self.embeddings.pop(t, None)

    def _emit_due(self, notes: list[str]) -> list:
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
            pred = self._predict(self.next_emit, [*notes, *self._pending_notes])
            if pred is None:
                self.stats["skipped_windows"] += 1
            else:
                out.append(pred)
                self._pending_notes.clear()
            self.next_emit += self.cfg.hop
        return out

    def source_reopened(self, outage: float) -> None:
        """The source was lost and re-opened (a network stream): counted, and said by the next prediction."""
        self.stats["source_reopened"] += 1
        self._pending_notes.append(f"the source was re-opened after a {outage:.1f}-s outage")

    def _audio_end_frame(self, end: float) -> int | None:
        """Index of the last mel frame centred at or before ``end`` (None before the audio starts)."""
        if self.audio is None or end < self.audio.start:
            return None
        return int(np.floor((end - self.audio.start) * self.features.sr / self.features.hop_length + 1e-9))

    def _audio_alive(self, end: float) -> bool:
        return self.audio is not None and self._seen(end) - self.audio.last_data <= self.cfg.stall

    def _seen(self, end: float) -> float:
        """Where a window ending at ``end`` looks for live data: its end, or, once the stream has
        finished, no later than the stream's end (an ended file is not a stalled one)."""
        return min(end, self.now) if self.finished else end

    def _ready(self, end: float) -> bool:
        """A window is due once every live modality has reached its end: the mel frame centred at
        ``end`` is complete, and a frame at or after ``end`` has arrived (frames come in order).
        A modality silent for longer than ``stall`` is not waited for; after :meth:`finish`, the
        windows up to the stream's end are due."""
        now = self.now
        if self.finished:
            return end <= now + self.cfg.jitter
        if now < end:
            return False
        e = self._audio_end_frame(end)
        audio_waiting = self._audio_alive(now) and e is not None and self.audio.count <= e
        video_waiting = (self.last_frame_time is not None and self.last_frame_time < end
                         and now - self.last_frame_time <= self.video_stall)
        return not (audio_waiting or video_waiting)

    # -- computation ---------------------------------------------------------------------------
    def _audio_slots(self, end: float, whole: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
        """Event slots of the window ending at ``end``, or None when audio is missing (covers less
        than half the window; ``whole``: the window is the whole stream, any audio counts)."""
        a = self.audio
        if a is None or not self._audio_alive(end):
            return None
        covered = min(a.end, end) - max(a.start, self._window_start(end))
        if covered <= 0 or (covered < 0.5 * self.clip.seconds and not whole):
            return None
        e = min(self._audio_end_frame(end), a.count - 1)
        j1 = (e + 1) // self.stride - 1                # the last complete token
        j0 = j1 - self.n_tokens + 1
        if j1 < 0:
            return None
        before = self.tokens.frames_computed
        if self.cfg.incremental:
            tokens = self.tokens.window(a, j0, j1)
            self.stats["audio_frames_computed"] += self.tokens.frames_computed - before
        else:
            tokens = scratch_tokens(self.backend, a, j0, j1, self.stride)
            self.stats["audio_frames_computed"] += (j1 + 1 - max(j0, 0)) * self.stride
        return self.backend.audio_slots(tokens)

    def _frame_window(self, end: float) -> list[tuple[float, np.ndarray]] | None:
        start = self._window_start(end)
        inside = [(t, x) for t, x in self.frames if start - 0.5 <= t <= end]
        if not inside or self.last_frame_time is None or self._seen(end) - self.last_frame_time > self.video_stall:
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

    def _frame_slots(self, picked: list[tuple[float, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame object slots ``[1, F, N_o, d]`` / ``[1, F, N_o]``, each frame embedded once."""
        cache = self.embeddings if self.cfg.incremental else OrderedDict()
        todo = {t: x for t, x in picked if t not in cache}
        if todo:
            batch = np.concatenate([preprocess_frames(x[None], self.clip) for x in todo.values()])
            emb, logits = self.backend.encode_frames(batch)
            self.stats["frames_embedded"] += len(todo)
            cache.update({t: (emb[i], logits[i]) for i, t in enumerate(todo)})
        embs = np.stack([cache[t][0] for t, _ in picked])[None]
        logits = np.stack([cache[t][1] for t, _ in picked])[None]
        return embs, logits

    def _predict(self, end: float, notes: list[str], whole: bool = False):
        """The prediction for the window ending at ``end``; None when neither modality has data."""
        t0 = time.perf_counter()
        timings = {}
        slots = self._audio_slots(end, whole)
        timings["audio_ms"] = (time.perf_counter() - t0) * 1e3
        if slots is None:
            notes.append("no audio received" if self.audio is None else "audio missing or stalled")
        picked = self._frame_window(end)
        frame_slots = None
        if picked is not None:
            t1 = time.perf_counter()
            frame_slots = self._frame_slots(picked)
            timings["visual_ms"] = (time.perf_counter() - t1) * 1e3
        else:
            notes.append("no video received" if self.last_frame_time is None else "visual missing or stalled")
        if slots is None and frame_slots is None:
            return None
        t1 = time.perf_counter()
        out = self.runner.heads(slots, frame_slots)
        timings["heads_ms"] = (time.perf_counter() - t1) * 1e3
        probs = None
        if self.cfg.smoothing > 0:
            p = softmax(out["scene_logits"].astype(np.float64))[0]
            self.smoothed = p if self.smoothed is None else self.cfg.smoothing * self.smoothed + (1 - self.cfg.smoothing) * p
            probs = self.smoothed
        timings["total_ms"] = (time.perf_counter() - t0) * 1e3
        acc = WindowAccumulator(self.info, probs)
        acc.add(out, [end - self.clip.seconds])
        pred = acc.result(timings, self.source, notes, self.backend.engine)
        pred.timestamp = end
        self.stats["predictions"] += 1
        self.emitted += 1
        return pred
