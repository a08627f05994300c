"""Stream sources as timestamped events: ``("audio", float32 [samples], t)`` and
``("frame", RGB uint8 [H, W, 3], t)``; a file's last event is ``("end", [], t)``, its duration.

* Local files: the audio track as a stream of blocks, and frames only at the stream's sample grid
  through the clip's frame policy (decoding only what the model uses, as ``predict`` does);
* anything FFmpeg opens over a network (RTSP/HTTP/UDP): PyAV in container order, re-opened with
  back-off when lost;
* camera indices through OpenCV, a microphone through ``sounddevice`` (optional and untested
  here: no capture devices on our machines)."""
from __future__ import annotations

import logging
import os
import time
from typing import Callable, Iterator

import numpy as np

from ..errors import MediaError, SourceTimeoutError
from ..media import Resampler, convert
from ..media.container import ffmpeg_message
from ..media.protocols import network_options

log = logging.getLogger("avsc_edge")
Event = tuple[str, np.ndarray, float]


LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "udp://", "rtp://", "srt://", "tcp://")


def is_gst(source) -> bool:
    """A GStreamer source: ``gst:<path, URI or camera:N>`` or ``gst-pipeline:<description>``."""
    return isinstance(source, str) and source.startswith(("gst:", "gst-pipeline:"))


def is_network(source: str) -> bool:
    return "://" in source and not source.startswith("file://")


def is_live(source: str) -> bool:
    """Live protocols have no natural end: an end of stream means the feed was lost."""
    return source.lower().startswith(LIVE_SCHEMES)


class FrameThinner:
    """At most ``rate`` frames per second by timestamp: a frame is taken when it comes at least
    ``1 / rate`` after the last one taken (within ``tolerance``). Every live source thins with it
    before it converts a frame."""

    def __init__(self, rate: float, tolerance: float = 1e-6) -> None:
        self.interval, self.tolerance, self.next = 1.0 / rate, tolerance, -np.inf

    def take(self, t: float) -> bool:
        if t < self.next - self.tolerance:
            return False
        self.next = t + self.interval
        return True


def _pace(first_wall: float, t: float) -> None:
    delay = t - (time.monotonic() - first_wall)
    if delay > 0:
        time.sleep(delay)


def file_events(path: str | os.PathLike, sr: int, clip, realtime: bool = False,
                block_seconds: float | None = None) -> Iterator[Event]:
    """A local file as a stream: mono audio blocks at ``sr`` and the frames of the sample grid
    ``(k + 1/2) * seconds / num_frames`` chosen by the clip's frame policy, brought to the model's
    size and stamped with their grid time, both on the container's clock from the earlier track's
    start (placed as ``predict`` places them: :class:`~avsc_edge.preprocess.windows.FileFrames`). Interleaved
    in time order. Audio blocks of ``block_seconds`` (default: 0.1 s paced in real time, else 0.5 s:
    the predictions do not depend on it, the overhead per block does)."""
    from ..media import MissingStreamError, audio_blocks
    from ..preprocess.windows import FileFrames

    try:
        frames = FileFrames(path, clip)
    except MissingStreamError:
        frames = None
    timeline: dict = {}
    seg = clip.seconds / clip.num_frames
    k, placed = 0, False

    def frames_until(limit: float) -> Iterator[Event]:
        nonlocal k, placed
        if frames is None:
            return
        if "origin" in timeline and not placed:
            frames.place_on(timeline)
            placed = True
        while (k + 0.5) * seg <= limit and (frames.duration is None or (k + 0.5) * seg < frames.duration):
            t = (k + 0.5) * seg
            k += 1
            yield "frame", frames.at(np.array([t]))[0], t

    wall = time.monotonic()
    pos = 0.0
    try:
        try:
            for block in audio_blocks(path, sr, mono=True, block_seconds=block_seconds or (0.1 if realtime else 0.5),
                                      timeline=timeline if frames is not None else None, lead_silence=False):
                if pos == 0.0 and "origin" in timeline:   # a late audio track starts where it starts
                    pos = timeline["audio_start"] - timeline["origin"]
                    yield from frames_until(pos)
                x = block[0]
                if realtime:
                    _pace(wall, pos)
                yield "audio", x, pos
                pos += x.shape[-1] / sr
                yield from frames_until(pos)
        except MissingStreamError:
            if frames is None:
                raise MediaError(f"{path}: neither an audio nor a video track") from None
        for event in frames_until(np.inf if frames is None or frames.duration is not None else pos):
            if realtime:
                _pace(wall, event[2])
            yield event
        video_end = (frames.duration or 0.0) if frames is not None else 0.0
        yield "end", np.zeros(0, np.float32), max(pos, video_end)     # where the recording ends
    finally:
        if frames is not None:
            frames.close()


