"""Frames at given times, decoding as little as possible, converted and resized in one libswscale
call straight to the model's frame size (never a full-resolution RGB array).

Two policies (``ClipConfig.frame_policy``), the same for training and inference:

* ``keyframe`` (default): for each wanted time, the nearest *keyframe* when one lies within
  ``keyframe_tolerance`` seconds; only those keyframe packets are decoded, each on its own (the
  packets in between are demuxed, not decoded). A wanted time with no keyframe that close falls
  back to ``exact`` for that time.
* ``exact``: the decoded frame nearest each wanted time; decodes forward from the previous
  position, and seeks (to the keyframe before the time) when the time is further ahead than the
  keyframe interval seen so far.

Measured on a 10-s 1280x720 30-fps H.264 clip (keyframe every 2 s) on 2 cores, see
``benchmarks/README.md``: decoding every frame ~750 ms, ``exact`` for 8 frames ~500 ms,
``keyframe`` ~100 ms. A :class:`FrameSampler` moves forward through one file and keeps at most a
few packets and frames, so a file of any length is sampled window by window in bounded memory.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Sequence

import numpy as np

from ..config import FRAME_GEOMETRIES, FRAME_POLICIES
from ..errors import InputError, MediaError
from . import container as _container
from .container import check_frame_size, ffmpeg_errors, ffmpeg_message, first_stream, stream_duration, stream_start
from .decoders import Decoder, open_with, select_decoder

log = logging.getLogger("avsc_edge")
POLICIES, GEOMETRIES = FRAME_POLICIES, FRAME_GEOMETRIES   # one definition each, in the clip config
CENTER_CROP_FILTER = "BILINEAR"
# The keyframe policy's long-GOP fallback decodes I- and P-frames forward without H.264's
# deblocking filter, as it decodes keyframes: 25 % less decoding; the frames drift from a full
# decode's by what benchmarks/README.md R4.2 measures (mean 2.7 / 255 at 128 px after ~50 P-frames)
SKIP_DEBLOCKING_FORWARD = True
_local = threading.local()


def _reformatter():
    """One libswscale context cache per thread (PyAV's per-frame default rebuilds it every call)."""
    from av.video.reformatter import VideoReformatter

    r = getattr(_local, "reformatter", None)
    if r is None:
        r = _local.reformatter = VideoReformatter()
    return r


CROP_FRACTION = 224 / 256     # torchvision's ImageNet eval transform: Resize(256) + CenterCrop(224)


def crop_plan(width: int, height: int, size: int, geometry: str) -> tuple[int, int, int, int]:
    """(scaled width, scaled height, top, left) of a ``width`` x ``height`` frame on its way to
    ``size`` x ``size``. ``squash`` scales the whole frame; ``center_crop`` is torchvision's eval
    transform: the short side to ``round(size / 0.875)`` (256 for 224), the long side in proportion
    (truncated, as ``transforms.Resize``), then the centred ``size`` square (offsets rounded, as
    ``transforms.CenterCrop``)."""
    if geometry == "squash":
        return size, size, 0, 0
    if geometry != "center_crop":
        raise InputError(f"frame geometry must be one of {GEOMETRIES}, got {geometry!r}")
    short = max(size, int(round(size / CROP_FRACTION)))
    if width <= height:
        w, h = short, max(size, int(short * height / width))
    else:
        w, h = max(size, int(short * width / height)), short
    return w, h, int(round((h - size) / 2.0)), int(round((w - size) / 2.0))


def quarter_turns(frame) -> int:
    """Counterclockwise quarter turns that show ``frame`` upright: its display matrix (phone video
    is stored sideways with a -90 degree matrix; players turn it, so do we)."""
    degrees = getattr(frame, "rotation", 0) or 0
    return int(round(degrees / 90.0)) % 4


def convert(frame, size: int | None = None, geometry: str = "squash") -> np.ndarray:
    """A decoded frame -> RGB uint8 ``[S, S, 3]`` or, with ``size=None``, ``[H, W, 3]``, upright
    (display matrix applied). ``squash`` area-averages the whole frame to ``S``; ``center_crop``
    scales it (bilinear, antialiased on reduction like PIL's) so that the centred crop is ``S`` and
    cuts that crop out: one libswscale call either way, rotation on the small result."""
    turns = quarter_turns(frame)
    if size is None:
        rgb = _reformatter().reformat(frame, format="rgb24").to_ndarray()
        return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb
    upright = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)
    w, h, top, left = crop_plan(*upright, size, geometry)
    scaled = (h, w) if turns % 2 else (w, h)
    interpolation = "AREA" if geometry == "squash" else CENTER_CROP_FILTER
    rgb = _reformatter().reformat(frame, width=scaled[0], height=scaled[1], format="rgb24",
                                  interpolation=interpolation).to_ndarray()
    if turns:
        rgb = np.rot90(rgb, turns)
    if (w, h) != (size, size):
        rgb = rgb[top:top + size, left:left + size]
    return np.ascontiguousarray(rgb)


