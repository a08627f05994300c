"""Opening media with PyAV: checked paths, typed errors, and a cheap open.

``av.open`` probes every stream and, for H.264, decodes the first frame to learn its pixel format:
~30 ms on a 1280x720 clip, more than decoding the audio track. We pass ``skip_frame=all`` to the
probe only (the decoders used afterwards are fresh contexts), which makes opening ~4x cheaper;
the pixel format is learnt when the first frame is decoded.

A local path is always opened as a file (:mod:`.protocols`): never as an FFmpeg protocol its name
looks like, never through a playlist or list that refers to other files.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import MediaError

MAX_FRAME_PIXELS = 8192 * 8192
PROBE_OPTIONS = {"skip_frame": "all"}


def read_only(container, stream) -> None:
    """Have the demuxer skip the other streams' packets without reading them (a 14.7-Mbit/s 720p
    video beside the audio: 60 s of audio demuxed in 10.5 instead of 30-36 ms)."""
    import av

    discard = getattr(getattr(av, "stream", None), "Discard", None)   # not in every PyAV the SDK accepts
    for other in container.streams:
        if other is not stream and discard is not None:
            other.discard = discard.all


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


SPECIAL_FILES = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                 (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        broken = " (a link to a missing file)" if p.is_symlink() else ""
        raise MediaError(f"{p}: file not found{broken}")
    if p.is_dir():
        raise MediaError(f"{p}: is a directory, expected a media file")
    mode = p.stat().st_mode
    for test, kind in SPECIAL_FILES:
        if test(mode):
            raise MediaError(f"{p}: is {kind}, not a media file; save the recording to a file, or pass a stream "
                             "to `avsc-edge stream`")
    if p.stat().st_size == 0:
        raise MediaError(f"{p}: file is empty (0 bytes)")
    return p


def open_input(path: str | os.PathLike, hwaccel=None):
    """An ``av`` input container for a local file, or :class:`MediaError`."""
    import av

    from .protocols import local_options, local_url

    p = check_file(path)
    try:
        return av.open(local_url(p), options=PROBE_OPTIONS, container_options=local_options(), hwaccel=hwaccel)
    except av.error.ArgumentError as exc:
        raise MediaError(f"{p}: FFmpeg refused it ({ffmpeg_message(exc)}): a playlist, concat list, image pattern "
                         "or stream description that refers to other files or sockets is not opened; pass the media "
                         "file itself") from exc
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"{p}: not a readable media file ({ffmpeg_message(exc)}); is it truncated or "
                         "mislabelled?") from exc


def ffmpeg_message(exc: BaseException) -> str:
    """FFmpeg's words without its error number (``Invalid data found when processing input``, not
    ``[Errno 1094995529] ...``) and without the file name the caller already shows."""
    text = getattr(exc, "strerror", None)
    return str(text) if text else str(exc)


def ffmpeg_errors() -> tuple[type[BaseException], ...]:
    import av

    return (av.error.FFmpegError,)


def first_stream(container, kind: str, path) -> object:
    streams = getattr(container.streams, kind)
    if not streams:
        raise MissingStreamError(f"{path}: no {kind} track")
    return streams[0]


def check_frame_size(stream, path) -> None:
    if stream.width * stream.height > MAX_FRAME_PIXELS:
        raise MediaError(f"{path}: frame size {stream.width}x{stream.height} is too large (max 8192x8192)")


def probe(path: str | os.PathLike) -> MediaInfo:
    """Describe the streams of a media file without decoding it."""
    with open_input(path) as c:
        a = c.streams.audio[0] if c.streams.audio else None
        v = c.streams.video[0] if c.streams.video else None
        duration = float(c.duration / 1_000_000) if c.duration else None
        return MediaInfo(
            path=str(path), duration=duration, has_audio=a is not None, has_video=v is not None,
            sample_rate=a.rate if a else None, channels=a.channels if a else None,
            fps=float(v.average_rate) if v and v.average_rate else None,
            width=v.width if v else None, height=v.height if v else None,
        )


def stream_start(stream) -> float:
    """Seconds on the container's clock at which the stream starts (0 when the header does not say)."""
    if stream.start_time is not None and stream.time_base is not None:
        return float(stream.start_time * stream.time_base)
    return 0.0


def stream_duration(stream) -> float | None:
    """Seconds: Matroska's per-track ``DURATION`` tag when there is one (its stream header holds
    only FFmpeg's estimate from the whole file), else the stream's header; None when neither says."""
    tag = (stream.metadata or {}).get("DURATION")
    if tag:
        try:
            h, m, sec = str(tag).split(":")
            return int(h) * 3600 + int(m) * 60 + float(sec)
        except ValueError:
            pass
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None
