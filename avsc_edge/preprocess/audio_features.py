"""The log-mel front end: mel filter bank, analysis window, the fused kernel and its reference,
window cutting and the stream's padding.

``log_mel`` runs the fused C++ kernel of ``avsc_edge._C`` when the extension is built and the NumPy
reference otherwise (``avsc_edge.kernels.info()`` says which). With the default front end both equal
``librosa.power_to_db(librosa.feature.melspectrogram(...), ref=1.0, amin=1e-10, top_db=cfg.top_db)``
computed per signal (the ``top_db`` clamp is relative to each signal's own maximum); with the
``edge`` preset's, EfficientAT's ``AugmentMelSTFT`` in eval mode (see :class:`FeatureConfig`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..config import ClipConfig, FeatureConfig
from ..errors import InputError
from ..kernels import native as _native

AMIN = 1e-10


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa's default, ``htk=False``)."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=32)
def mel_filterbank(cfg: FeatureConfig) -> np.ndarray:
    """The mel filters, float32 ``[n_mels, n_fft // 2 + 1]``, by ``cfg.mel_scale``."""
    out = (_kaldi_filters(cfg) if cfg.mel_scale == "kaldi" else _slaney_filters(cfg)).astype(np.float32)
    out.setflags(write=False)
    return out


def _slaney_filters(cfg: FeatureConfig) -> np.ndarray:
    """Slaney-normalised triangles between Slaney-mel-spaced frequencies (librosa's ``filters.mel``)."""
    fft_freqs = np.fft.rfftfreq(cfg.n_fft, d=1.0 / cfg.sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(cfg.fmin), _hz_to_mel(cfg.effective_fmax), cfg.n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights


def _kaldi_filters(cfg: FeatureConfig) -> np.ndarray:
    """Kaldi's bank (torchaudio ``compliance.kaldi.get_mel_banks``, no VTLN warp): unnormalised
    triangles on the mel scale 1127 ln(1 + f/700), evaluated at bins ``k * sr / n_fft`` for
    ``k < n_fft / 2``; the Nyquist bin gets a zero weight (EfficientAT pads the bank so)."""
    def mel(f):
        return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)

    lo, hi = mel(cfg.fmin), mel(cfg.effective_fmax)
    delta = (hi - lo) / (cfg.n_mels + 1)
    left = lo + np.arange(cfg.n_mels)[:, None] * delta
    centre, right = left + delta, left + 2 * delta
    bins = mel(np.arange(cfg.n_fft // 2) * cfg.sr / cfg.n_fft)[None, :]
    weights = np.maximum(0.0, np.minimum((bins - left) / (centre - left), (right - bins) / (right - centre)))
    return np.pad(weights, ((0, 0), (0, 1)))


@lru_cache(maxsize=32)
def analysis_window(cfg: FeatureConfig) -> np.ndarray:
    """Window of ``win_length`` centred in ``n_fft`` zeros, float32: periodic (librosa's
    ``get_window``) or, with ``periodic=False``, symmetric (``torch.hann_window(n, periodic=False)``)."""
    n = cfg.effective_win_length
    k = np.arange(n)
    period = n if cfg.periodic else max(n - 1, 1)
    if cfg.window == "hann":
        w = 0.5 - 0.5 * np.cos(2 * np.pi * k / period)
    elif cfg.window == "hamming":
        w = 0.54 - 0.46 * np.cos(2 * np.pi * k / period)
    else:
        w = np.ones(n)
    full = np.zeros(cfg.n_fft)
    start = (cfg.n_fft - n) // 2
    full[start:start + n] = w
    out = full.astype(np.float32)
    out.setflags(write=False)
    return out


def check_waveform(waveform: np.ndarray, name: str = "waveform") -> np.ndarray:
    """Validate a float waveform ``[..., samples]``; returns it as C-contiguous float32."""
    arr = np.asarray(waveform)
    if arr.dtype.kind not in "fiu":
        raise InputError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise InputError(f"{name} must have shape [..., samples] with samples > 0, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or inf values; clean the signal before classifying it")
    return arr


def preemphasize(x: np.ndarray, coefficient: float) -> np.ndarray:
    """EfficientAT's pre-emphasis (``conv1d`` with ``[-c, 1]``): ``y[i] = x[i+1] - c*x[i]``."""
    return x[..., 1:] - coefficient * x[..., :-1]


def log_scale(mel: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Mel energies -> the front end's output values (dB or ln, then normalised)."""
    v = 10.0 * np.log10(np.maximum(AMIN, mel)) if cfg.log == "db" else np.log(np.maximum(mel, 0.0) + cfg.log_offset)
    return (v + cfg.norm_shift) / cfg.norm_scale


def silence_level(cfg: FeatureConfig) -> float:
    """The value a frame of digital silence takes (streams fill frames they no longer hold with it)."""
    return float(log_scale(np.zeros(1), cfg)[0])


def log_mel_reference(waveform: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """NumPy reference of :func:`log_mel` (the kernels' tests compare against it and librosa)."""
    x = check_waveform(waveform)
    lead, n = x.shape[:-1], x.shape[-1]
    x = x.reshape(-1, n).astype(np.float64)
    if cfg.preemphasis:
        if n < 2:
            raise InputError("pre-emphasis needs at least 2 samples")
        x, n = preemphasize(x, cfg.preemphasis), n - 1
    if cfg.center:
        pad = cfg.n_fft // 2
        if cfg.pad_mode == "reflect" and n <= pad:
            raise InputError(f"pad_mode='reflect' needs more than n_fft//2={pad} samples, got {n}")
        x = np.pad(x, ((0, 0), (pad, pad)), mode=cfg.pad_mode)
    frames_n = cfg.num_frames(n)
    if frames_n < 1:
        raise InputError(f"signal of {n} samples is shorter than n_fft={cfg.n_fft} with center=False")
    idx = np.arange(cfg.n_fft)[None, :] + cfg.hop_length * np.arange(frames_n)[:, None]
    frames = x[:, idx] * analysis_window(cfg)
    spec = np.abs(np.fft.rfft(frames, axis=-1)) ** cfg.power  # [N, T, F]
    mel = np.einsum("mf,ntf->nmt", mel_filterbank(cfg).astype(np.float64), spec)
    out = log_scale(mel, cfg)
    if cfg.top_db is not None:
        out = np.maximum(out, out.max(axis=(1, 2), keepdims=True) - cfg.top_db)
    return out.astype(np.float32).reshape(*lead, cfg.n_mels, frames_n)


def log_mel(waveform: np.ndarray, cfg: FeatureConfig, threads: int | None = None) -> np.ndarray:
    """Log-mel spectrogram in dB: float32 ``[..., samples]`` -> float32 ``[..., n_mels, frames]``.

    Uses the fused C++ kernel when available, else :func:`log_mel_reference`.
    """
    if not _native.available():
        return log_mel_reference(waveform, cfg)
    x = check_waveform(waveform)
    lead, n = x.shape[:-1], x.shape[-1]
    if cfg.preemphasis and n < 2:
        raise InputError("pre-emphasis needs at least 2 samples")
    out = _native.log_mel(x.reshape(-1, n), cfg, mel_filterbank(cfg), analysis_window(cfg), threads)
    return out.reshape(*lead, cfg.n_mels, out.shape[-1])


def fit_length(waveform: np.ndarray, num_samples: int) -> np.ndarray:
    """Crop or zero-pad the last axis to ``num_samples`` (how windows are cut for training and runtime)."""
    n = waveform.shape[-1]
    if n >= num_samples:
        return waveform[..., :num_samples]
    pad = [(0, 0)] * (waveform.ndim - 1) + [(0, num_samples - n)]
    return np.pad(waveform, pad)


def window_samples(features: FeatureConfig, clip: ClipConfig) -> int:
    return int(round(clip.seconds * features.sr))


def pad_start(x: np.ndarray, cfg: FeatureConfig) -> np.ndarray | None:
    """``x`` with the ``center=True`` padding of a signal's start (None: reflect padding needs
    ``n_fft // 2 + 1`` samples first)."""
    pad = cfg.n_fft // 2
    if cfg.pad_mode == "constant":
        return np.concatenate([np.zeros((*x.shape[:-1], pad), np.float32), x], axis=-1)
    if x.shape[-1] <= pad:
        return None
    return np.concatenate([x[..., pad:0:-1], x], axis=-1)


def end_padding(tail: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """The samples that follow a signal ending in ``tail`` under ``center=True`` padding (zeros, or
    its reflection when it holds ``n_fft // 2 + 1`` samples)."""
    pad = cfg.n_fft // 2
    if cfg.pad_mode == "reflect" and tail.shape[-1] > pad:
        return np.ascontiguousarray(tail[..., -2:-pad - 2:-1])
    return np.zeros((*tail.shape[:-1], pad), np.float32)


def without_preemphasis(cfg: FeatureConfig) -> FeatureConfig:
    """The front end applied to an already pre-emphasised signal (streams filter as samples arrive)."""
    return cfg if not cfg.preemphasis else FeatureConfig(**{**cfg.to_dict(), "preemphasis": 0.0})


class PreEmphasis:
    """:func:`preemphasize` over a stream of chunks: the concatenated outputs equal the whole
    signal's (the first chunk's output is one sample shorter; ``coefficient`` 0 passes through)."""

    def __init__(self, coefficient: float) -> None:
        self.coefficient = coefficient
        self._last: np.ndarray | None = None

    def push(self, x: np.ndarray) -> np.ndarray:
        if not self.coefficient or x.shape[-1] == 0:
            return x
        joined = x if self._last is None else np.concatenate([self._last, x], axis=-1)
        self._last = x[..., -1:].copy()
        return preemphasize(joined, self.coefficient).astype(np.float32)


class StreamingLogMel:
    """Incremental log-mel for streams: ``push(samples)`` returns only the frames the new samples
    complete, ``[..., n_mels, k]`` (``k`` may be 0). Frame ``t`` equals frame ``t`` of
    :func:`log_mel` over everything pushed so far (with ``center=True``, the left padding is applied
    once at the start; frames that would need right padding are emitted as samples arrive;
    pre-emphasis is applied as samples arrive).

    ``top_db`` is not supported (a clamp relative to the maximum of the whole signal cannot be
    computed incrementally). ``reset()`` starts a new stream.
    """

    def __init__(self, cfg: FeatureConfig, channels: int | None = None, threads: int | None = None) -> None:
        from ..errors import ConfigError

        if cfg.top_db is not None:
            raise ConfigError("StreamingLogMel needs FeatureConfig.top_db=None")
        self.cfg = without_preemphasis(cfg)
        self.preemphasis = cfg.preemphasis
        self.channels = channels
        self.threads = threads
        self._frame_cfg = FeatureConfig(**{**self.cfg.to_dict(), "center": False})
        self.reset()

    def reset(self) -> None:
        lead = () if self.channels is None else (self.channels,)
        self._buffer = np.zeros((*lead, 0), np.float32)
        self._started = not self.cfg.center
        self._filter = PreEmphasis(self.preemphasis)
        self.frames_emitted = 0

    def frames_after(self, more: int) -> int:
        """Frames complete once ``more`` further samples are pushed (``frames_emitted`` then)."""
        n = self._buffer.shape[-1] + more
        if not self._started:
            if self.cfg.pad_mode == "reflect" and n <= self.cfg.n_fft // 2:
                return self.frames_emitted
            n += self.cfg.n_fft // 2
        return self.frames_emitted + (0 if n < self.cfg.n_fft else 1 + (n - self.cfg.n_fft) // self.cfg.hop_length)

    def push(self, samples: np.ndarray) -> np.ndarray:
        x = check_waveform(samples, "samples")
        if x.shape[:-1] != self._buffer.shape[:-1]:
            raise InputError(f"chunk has leading shape {x.shape[:-1]}, stream expects {self._buffer.shape[:-1]}")
        buf = np.concatenate([self._buffer, self._filter.push(x)], axis=-1)
        if not self._started:
            padded = pad_start(buf, self.cfg)
            if padded is None:
                self._buffer = buf
                return np.zeros((*buf.shape[:-1], self.cfg.n_mels, 0), np.float32)
            buf, self._started = padded, True
        n_fft, hop = self.cfg.n_fft, self.cfg.hop_length
        complete = 0 if buf.shape[-1] < n_fft else 1 + (buf.shape[-1] - n_fft) // hop
        if complete == 0:
            self._buffer = buf
            return np.zeros((*buf.shape[:-1], self.cfg.n_mels, 0), np.float32)
        used = (complete - 1) * hop + n_fft
        out = log_mel(buf[..., :used], self._frame_cfg, self.threads)
        self._buffer = np.ascontiguousarray(buf[..., complete * hop:])
        self.frames_emitted += complete
        return out