def resize_frames(rgb: np.ndarray, size: int, geometry: str = "squash") -> np.ndarray:
    """RGB uint8 ``[T, H, W, 3]`` -> ``[T, size, size, 3]`` through the same libswscale path that
    decoded files take (arrays and files take one scaling path). Frames already ``size`` x ``size``
    are taken as prepared (a stream that scaled them at the source)."""
    import av

    if rgb.shape[1:3] == (size, size):
        return np.ascontiguousarray(rgb)
    # wrap the array without copying it (a 4K frame is 25 MB; copies pile up between collections)
    wrap = getattr(av.VideoFrame, "from_numpy_buffer", av.VideoFrame.from_ndarray)
    return np.stack([convert(wrap(np.ascontiguousarray(f), format="rgb24"), size, geometry) for f in rgb])


def video_header(container, stream) -> tuple[float, float | None]:
    """(start, duration) of a video track, in container seconds, from its headers (duration None
    when they do not say): what a sampler needs before it decodes, read from whichever container
    of the file is open already."""
    seconds = stream_duration(stream)
    if seconds is None and container.duration:
        seconds = float(container.duration / 1_000_000)
    return stream_start(stream), seconds


def window_frame_times(start: float, seconds: float, num_frames: int) -> np.ndarray:
    """Times of the frames sampled from one window: the centres of ``num_frames`` equal segments."""
    return start + (np.arange(num_frames) + 0.5) * seconds / num_frames


def _frame_time(frame) -> float:
    return float(frame.time) if frame.time is not None else 0.0


class _Exact:
    """Forward decoding with seeks over long distances; nearest decoded frame per wanted time.
    ``references_only``: the decoder skips B-frames (H.264, MPEG-2/4; other codecs: the frames
    nothing refers to), so that a time far from any keyframe costs only the I- and P-frames before
    it and the nearest of them stands in (the keyframe policy's fallback for long GOPs; the
    ``exact`` policy decodes every frame)."""

    def __init__(self, container, stream, path, references_only: bool = False) -> None:
        self.c, self.stream, self.path = container, stream, path
        if references_only:
            # H.264 / MPEG-2 / MPEG-4 P-frames never refer to B-frames: skipping every B-frame keeps
            # the I- and P-frames bit-exact (tested) at a quarter of the decoding of x264's default
            # GOP; other codecs skip only the frames nothing refers to
            bidir = stream.codec_context.name in ("h264", "mpeg2video", "mpeg1video", "mpeg4")
            stream.codec_context.skip_frame = "BIDIR" if bidir else "NONREF"
            if SKIP_DEBLOCKING_FORWARD:
                stream.codec_context.options = {"skip_loop_filter": "all"}
        self.frames = None        # decode iterator
        self.prev = None          # last frame before the lookahead
        self.ahead = None         # first frame at/after the last wanted time (not consumed)
        self.gop = 2.0            # keyframe interval seen so far (seconds): decode forward within it
        self.last_key: float | None = None
        self.decoded = 0

    def _next(self):
        if self.frames is None:
            self.frames = self.c.decode(self.stream)
        try:
            frame = next(self.frames, None)
        except ffmpeg_errors() as exc:
            if self.prev is None and self.ahead is None:
                raise
            log.warning("%s: video decoding stopped early (%s); using the frames decoded so far", self.path, exc)
            self.frames = iter(())
            return None
        if frame is not None:
            self.decoded += 1
            if frame.key_frame:
                t = _frame_time(frame)
                if self.last_key is not None and t > self.last_key:
                    self.gop = max(self.gop, t - self.last_key)
                self.last_key = t
        return frame

    def _seek(self, t: float) -> None:
        if self.stream.time_base is None:
            return
        self.c.seek(max(0, int(t / self.stream.time_base)), stream=self.stream, backward=True, any_frame=False)
        self.frames, self.prev, self.ahead = None, None, None

    def at(self, t: float, key_before: float | None = None):
        """The decoded frame nearest ``t``. ``key_before``: the keyframe at or before ``t`` when the
        caller knows it (the index): no seek back to a keyframe the decoder has already passed."""
        here = self.ahead if self.ahead is not None else self.prev
        pos = _frame_time(here) if here is not None else 0.0
        ahead_of_decoder = key_before is None or key_before > pos or here is None
        if t - pos > self.gop + 0.5 and ahead_of_decoder:
            self._seek(t)
        while self.ahead is None or _frame_time(self.ahead) < t:
            if self.ahead is not None:
                self.prev = self.ahead
            self.ahead = self._next()
            if self.ahead is None:
                break
        candidates = [f for f in (self.prev, self.ahead) if f is not None]
        if not candidates:
            return None
        return min(candidates, key=lambda f: abs(_frame_time(f) - t))


