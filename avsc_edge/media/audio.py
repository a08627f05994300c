"""Audio tracks as a stream: decode -> libswresample (rate, downmix) -> float32 blocks.

Memory does not grow with the file's length: at most one block (plus the codec's frame) is held.
Files of any length and sample format work (a 2-hour float WAV is 2.8 GB of samples; it is never
held whole).
"""
from __future__ import annotations

import os
from typing import Iterator

import numpy as np

from ..errors import InputError, MediaError
from .container import ffmpeg_errors, first_stream, open_input

LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def check_sample_rate(rate: int) -> None:
    if not 1000 <= rate <= 768_000:
        raise InputError(f"sample rate {rate} Hz is outside 1 kHz..768 kHz")


class Resampler:
    """Stateful libswresample to ``sr`` (mono or stereo, planar float32), for files and chunked
    arrays alike: chunk boundaries leave no clicks. ``push`` takes ``av.AudioFrame`` objects or
    float arrays ``[channels, samples]`` at ``rate``; ``flush`` returns the delayed tail."""

    def __init__(self, sr: int, mono: bool = True) -> None:
        import av

        self.av, self.sr, self.mono = av, sr, mono
        self.r = av.AudioResampler(format="fltp", layout="mono" if mono else "stereo", rate=sr)

    def _out(self, frames) -> np.ndarray:
        parts = [f.to_ndarray() for f in frames]
        channels = 1 if self.mono else 2
        return np.concatenate(parts, axis=1) if parts else np.zeros((channels, 0), np.float32)

    def push_frame(self, frame) -> np.ndarray:
        return self._out(self.r.resample(frame))

    def push_array(self, x: np.ndarray, rate: int) -> np.ndarray:
        if x.shape[0] not in LAYOUTS:
            raise InputError(f"audio has {x.shape[0]} channels; pass [channels, samples] with at most 8 channels")
        frame = self.av.AudioFrame.from_ndarray(np.ascontiguousarray(x, np.float32), format="fltp",
                                                layout=LAYOUTS[x.shape[0]])
        frame.sample_rate = rate
        return self.push_frame(frame)

    def flush(self) -> np.ndarray:
        return self._out(self.r.resample(None))


def audio_blocks(path: str | os.PathLike, sr: int, mono: bool = True, block_seconds: float = 1.0,
                 max_seconds: float | None = None) -> Iterator[np.ndarray]:
    """The first audio track of ``path`` at ``sr`` as float32 ``[channels, samples]`` blocks of
    about ``block_seconds`` (the last one shorter). Multi-channel audio is downmixed by
    libswresample; ``max_seconds`` stops early. Raises :class:`MediaError` for unreadable tracks."""
    import av

    with open_input(path) as c:
        stream = first_stream(c, "audio", path)
        stream.thread_type = "NONE"
        resampler = Resampler(sr, mono)
        fifo = av.AudioFifo()
        block_in = max(1, int((stream.rate or sr) * block_seconds))  # resampling per codec frame costs 4x more
        budget = None if max_seconds is None else int(round(max_seconds * sr))
        emitted = 0
        try:
            for frame in c.decode(stream):
                frame.pts = None
                fifo.write(frame)
                while fifo.samples >= block_in:
                    out = resampler.push_frame(fifo.read(block_in))
                    if out.shape[1]:
                        out = out if budget is None else out[:, :budget - emitted]
                        emitted += out.shape[1]
                        yield out
                    if budget is not None and emitted >= budget:
                        return
        except ffmpeg_errors() as exc:
            raise MediaError(f"{path}: audio track is corrupt or truncated ({exc})") from exc
        tail = [resampler.push_frame(fifo.read()) if fifo.samples else None, resampler.flush()]
        for out in tail:
            if out is not None and out.shape[1]:
                out = out if budget is None else out[:, :max(0, budget - emitted)]
                emitted += out.shape[1]
                if out.shape[1]:
                    yield out
    if emitted == 0:
        raise MediaError(f"{path}: audio track holds no samples")


def load_audio(path: str | os.PathLike, sr: int, mono: bool = True, max_seconds: float | None = None) -> np.ndarray:
    """The whole first audio track (or its first ``max_seconds``) at ``sr``: float32
    ``[channels, samples]``. For long recordings prefer :func:`audio_blocks`."""
    return np.ascontiguousarray(np.concatenate(list(audio_blocks(path, sr, mono, max_seconds=max_seconds)), axis=1))


def resample(waveform: np.ndarray, orig_sr: int, sr: int, mono: bool = True) -> np.ndarray:
    """Resample (and downmix) a float waveform ``[channels, samples]`` or ``[samples]`` with libswresample."""
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] == 0:
        raise InputError(f"waveform must be [samples] or [channels, samples], got shape {np.shape(waveform)}")
    check_sample_rate(orig_sr)
    if x.shape[0] > 8:
        raise InputError(f"waveform has {x.shape[0]} channels; pass [channels, samples] with at most 8 channels")
    if not mono and x.shape[0] == 1:
        x = np.repeat(x, 2, axis=0)
    if orig_sr == sr and (x.shape[0] == 1 or not mono):
        return np.ascontiguousarray(x[:2] if not mono else x)
    r = Resampler(sr, mono)
    return np.ascontiguousarray(np.concatenate([r.push_array(x, orig_sr), r.flush()], axis=1), dtype=np.float32)
