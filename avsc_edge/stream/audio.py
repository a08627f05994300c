"""A stream's audio: resampled mono samples, their log-mel computed as samples arrive, and the audio
CNN's time tokens computed incrementally.

Time tokens lie on a fixed grid of the stream's mel frames: token ``j`` covers frames
``[j*P, (j+1)*P)`` (``P``, the CNN's time stride; trailing frames that do not fill a token are
dropped, as in a window of ``predict``). The audio window ending at mel frame ``e`` is the
``T // P`` complete tokens up to ``e``, i.e. the mel frames of those tokens: a window aligned to the
grid, of the trained length ``T`` up to ``P - 1`` frames.

* From scratch (``incremental=False``): the CNN over those mel frames, zero-padded at both ends,
  exactly as :meth:`Classifier.predict` runs a window.
* Incremental: each token is computed once, when its frames are complete, from its frames plus
  ``margin`` tokens of real audio before it (right of it: zero padding, as at any window's end).
  Per hop the CNN sees about ``hop + margin * P`` frames instead of ``T``. The two differ only by
  the context a cached token saw at its right edge and at the window's left edge:
  ``tests/test_stream.py`` states and checks the tolerance, ``benchmarks/README.md`` the speed.
"""
from __future__ import annotations

from collections import OrderedDict, deque

import numpy as np

from ..config import FeatureConfig
from ..media import Resampler, check_sample_rate
from ..preprocess.audio_features import (
    PreEmphasis,
    StreamingLogMel,
    end_padding,
    log_mel,
    pad_start,
    silence_level,
    without_preemphasis,
)