Key = tuple[float, object]   # (seconds, the keyframe's packet)


class _Keyframes:
    """The keyframe packets nearest to wanted times, each decoded on its own. Found through the
    container's index where it has one (a seek to the keyframe at or before a time and one to the
    keyframe at or after it, one packet read each: MP4, Matroska, WebM), else by demuxing the
    video packets forward (a stream without an index)."""

    def __init__(self, container, stream) -> None:
        self.c, self.stream = container, stream
        self.indexed: bool | None = None     # decided at the first lookup
        self.last_before: float | None = None   # the keyframe at or before the last time looked up (index only)
        self.last_after: float | None = None    # the keyframe after it (index only; None: none or unknown)
        self.packets = None
        self.before: Key | None = None       # forward scan: last keyframe at or before the wanted time
        self.after: Key | None = None        # forward scan: first keyframe after it
        self.done = False
        self.decoded: dict[float, object] = {}   # the last decoded keyframe (wanted times repeat it)
        self.count = 0

    def nearest(self, t: float) -> Key | None:
        self.last_before = self.last_after = None
        if self.indexed is not False:
            keys = self._by_index(t)
            if keys is not None:
                self.indexed = True
                before = [k[0] for k in keys if k[0] <= t + 1e-6]
                after = [k[0] for k in keys if k[0] > t + 1e-6]
                self.last_before = max(before) if before else None
                self.last_after = min(after) if after else None
                return min(keys, key=lambda k: abs(k[0] - t)) if keys else None
            if self.indexed is None:      # seeking does not land on keyframes here: scan forward from the start
                self.indexed = False
                self._rewind()
        return self._scan(t)

    # -- through the index -----------------------------------------------------------------------
    def _by_index(self, t: float) -> list[Key] | None:
        """The keyframes at or before and at or after ``t`` (None: the index cannot be trusted)."""
        before = self._seek(t, backward=True)
        after = self._seek(t, backward=False)
        if before is False or after is False:
            return None
        keys = [k for k in (before, after) if k is not None]
        if keys and (before is not None and before[0] > t + 1e-3 and after is not None and after[0] != before[0]):
            return None   # "at or before" landed after the time, elsewhere than the first keyframe
        return keys

    def _seek(self, t: float, backward: bool) -> Key | None | bool:
        """The keyframe a seek to ``t`` lands on (None: none that way; False: not a keyframe)."""
        tb = self.stream.time_base
        if tb is None:
            return False
        try:
            self.c.seek(max(0, int(t / tb)), stream=self.stream, backward=backward, any_frame=False)
            for packet in self.c.demux(self.stream):
                if packet.pts is None or packet.size == 0:
                    continue
                if not packet.is_keyframe:
                    return False
                return float(packet.pts * packet.time_base), packet
        except ffmpeg_errors():
            pass  # past the last keyframe (or a file that does not seek): nothing that way
        return None

    def _rewind(self) -> None:
        try:
            self.c.seek(0, stream=self.stream, backward=True, any_frame=False)
        except ffmpeg_errors():
            pass
        self.packets, self.before, self.after, self.done = None, None, None, False

    # -- forward scan ----------------------------------------------------------------------------
    def _advance(self) -> None:
        if self.packets is None:
            self.packets = self.c.demux(self.stream)
        try:
            for packet in self.packets:
                if packet.is_keyframe and packet.pts is not None and packet.time_base is not None:
                    self.before, self.after = self.after, (float(packet.pts * packet.time_base), packet)
                    return
        except ffmpeg_errors():
            pass  # a truncated file: the keyframes seen so far are all there is
        self.before, self.after, self.done = self.after, None, True

    def _scan(self, t: float) -> Key | None:
        while not self.done and (self.after is None or self.after[0] <= t):
            self._advance()
        keys = [k for k in (self.before, self.after) if k is not None]
        return min(keys, key=lambda k: abs(k[0] - t)) if keys else None

    def decode(self, key: Key):
        """The decoded keyframe, timed by its packet (a frame drained on its own has no time base)."""
        t, packet = key
        if t not in self.decoded:
            cc = self.stream.codec_context
            try:
                frames = cc.decode(packet) + cc.decode(None)
            except ffmpeg_errors():
                frames = []  # a damaged keyframe: the caller falls back to exact decoding
            cc.flush_buffers()
            self.decoded = {t: frames[0] if frames else None}
            self.count += 1
        return self.decoded[t]