def media_events(source: str, sr: int, frame_rate: float = 4.0, realtime: bool = False,
                 offset: float = 0.0, size: int | None = None, geometry: str = "squash",
                 timeout: float = 10.0) -> Iterator[Event]:
    """Decode a network stream (only its scheme's protocols: :mod:`avsc_edge.media.protocols`):
    mono audio resampled to ``sr``; RGB frames (brought to ``size`` by ``geometry`` when given) at
    most ``frame_rate`` per second (others are skipped without conversion). ``realtime`` paces the
    events to their timestamps; ``offset`` shifts every timestamp (used across reconnects). A
    source silent for ``timeout`` seconds raises :class:`SourceTimeoutError`."""
    import av

    options = network_options(source)
    try:
        container = av.open(source, timeout=timeout, container_options=options)
    except av.error.ExitError:   # PyAV's interrupt callback: the timeout (Ctrl-C stays KeyboardInterrupt)
        raise SourceTimeoutError(f"{source}: no answer within {timeout:g} s") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"{source}: cannot open ({ffmpeg_message(exc)})") from exc
    with container:
        if not (container.streams.audio or container.streams.video):
            raise MediaError(f"{source}: neither an audio nor a video track")
        try:
            yield from _decoded_events(container, sr, frame_rate, realtime, offset, size, geometry)
        except av.error.ExitError:
            raise SourceTimeoutError(f"{source}: no data for {timeout:g} s") from None
        except (av.error.FFmpegError, OSError) as exc:   # a server that died mid-stream, a cut file
            raise MediaError(f"{source}: stream broken ({ffmpeg_message(exc)})") from exc


def _decoded_events(container, sr: int, frame_rate: float, realtime: bool, offset: float, size: int | None,
                    geometry: str) -> Iterator[Event]:
    resampler = Resampler(sr, mono=True)
    audio_pos: float | None = None
    thinner = FrameThinner(frame_rate)
    wall0, first = time.monotonic(), None
    for packet in container.demux(*(container.streams.audio[:1] + container.streams.video[:1])):
        for frame in packet.decode():
            t = float(frame.time) if frame.time is not None else 0.0
            if first is None:
                first = t
            if realtime:
                delay = (t - first) - (time.monotonic() - wall0)
                if delay > 0:
                    time.sleep(delay)
            if packet.stream.type == "audio":
                if audio_pos is None:
                    audio_pos = t
                x = resampler.push_frame(frame)[0]
                if x.size:
                    yield "audio", x, offset + audio_pos
                    audio_pos += x.shape[-1] / sr
            elif thinner.take(t):
                yield "frame", convert(frame, size, geometry), offset + t


def reconnecting_events(source: str, sr: int, frame_rate: float, realtime: bool, retries: int = 5,
                        backoff: float = 1.0, size: int | None = None, geometry: str = "squash",
                        timeout: float = 10.0) -> Iterator[Event]:
    """``media_events`` that re-opens a lost network stream with exponential back-off (see
    :func:`reconnecting`)."""
    yield from reconnecting(lambda offset: media_events(source, sr, frame_rate, realtime, offset, size, geometry,
                                                        timeout),
                            source, sr, is_network(source), is_live(source), retries, backoff)