class AudioTrack:
    """Resampled mono audio since ``start`` (stream clock, seconds) and its log-mel columns.

    Mel frame ``t`` is centred on resampled sample ``t * hop_length`` of the track (frame 0 at
    ``start``); only the last ``keep_frames`` columns and the raw samples they need are kept. With a
    pre-emphasising front end, ``raw`` holds the pre-emphasised signal (filtered as samples arrive)."""

    def __init__(self, features: FeatureConfig, sample_rate: int, start: float, keep_frames: int) -> None:
        self.sample_rate, self.start = sample_rate, start
        self.features = without_preemphasis(features)     # of the analysed signal
        self.filter = PreEmphasis(features.preemphasis)
        self.silence = silence_level(features)
        self.mel = StreamingLogMel(self.features, threads=1)
        self.columns: deque[np.ndarray] = deque(maxlen=keep_frames)   # mel columns [n_mels]
        self.keep_samples = (keep_frames + 2) * features.hop_length + features.n_fft
        self._buf, self._n = np.zeros(0, np.float32), 0     # the raw samples: see raw
        self._pending: list[np.ndarray] = []                  # analysed samples not in the log-mel yet
        self._pending_n = 0
        self.padded = False
        self.raw_offset = 0                                            # padded index of raw[0]
        self.received = 0                                              # input samples so far
        self.resampler = None
        if sample_rate != features.sr:
            check_sample_rate(sample_rate)
            self.resampler = Resampler(features.sr, mono=True)
        self.last_data = start
        self.finished = False

    @property
    def end(self) -> float:
        return self.start + self.received / self.sample_rate

    @property
    def count(self) -> int:
        """Mel frames complete so far (computed or not yet: see :meth:`_flush`)."""
        return self.mel.frames_after(self._pending_n)

    @property
    def first_kept(self) -> int:
        self._flush()
        return self.count - len(self.columns)

    def _flush(self) -> None:
        """The log-mel of the samples received since the last call, in one kernel call (a call costs
        about as much as 20 frames: per 0.1-s chunk it would be most of the work)."""
        if self._pending:
            x = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._pending, self._pending_n = [], 0
            self.columns.extend(self.mel.push(x).T)

    @property
    def raw(self) -> np.ndarray:
        """The kept analysed samples (left padding included once known); ``raw[0]`` is padded index
        ``raw_offset``."""
        return self._buf[:self._n]

    def _add(self, x: np.ndarray) -> None:
        """Append analysed (already pre-emphasised) samples."""
        if x.size == 0:
            return
        self._append(x)
        if not self.padded:
            padded = pad_start(self.raw, self.features)
            if padded is not None:
                self._buf, self._n, self.padded = padded, len(padded), True
        self._pending.append(x)
        self._pending_n += x.shape[-1]
        if self._pending_n >= self.features.sr:    # bounded: at most a second waits
            self._flush()

    def _append(self, x: np.ndarray) -> None:
        """Into a buffer with room: a copy of the kept samples only when it is full (amortised O(len x))."""
        n, m = self._n, x.shape[-1]
        if n + m > len(self._buf):
            drop = max(0, n - self.keep_samples)
            kept = n - drop
            buf = np.empty(max(2 * self.keep_samples, 2 * (kept + m)), np.float32)
            buf[:kept] = self._buf[drop:n]
            self._buf, self._n, self.raw_offset = buf, kept, self.raw_offset + drop
            n = kept
        self._buf[n:n + m] = x
        self._n = n + m

    def push(self, mono: np.ndarray) -> None:
        self.received += mono.shape[-1]
        self.last_data = self.end
        self._add(self.filter.push(self.resampler.push_array(mono[None], self.sample_rate)[0] if self.resampler
                                   else np.asarray(mono, np.float32)))

    def finish(self) -> None:
        """End of the stream: the resampler's tail, then the end padding (zeros, or the reflection of
        the last samples) so that the frames centred up to the last sample are complete (as
        :func:`~avsc_edge.preprocess.audio_features.log_mel` pads a whole signal)."""
        if self.finished:
            return
        self.finished = True
        if self.resampler is not None:
            self._add(self.filter.push(self.resampler.flush()[0]))
        self._add(end_padding(self.raw, self.features))

    def mel_frames(self, first: int, last: int) -> np.ndarray:
        """Columns ``first..last`` (inclusive) as ``[n_mels, n]``; frames no longer kept (or before
        the track) are the log floor."""
        out = np.full((self.features.n_mels, last - first + 1), self.silence, np.float32)
        base = self.first_kept      # computes what is pending
        for t in range(max(first, base), min(last, self.count - 1) + 1):
            out[:, t - first] = self.columns[t - base]
        return out

    def recompute(self, first: int, last: int) -> np.ndarray:
        """From-scratch log-mel of frames ``first..last`` from the kept raw samples (the floor where gone)."""
        from ..config import FeatureConfig

        f = self.features
        lo = max(first, 0, -(-self.raw_offset // f.hop_length))
        start, stop = lo * f.hop_length - self.raw_offset, last * f.hop_length + f.n_fft - self.raw_offset
        out = np.full((f.n_mels, last - first + 1), self.silence, np.float32)
        if last >= lo and stop <= len(self.raw):
            cols = log_mel(self.raw[start:stop], FeatureConfig(**{**f.to_dict(), "center": False}), threads=1)
            out[:, lo - first:] = cols
        return out


class TokenCache:
    """The audio CNN's time tokens of one track, each computed once (see the module doc)."""

    def __init__(self, backend, stride: int, margin: int = 1, keep: int = 256) -> None:
        self.backend, self.stride, self.margin, self.keep = backend, stride, margin, keep
        self.tokens: OrderedDict[int, np.ndarray] = OrderedDict()
        self.frames_computed = 0     # mel frames fed to the CNN (for benchmarks)

    def window(self, track: AudioTrack, j0: int, j1: int) -> np.ndarray:
        """Tokens ``j0..j1`` (complete ones: frame ``(j1 + 1) * P - 1`` exists) -> ``[1, n, C]``."""
        P = self.stride
        missing = [j for j in range(max(j0, 0), j1 + 1) if j not in self.tokens]
        if missing:
            first = max(0, missing[0] - self.margin)
            mel = track.mel_frames(first * P, (j1 + 1) * P - 1)
            tokens = self.backend.audio_tokens(mel[None, None])[0]
            self.frames_computed += mel.shape[1]
            for i, tok in enumerate(tokens):
                if first + i >= missing[0]:
                    self.tokens[first + i] = tok
            while len(self.tokens) > self.keep:
                self.tokens.popitem(last=False)
        return np.stack([self.tokens[j] for j in range(max(j0, 0), j1 + 1)])[None]


def scratch_tokens(backend, track: AudioTrack, j0: int, j1: int, stride: int) -> np.ndarray:
    """The CNN over the window's mel frames recomputed from the raw samples (zero-padded edges)."""
    mel = track.recompute(max(j0, 0) * stride, (j1 + 1) * stride - 1)
    return backend.audio_tokens(mel[None, None])