class FrameSampler:
    """Frames of one video file at non-decreasing times, brought to ``size`` (RGB uint8) by
    ``geometry`` (see :func:`convert`).

    >>> with FrameSampler("clip.mp4", 224) as s:                      # doctest: +SKIP
    ...     rgb, times = s.sample([0.625, 1.875])                    # [2, 224, 224, 3], found times

    ``decoder``: a :class:`~avsc_edge.media.decoders.Decoder` or its name (``auto``/``cpu``/``nvdec``).
    ``decoder_used`` says which one ran. Times must not go backwards across calls. ``header``:
    the track's (start, duration) when already known (:func:`video_header` of another open
    container of the file): the file is then opened at the first ``sample``, on the thread that
    decodes, not here.

    The keyframe policy finds keyframes through the container's index and decodes only those;
    a time with no keyframe within the tolerance (a long GOP) is decoded forward from the keyframe
    before it, reference frames only, and the nearest of them stands in.
    """

    def __init__(self, path: str | os.PathLike, size: int | None, policy: str = "keyframe",
                 keyframe_tolerance: float = 2.0, decoder: Decoder | str | None = None,
                 geometry: str = "squash", header: tuple[float, float | None] | None = None) -> None:
        if policy not in POLICIES:
            raise InputError(f"frame policy must be one of {POLICIES}, got {policy!r}")
        if geometry not in GEOMETRIES:
            raise InputError(f"frame geometry must be one of {GEOMETRIES}, got {geometry!r}")
        self.path, self.size, self.policy, self.tolerance = path, size, policy, float(keyframe_tolerance)
        self.geometry = geometry
        self.decoder = decoder if isinstance(decoder, Decoder) else select_decoder(decoder)
        self.decoder_used: Decoder | None = None
        self._exact: _Exact | None = None
        self._keys: _Keyframes | None = None
        self._containers: list = []
        self._last = -np.inf
        self._header = header
        self.stats = {"keyframes_decoded": 0, "exact_frames": 0}
        self._forward_keys = 0     # keyframes decoded by the forward decoder (long GOPs)
        self.seconds = {"decode": 0.0, "convert": 0.0}   # time spent decoding and in libswscale

    # -- opening -----------------------------------------------------------------------------
    def _open(self):
        c, used = open_with(self.decoder, self.path, lambda p, hw: _container.open_input(p, hwaccel=hw))
        self.decoder_used = used
        self._containers.append(c)
        stream = first_stream(c, "video", self.path)
        check_frame_size(stream, self.path)
        return c, stream

    def _exact_scan(self) -> _Exact:
        if self._exact is None:
            c, stream = self._open()
            self._exact = _Exact(c, stream, self.path, references_only=self.policy == "keyframe")
        return self._exact

    def _key_scan(self) -> _Keyframes:
        if self._keys is None:
            c, stream = self._open()
            # keyframes alone, scaled down: H.264's deblocking filter costs 15 % of a 720p keyframe's
            # decode and moves the 128-px frame by 0.2 / 255 on average (benchmarks/README.md R4.3)
            stream.codec_context.options = {"skip_loop_filter": "all"}
            self._keys = _Keyframes(c, stream)
        return self._keys

    def duration(self) -> float | None:
        """Seconds of video, from the stream (or container) header; None when unknown. Raises
        :class:`~avsc_edge.media.MissingStreamError` for a file without a video track."""
        if self._header is not None:
            return self._header[1]
        scan = self._key_scan() if self.policy == "keyframe" else self._exact_scan()
        return video_header(scan.c, scan.stream)[1]

    def start(self) -> float:
        """Container seconds at which the video track starts (its header's start time)."""
        if self._header is not None:
            return self._header[0]
        scan = self._key_scan() if self.policy == "keyframe" else self._exact_scan()
        return stream_start(scan.stream)

    # -- sampling ----------------------------------------------------------------------------
    def _frame_at(self, t: float):
        key_before = None
        if self.policy == "keyframe":
            keys = self._key_scan()
            key = keys.nearest(t)
            if key is not None and abs(key[0] - t) <= self.tolerance and self._starts_long_gop(key[0], keys):
                # the fallback will decode forward from this keyframe: let it decode the keyframe too
                frame = self._exact_scan().at(key[0], key[0])
                if frame is not None:
                    self._forward_keys += 1
                    self.stats["keyframes_decoded"] = keys.count + self._forward_keys
                    return frame, _frame_time(frame)
            if key is not None and abs(key[0] - t) <= self.tolerance:
                frame = keys.decode(key)
                if frame is not None:
                    self.stats["keyframes_decoded"] = keys.count + self._forward_keys
                    return frame, key[0]
            key_before = keys.last_before
        self.stats["exact_frames"] += 1
        frame = self._exact_scan().at(t, key_before)
        return (frame, _frame_time(frame)) if frame is not None else (None, None)

    def _starts_long_gop(self, key: float, keys: _Keyframes) -> bool:
        """Whether ``key`` is the keyframe at or before the wanted time and the next keyframe (or the
        track's end) lies more than two tolerances after it: later times in this GOP then fall back
        to decoding forward from it."""
        if keys.last_before is None or abs(keys.last_before - key) > 1e-6:
            return False
        end = keys.last_after if keys.last_after is not None else self.duration()
        return end is not None and end - key > 2 * self.tolerance

    def sample(self, times: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """RGB uint8 ``[T, S, S, 3]`` for the sorted ``times`` and the times of the frames used.
        Raises :class:`MediaError` when the track has no decodable frame at all."""
        want = np.asarray(times, dtype=np.float64)
        if want.size == 0:
            raise InputError("sample needs at least one time")
        if np.any(np.diff(want) < 0) or want[0] < self._last - 1e-9:
            raise InputError("FrameSampler times must be non-decreasing across calls; open a new sampler to go back")
        self._last = float(want[-1])
        chosen, found = [], []
        t0 = time.perf_counter()
        try:
            for t in want:
                frame, when = self._frame_at(float(t))
                if frame is None:
                    raise MediaError(f"{self.path}: video track holds no decodable frames")
                chosen.append(frame)
                found.append(when)
            t1 = time.perf_counter()
            converted: dict[int, np.ndarray] = {}
            rgb = [converted.setdefault(id(f), convert(f, self.size, self.geometry)) for f in chosen]
        except ffmpeg_errors() as exc:
            raise MediaError(f"{self.path}: video track is corrupt or truncated ({ffmpeg_message(exc)})") from exc
        self.seconds["decode"] += t1 - t0
        self.seconds["convert"] += time.perf_counter() - t1
        return np.stack(rgb), np.asarray(found)

    def close(self) -> None:
        for c in self._containers:
            c.close()
        self._containers.clear()

    def __enter__(self) -> "FrameSampler":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sample_frames(path: str | os.PathLike, times: Sequence[float], size: int | None = None,
                  policy: str = "exact", keyframe_tolerance: float = 2.0,
                  geometry: str = "squash") -> tuple[np.ndarray, np.ndarray]:
    """One-shot :class:`FrameSampler`: RGB uint8 frames at ``times`` (sorted here), resized to
    ``size`` (None: full resolution), and the times of the frames used."""
    with FrameSampler(path, size, policy, keyframe_tolerance, geometry=geometry) as s:
        return s.sample(sorted(times))