def reconnecting(open_events: Callable[[float], Iterator[Event]], source: str, sr: int, network: bool, live: bool,
                 retries: int = 5, backoff: float = 1.0) -> Iterator[Event]:
    """The events of ``open_events(offset)``, re-opened with exponential back-off when a network
    source fails (a failed open or read, a timeout, and for ``live`` sources also an end of
    stream), at most ``retries`` times in all (a server that fails after every reopen does not
    earn new retries); timestamps continue on the wall clock across the outage (``offset``), so
    the stream sees (and reports) the gap, and ``("reopened", [], outage seconds)`` comes before
    the first event after it. A file, or a network resource that ends normally, just ends."""
    reopens, failures, offset, last_t, lost_at = 0, 0, 0.0, 0.0, None
    while True:
        try:
            for kind, data, t in open_events(offset):
                if lost_at is not None:
                    yield "reopened", np.zeros(0, np.float32), time.monotonic() - lost_at
                failures, lost_at = 0, None
                if kind == "end" and live:
                    raise MediaError(f"{source}: live stream ended")
                last_t = max(last_t, t + (data.shape[-1] / sr if kind == "audio" else 0.0))   # where it ends
                yield kind, data, t
            if not live:
                return
            raise MediaError(f"{source}: live stream ended")
        except MediaError as exc:
            if not network or reopens >= retries:
                if network and reopens:
                    raise type(exc)(f"{exc} (gave up after {reopens} re-open{'s' * (reopens != 1)}; "
                                    "--retries sets how many)") from None
                raise
            lost_at = lost_at or time.monotonic()
            wait = backoff * 2 ** failures
            log.warning("%s: stream lost (%s); re-opening in %.1f s", source, exc, wait)
            time.sleep(wait)
            reopens += 1
            failures += 1
            offset = last_t + (time.monotonic() - lost_at)


def camera_events(index: int, frame_rate: float = 4.0) -> Iterator[Event]:
    """Frames from an OpenCV camera, timestamped with the monotonic clock."""
    import cv2

    quiet = getattr(getattr(cv2, "utils", None), "logging", None)
    if quiet is not None:   # OpenCV's own "[ WARN:0@0.008] ..." lines come before our one-line error
        quiet.setLogLevel(quiet.LOG_LEVEL_ERROR)
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        raise MediaError(f"camera {index}: cannot open (is it connected and free?)")
    t0, thinner = time.monotonic(), FrameThinner(frame_rate, tolerance=0.0)
    try:
        while True:
            ok, bgr = cap.read()
            t = time.monotonic() - t0
            if not ok:
                raise MediaError(f"camera {index}: no frame (unplugged?)")
            if thinner.take(t):
                yield "frame", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), t
    finally:
        cap.release()


def device_events(camera: int | None, microphone: int | bool | None, sr: int, frame_rate: float = 4.0,
                  block: float = 0.1) -> Iterator[Event]:
    """A camera (OpenCV) and/or a microphone (``sounddevice``, mono at ``sr``) on one monotonic
    clock, merged from two capture threads (docs/design.md says where this has run)."""
    import queue
    import threading

    from ..read_ahead import join_workers, start_worker

    events: queue.Queue = queue.Queue(maxsize=256)
    stop = threading.Event()
    t0 = time.monotonic()

    def put(item) -> None:
        try:
            events.put(item, timeout=1.0)
        except queue.Full:
            log.warning("device capture: consumer too slow, dropping %s", item[0])

    def mic() -> None:
        try:
            import sounddevice as sd
        except ImportError:
            put(("error", MediaError("microphone capture needs sounddevice: pip install sounddevice"), 0.0))
            return
        device = None if microphone is True else microphone
        with sd.InputStream(samplerate=sr, channels=1, dtype="float32", blocksize=int(sr * block), device=device) as s:
            while not stop.is_set():
                data, _ = s.read(int(sr * block))
                put(("audio", data[:, 0].copy(), time.monotonic() - t0 - len(data) / sr))

    def cam() -> None:
        try:
            for kind, data, _ in camera_events(camera, frame_rate):
                put((kind, data, time.monotonic() - t0))
                if stop.is_set():
                    return
        except MediaError as exc:
            put(("error", exc, 0.0))

    threads: list[threading.Thread] = []
    try:
        for name, f, on in (("avsc-microphone", mic, microphone), ("avsc-camera", cam, camera is not None)):
            if on:
                start_worker(f, threads, name)
        while True:
            kind, data, t = events.get()
            if kind == "error":
                raise data
            yield kind, data, t
    finally:
        stop.set()
        join_workers(threads, timeout=2.0)   # each ends after its current read
