"""Media I/O through PyAV: decode audio tracks (any container or WAV/FLAC), resample, sample frames.

All decoding errors surface as :class:`~avsc_edge.errors.MediaError` with the file name in the message.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import InputError, MediaError

MAX_FRAME_PIXELS = 8192 * 8192


class MissingStreamError(MediaError):
    """The container has no stream of the requested kind (e.g. a video without an audio track)."""


@dataclass(frozen=True)
class MediaInfo:
    """What a container holds."""

    path: str
    duration: float | None
    has_audio: bool
    has_video: bool
    sample_rate: int | None
    channels: int | None
    fps: float | None
    width: int | None
    height: int | None


def _open(path: str | os.PathLike):
    import av

    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: file not found")
    if p.is_dir():
        raise MediaError(f"{p}: is a directory, expected a media file")
    if p.stat().st_size == 0:
        raise MediaError(f"{p}: file is empty (0 bytes)")
    try:
        return av.open(str(p))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"{p}: not a readable media file ({exc}); is it truncated or mislabelled?") from exc


def probe(path: str | os.PathLike) -> MediaInfo:
    """Describe the streams of a media file without decoding it."""
    with _open(path) as c:
        a = c.streams.audio[0] if c.streams.audio else None
        v = c.streams.video[0] if c.streams.video else None
        duration = float(c.duration / 1_000_000) if c.duration else None
        return MediaInfo(
            path=str(path), duration=duration, has_audio=a is not None, has_video=v is not None,
            sample_rate=a.rate if a else None, channels=a.channels if a else None,
            fps=float(v.average_rate) if v and v.average_rate else None,
            width=v.width if v else None, height=v.height if v else None,
        )


def _resampler(sr: int, mono: bool):
    import av

    return av.AudioResampler(format="fltp", layout="mono" if mono else "stereo", rate=sr)


def load_audio(path: str | os.PathLike, sr: int, mono: bool = True) -> np.ndarray:
    """Decode the first audio track, resampled to ``sr``: float32 ``[channels, samples]``.

    Multi-channel audio (e.g. 5.1) is downmixed to mono or stereo by libswresample.
    """
    import av

    with _open(path) as c:
        if not c.streams.audio:
            raise MissingStreamError(f"{path}: no audio track")
        stream = c.streams.audio[0]
        resampler = _resampler(sr, mono)
        fifo = av.AudioFifo()
        chunks: list[np.ndarray] = []
        try:
            for frame in c.decode(stream):
                frame.pts = None
                fifo.write(frame)
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: audio track is corrupt or truncated ({exc})") from exc
        # resample in 1-s blocks: one call per decoded codec frame (~1000 samples) costs 4x more
        block = max(1, stream.rate or sr)
        while fifo.samples:
            piece = fifo.read(min(block, fifo.samples))
            chunks.extend(f.to_ndarray() for f in resampler.resample(piece))
        chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    if not chunks:
        raise MediaError(f"{path}: audio track holds no samples")
    return np.ascontiguousarray(np.concatenate(chunks, axis=1), dtype=np.float32)


def check_sample_rate(rate: int) -> None:
    if not 1000 <= rate <= 768_000:
        raise InputError(f"sample rate {rate} Hz is outside 1 kHz..768 kHz")


def resample(waveform: np.ndarray, orig_sr: int, sr: int, mono: bool = True) -> np.ndarray:
    """Resample (and downmix) a float waveform ``[channels, samples]`` or ``[samples]`` with libswresample."""
    import av

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
    layouts = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x), format="fltp", layout=layouts[x.shape[0]])
    frame.sample_rate = orig_sr
    r = _resampler(sr, mono)
    out = [f.to_ndarray() for f in r.resample(frame)] + [f.to_ndarray() for f in r.resample(None)]
    return np.ascontiguousarray(np.concatenate(out, axis=1), dtype=np.float32)


def sample_frames(path: str | os.PathLike, times: Sequence[float], method: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """RGB frames nearest to each time in seconds: (uint8 ``[T, H, W, 3]``, float64 timestamps ``[T]``).

    ``method="decode"`` decodes forward once and stops after the last requested time;
    ``"seek"`` seeks to the keyframe before each time and decodes from there; ``"auto"`` seeks
    only when the times are more than 30 s apart. Measured (benchmarks/README.md): on a 60-s
    30-fps H.264 video with a keyframe every 2 s, seeking is 4x slower than decoding for 48 frames
    and merely ties at one frame per 10 s, because each seek decodes from the previous keyframe.
    """
    want = np.asarray(sorted(times), dtype=np.float64)
    if want.size == 0:
        raise InputError("sample_frames needs at least one time")
    if method not in ("auto", "seek", "decode"):
        raise InputError(f"method must be auto, seek or decode, got {method!r}")
    if method == "auto":
        method = "seek" if want.size > 1 and np.min(np.diff(want)) > 30.0 else "decode"
    with _open(path) as c:
        if not c.streams.video:
            raise MissingStreamError(f"{path}: no video track")
        stream = c.streams.video[0]
        if stream.width * stream.height > MAX_FRAME_PIXELS:
            raise MediaError(f"{path}: frame size {stream.width}x{stream.height} is too large (max 8192x8192)")
        picker = _NearestFrames(want)
        try:
            if method == "decode":
                picker.scan(c.decode(stream), stop_after=want[-1])
            else:
                for i, t in enumerate(want):
                    if picker.best[i] == 0.0:
                        continue
                    if stream.time_base is None:
                        raise MediaError(f"{path}: video stream has no time base; use method='decode'")
                    c.seek(max(0, int(t / stream.time_base)), stream=stream, backward=True, any_frame=False)
                    picker.scan(c.decode(stream), stop_after=t)
        except av_errors() as exc:
            if picker.empty:
                raise MediaError(f"{path}: video track is corrupt or truncated ({exc})") from exc
        if picker.missing:
            raise MediaError(f"{path}: video track holds no decodable frames")
        return np.stack(picker.frames), picker.times


def av_errors() -> tuple[type[BaseException], ...]:
    import av

    return (av.error.FFmpegError,)


_local = threading.local()


def to_rgb(frame) -> np.ndarray:
    """RGB uint8 ``[H, W, 3]`` of a decoded video frame. One reformatter per thread: PyAV's
    per-frame default builds a new scaler context for every frame (~8 ms each at any size)."""
    from av.video.reformatter import VideoReformatter

    reformatter = getattr(_local, "reformatter", None)
    if reformatter is None:
        reformatter = _local.reformatter = VideoReformatter()
    return reformatter.reformat(frame, format="rgb24").to_ndarray()


class _NearestFrames:
    """Keeps, for each wanted time, the decoded frame closest to it; converts to RGB only the
    frames finally chosen (the YUV->RGB conversion costs more than decoding)."""

    def __init__(self, want: np.ndarray) -> None:
        self.want = want
        self.chosen: list = [None] * len(want)    # av.VideoFrame (kept, not converted)
        self.times = np.full(len(want), np.nan)
        self.best = np.full(len(want), np.inf)

    @property
    def empty(self) -> bool:
        return all(f is None for f in self.chosen)

    @property
    def missing(self) -> bool:
        return any(f is None for f in self.chosen)

    @property
    def frames(self) -> list[np.ndarray]:
        converted: dict[int, np.ndarray] = {}
        return [converted.setdefault(id(f), to_rgb(f)) for f in self.chosen]

    def scan(self, frames, stop_after: float) -> None:
        for frame in frames:
            t = float(frame.time) if frame.time is not None else 0.0
            dist = np.abs(self.want - t)
            closer = dist < self.best
            for i in np.flatnonzero(closer):
                self.chosen[i], self.best[i], self.times[i] = frame, dist[i], t
            if t > stop_after and not closer.any():
                break


def window_frame_times(start: float, seconds: float, num_frames: int) -> np.ndarray:
    """Times of the frames sampled from one window: the centres of ``num_frames`` equal segments."""
    return start + (np.arange(num_frames) + 0.5) * seconds / num_frames
