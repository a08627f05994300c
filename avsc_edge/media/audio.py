"""Audio tracks as a stream: decode -> channel mean -> soxr HQ resampling -> float32 blocks, the
way PANNs and librosa read audio (``librosa.load(path, sr=..., mono=True)``).

Memory does not grow with the file's length: at most one block (plus the codec's frame) is held.
Files of any length and sample format work (a 2-hour float WAV is 2.8 GB of samples; it is never
held whole).
"""
from __future__ import annotations

import os
from typing import Iterator

import numpy as np

from ..errors import InputError, MediaError
from .container import ffmpeg_errors, ffmpeg_message, first_stream, open_input, read_only, stream_start

MAX_CHANNELS = 64   # microphone arrays: 8, 16, 32 channels are common


def check_sample_rate(rate: int) -> None:
    if not 1000 <= rate <= 768_000:
        raise InputError(f"sample rate {rate} Hz is outside 1 kHz..768 kHz")


class Resampler:
    """Stateful downmix + resampling to ``sr`` as PANNs and librosa read audio: the mean of all
    channels (``mono=True``; ``librosa.to_mono``), then soxr's HQ filter (``librosa.resample``'s
    default ``soxr_hq``, which ``librosa.load(sr=...)`` and PANNs use), streamed so that chunk
    boundaries change nothing (a stream equals the one-shot call sample for sample).

    ``push_frame`` takes ``av.AudioFrame`` objects (any sample format, layout and channel count:
    libswresample converts the format only, to *packed* float, one plane whatever the channels:
    PyAV 18 reads planar frames of 8 or more channels past their planes and crashes),
    ``push_array`` float arrays ``[channels, samples]`` at ``rate``; ``flush`` returns the delayed
    tail. ``mono=False`` keeps two channels (mono is duplicated; more than two: libswresample's
    stereo downmix for frames, the first two for arrays)."""

    def __init__(self, sr: int, mono: bool = True) -> None:
        self.sr, self.mono = sr, mono
        self._formats = None          # libswresample: sample format (and, for stereo, layout) only
        self._soxr = None
        self._rate: int | None = None
        self._counts = [0, 0]         # samples in and out at the current rate

    @property
    def channels(self) -> int:
        return 1 if self.mono else 2

    def _empty(self) -> np.ndarray:
        return np.zeros((self.channels, 0), np.float32)

    def _mix(self, x: np.ndarray) -> np.ndarray:
        if self.mono:
            return x.mean(axis=0, dtype=np.float32)[None] if x.shape[0] > 1 else x
        return np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x[:2]

    def _resample(self, x: np.ndarray, rate: int, last: bool = False) -> np.ndarray:
        import soxr

        if rate != self._rate:
            tail = self.flush()
            check_sample_rate(rate)
            self._rate = rate
            self._soxr = None if rate == self.sr else soxr.ResampleStream(rate, self.sr, self.channels,
                                                                          dtype="float32", quality="HQ")
            self._counts = [0, 0]
            if tail.shape[1]:
                return np.concatenate([tail, self._resample(x, rate, last)], axis=1)
        if self._soxr is None:
            return np.ascontiguousarray(x, np.float32)
        y = self._soxr.resample_chunk(np.ascontiguousarray(x.T if not self.mono else x[0], np.float32), last=last)
        y = np.ascontiguousarray(y[None] if self.mono else y.T)
        self._counts[0] += x.shape[1]
        self._counts[1] += y.shape[1]
        if last:   # librosa.resample's length: ceil(n * sr / rate), zero-padded (what load, PANNs and EfficientAT see)
            short = -(-self._counts[0] * self.sr // self._rate) - self._counts[1]
            y = np.pad(y, ((0, 0), (0, max(short, 0))))
        return y

    def push_frame(self, frame) -> np.ndarray:
        import av

        channels = frame.layout.nb_channels
        if self.mono and frame.format.name == "fltp" and channels < 8:   # AAC, Vorbis, Opus: planes as they are
            planes = frame.to_ndarray()
            mono = planes[0] if channels == 1 else np.add.reduce(planes, axis=0) * np.float32(1.0 / channels)
            return self._resample(mono[None], int(frame.sample_rate))
        if self._formats is None:
            self._formats = av.AudioResampler(format="flt", layout=None if self.mono else "stereo")
        parts = [self._downmix_packed(f) for f in self._formats.resample(frame)]
        if not parts:
            return self._empty()
        return self._resample(np.concatenate(parts, axis=1), int(frame.sample_rate))

    def _downmix_packed(self, frame) -> np.ndarray:
        """A packed float frame -> ``[channels out, samples]``: mono as the mean of the interleaved
        channels (a product with 1/C weights: the strided mean over the planes cost 12 ms a 10-s
        stereo clip, this 1 ms, with the same values)."""
        channels = frame.layout.nb_channels
        packed = frame.to_ndarray().reshape(-1, channels)
        if self.mono:
            return (packed @ np.full(channels, 1.0 / channels, np.float32))[None] if channels > 1 else packed.T
        return self._mix(np.ascontiguousarray(packed.T))

    def push_array(self, x: np.ndarray, rate: int) -> np.ndarray:
        if x.ndim != 2 or not 1 <= x.shape[0] <= MAX_CHANNELS:
            raise InputError(f"audio has shape {x.shape}; pass [channels, samples] with at most {MAX_CHANNELS} channels")
        return self._resample(self._mix(np.asarray(x, np.float32)), int(rate))

    def flush(self) -> np.ndarray:
        if self._soxr is None:
            return self._empty()
        y = self._resample(np.zeros((self.channels, 0), np.float32), self._rate, last=True)
        self._soxr, self._rate = None, None
        return y


def audio_blocks(path: str | os.PathLike, sr: int, mono: bool = True, block_seconds: float = 1.0,
                 max_seconds: float | None = None, timeline: dict | None = None,
                 lead_silence: bool = True) -> Iterator[np.ndarray]:
    """The first audio track of ``path`` at ``sr`` as float32 ``[channels, samples]`` blocks of
    about ``block_seconds`` (the last one shorter). Multi-channel audio is downmixed to the mean of
    its channels (see :class:`Resampler`); ``max_seconds`` stops early. Raises :class:`MediaError`
    for unreadable tracks.

    ``timeline`` (a dict, filled as the track is read): place the audio on the container's clock
    shared with its video track, by the first packets' timestamps (headers are not reliable:
    Matroska's may say 0 for a track that starts later). The recording starts at the earlier
    track (``timeline["origin"]``, container seconds, known with the first block: frame times are
    relative to it); audio that starts later is preceded by silence (``lead_silence=False``: not,
    for a caller that places the samples at ``audio_start`` itself). ``audio_start`` and
    ``video_start`` (once its first packet has been seen) are container seconds too."""
    import av

    with open_input(path) as c:
        stream = first_stream(c, "audio", path)
        stream.thread_type = "NONE"
        resampler = Resampler(sr, mono)
        fifo = av.AudioFifo()
        block_in = max(1, int((stream.rate or sr) * block_seconds))  # resampling per codec frame costs 4x more
        budget = None if max_seconds is None else int(round(max_seconds * sr))
        emitted = 0
        placed = timeline is None
        try:
            for packet in _audio_packets(c, stream, timeline):
                for frame in packet.decode():
                    if not placed:
                        placed = True
                        lead = _place_on_timeline(timeline, frame, stream, sr, resampler.channels)
                        lead = lead if budget is None else lead[:, :budget]
                        lead = lead if lead_silence else lead[:, :0]
                        if lead.shape[1]:
                            emitted += lead.shape[1]
                            yield lead
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
            raise MediaError(f"{path}: audio track is corrupt or truncated ({ffmpeg_message(exc)})") from exc
        tail = [resampler.push_frame(fifo.read()) if fifo.samples else None, resampler.flush()]
        for out in tail:
            if out is not None and out.shape[1]:
                out = out if budget is None else out[:, :max(0, budget - emitted)]
                emitted += out.shape[1]
                if out.shape[1]:
                    yield out
    if emitted == 0:
        raise MediaError(f"{path}: audio track holds no samples")


def _audio_packets(container, stream, timeline: dict | None):
    """The audio track's packets; with a ``timeline``, the video track's first packet time is noted
    on the way (then only audio is demuxed: the container's read position carries on)."""
    video = container.streams.video
    if timeline is not None and video:
        from .video import video_header

        timeline["video_header"] = video_header(container, video[0])
        for packet in container.demux(stream, video[0]):
            if packet.stream is stream:
                yield packet
            elif packet.pts is not None:
                timeline["video_start"] = float(packet.pts * packet.time_base)
                break
    read_only(container, stream)
    yield from container.demux(stream)


def _place_on_timeline(timeline: dict, first_frame, stream, sr: int, channels: int) -> np.ndarray:
    """Fill ``timeline`` at the first decoded audio frame (a video that starts earlier has shown a
    packet by then: containers interleave by time); return the silence that precedes the audio
    (``[channels, n]``, usually empty)."""
    audio_start = float(first_frame.time) if first_frame.time is not None else stream_start(stream)
    origin = min(audio_start, timeline.get("video_start", audio_start))
    timeline.update(origin=origin, audio_start=audio_start)
    return np.zeros((channels, int(round((audio_start - origin) * sr))), np.float32)


def load_audio(path: str | os.PathLike, sr: int, mono: bool = True, max_seconds: float | None = None) -> np.ndarray:
    """The whole first audio track (or its first ``max_seconds``) at ``sr``: float32
    ``[channels, samples]``. For long recordings prefer :func:`audio_blocks`."""
    return np.ascontiguousarray(np.concatenate(list(audio_blocks(path, sr, mono, max_seconds=max_seconds)), axis=1))


def resample(waveform: np.ndarray, orig_sr: int, sr: int, mono: bool = True) -> np.ndarray:
    """Downmix and resample a float waveform ``[channels, samples]`` or ``[samples]`` exactly as files
    are read (:class:`Resampler`: channel mean, soxr HQ)."""
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] == 0:
        raise InputError(f"waveform must be [samples] or [channels, samples], got shape {np.shape(waveform)}")
    check_sample_rate(orig_sr)
    if x.shape[0] > MAX_CHANNELS:
        raise InputError(f"waveform has {x.shape[0]} channels; pass [channels, samples] with at most {MAX_CHANNELS} "
                         "channels")
    r = Resampler(sr, mono)
    return np.ascontiguousarray(np.concatenate([r.push_array(x, orig_sr), r.flush()], axis=1), dtype=np.float32)
