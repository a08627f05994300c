"""GStreamer sources: ``clf.stream("gst:...")`` and :class:`GstSource`.

Three forms, all ending in two ``appsink`` elements that hand the stream mono float audio at the
model's rate and RGB frames already brought to the model's size by the clip's frame geometry
(scaled, and centre-cropped for ``center_crop``, inside the pipeline), stamped with the buffers'
timestamps:

* ``gst:<pipeline>`` with elements named ``video`` and/or ``audio`` whose output is decoded video /
  audio: the SDK links its tails to them. To tee an existing pipeline into the classifier::

      ... ! tee name=t  t. ! queue ! your_sink  t. ! queue name=video

* ``gst:<uri or path>`` (``file:///clip.mp4``, ``rtsp://host/stream``, ``/data/clip.mkv``): a
  ``uridecodebin``;
* ``gst:camera:N``: ``nvarguscamerasrc sensor-id=N`` on a Jetson, else ``v4l2src /dev/videoN``.

Jetson elements are used when the registry has them (:func:`choose_elements`): ``nvvidconv``
scales in hardware, ``nvv4l2decoder`` decodes (decodebin picks it by rank; ``AVSC_EDGE_DECODER=cpu``
forces software decoders), ``nvarguscamerasrc`` opens CSI cameras. docs/design.md says where each
path has run. ``import avsc_edge`` never imports GStreamer; a ``gst:`` source without it fails with
one line naming what to install.
"""
from __future__ import annotations

import ctypes
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..errors import DependencyError, InputError, MediaError
from ..media.video import crop_plan
from .sources import FrameThinner, is_live, is_network, reconnecting

log = logging.getLogger("avsc_edge")
Event = tuple[str, np.ndarray, float]

INSTALL = ("GStreamer and its Python bindings are needed for gst: sources: apt-get install gstreamer1.0-plugins-base "
           "gstreamer1.0-plugins-good gstreamer1.0-libav gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 "
           "libgirepository1.0-dev libcairo2-dev, then pip install 'avsc-edge[gstreamer]'")
JETSON_ELEMENTS = ("nvv4l2decoder", "nvvidconv", "nvarguscamerasrc")
VIDEO_SINK, AUDIO_SINK = "avsc_video", "avsc_audio"


def keep_gcc_unwinder() -> None:
    """libgstreamer links libunwind, and GObject introspection loads it into the global symbol
    scope, where it would then answer ``_Unwind_Resume`` for every C++ library that throws later
    (torch, onnxruntime): their first exception after GStreamer loaded crashed the process. GCC's
    unwinder loaded globally first keeps those symbols bound to it."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libgcc_s.so.1", mode=ctypes.RTLD_GLOBAL)
        except OSError:   # a libc without it (musl): nothing to keep
            pass


def load_gst():
    """The initialised ``Gst`` module, or a DependencyError saying what to install."""
    keep_gcc_unwinder()
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
    except (ImportError, ValueError) as exc:
        raise DependencyError(f"{INSTALL} ({exc})") from None
    if not Gst.is_initialized():
        Gst.init(None)
    return Gst


def gst_info() -> dict:
    """GStreamer's version and which Jetson elements the registry has (for ``avsc-edge info``)."""
    try:
        Gst = load_gst()
    except DependencyError:
        return {"gstreamer": None}
    return {"gstreamer": Gst.version_string(),
            "jetson_elements": {n: Gst.ElementFactory.find(n) is not None for n in JETSON_ELEMENTS}}


@dataclass(frozen=True)
class Elements:
    """What a pipeline is built from: the scaler (``nvvidconv`` or ``videoscale``), whether
    decodebin may use hardware decoders, and the camera source."""

    scaler: str
    hardware_decode: bool
    camera: str

    @property
    def jetson(self) -> bool:
        return self.scaler == "nvvidconv"


def choose_elements(has: Callable[[str], bool], decoder: str | None = None) -> Elements:
    """Jetson elements where the registry (``has(name)``) has them and ``decoder`` (default:
    ``AVSC_EDGE_DECODER``, else ``auto``) allows; the CPU elements otherwise. ``nvdec`` where the
    Jetson elements are missing falls back to the CPU with a warning, as file decoding does."""
    choice = (decoder or os.environ.get("AVSC_EDGE_DECODER") or "auto").lower()
    if choice not in ("auto", "cpu", "nvdec"):
        raise InputError(f"decoder must be auto, cpu or nvdec, got {choice!r}")
    jetson = has("nvv4l2decoder") and has("nvvidconv")
    if choice == "nvdec" and not jetson:
        log.warning("nvdec requested but GStreamer has no nvv4l2decoder/nvvidconv (not a Jetson?): decoding on the CPU")
    camera = "nvarguscamerasrc" if jetson and choice != "cpu" and has("nvarguscamerasrc") else "v4l2src"
    if jetson and choice != "cpu":
        return Elements("nvvidconv", True, camera)
    return Elements("videoscale", False, camera)


def video_tail(elements: Elements) -> str:
    """Decoded video -> RGB at the model's size: ``avsc_scaler`` (whose input a probe thins to the
    stream's frame rate) scales to the size a caps probe sets once the input's size is known
    (:func:`crop_plan`), the colour conversion runs on the small frame, ``avsc_crop`` cuts the
    centre. The first element takes video only, so a decoder's pads link by type."""
    if elements.jetson:
        scale = "nvvidconv name=avsc_scaler ! capsfilter name=avsc_size ! videoconvert"
    else:
        scale = "videoscale name=avsc_scaler ! capsfilter name=avsc_size ! videoconvert"
    return (f"{scale} ! video/x-raw,format=RGB ! videocrop name=avsc_crop ! "
            f"appsink name={VIDEO_SINK} sync=false async=false max-buffers=16")


def audio_tail(sr: int) -> str:
    """Decoded audio -> mono float32 at ``sr`` in 0.1-s buffers (fewer, larger events to Python)."""
    return ("audioconvert ! queue ! audioresample quality=10 ! "
            f"audio/x-raw,format=F32LE,layout=interleaved,channels=1,rate={int(sr)} ! "
            f"audiobuffersplit output-buffer-duration=1/10 ! appsink name={AUDIO_SINK} sync=false async=false "
            "max-buffers=64")


def describe(source: str, sr: int, elements: Elements) -> str:
    """The whole pipeline description for a ``gst:`` source (without the prefix)."""
    video, audio = video_tail(elements), audio_tail(sr)
    if f"name={VIDEO_SINK}" in source or f"name={AUDIO_SINK}" in source:
        return source
    if "name=video" in source or "name=audio" in source:
        tails = [f"video. ! {video}"] * ("name=video" in source) + [f"audio. ! {audio}"] * ("name=audio" in source)
        return " ".join([source, *tails])
    if source.startswith("camera:"):
        index = int(source.split(":", 1)[1] or 0)
        if elements.camera == "nvarguscamerasrc":
            return f"nvarguscamerasrc sensor-id={index} ! {video}"
        return f"v4l2src device=/dev/video{index} ! {video}"
    uri = source if "://" in source else f"file://{os.path.abspath(source)}"
    soft = "" if elements.hardware_decode else " force-sw-decoders=true"
    return f"uridecodebin uri={uri} name=src{soft} src. ! {video} src. ! {audio}"


class GstSource:
    """A running pipeline (:func:`describe`) as stream events: ``("audio", float32 [n], t)``,
    ``("frame", RGB uint8 [S, S, 3], t)`` on the buffers' clock, and ``("end", [], t)`` at the end
    of a stream that ends (a file). Errors (a lost server, a missing element) are MediaErrors."""

    def __init__(self, source: str, sr: int, clip, max_rate: float = 4.0, decoder: str | None = None) -> None:
        Gst = self.Gst = load_gst()
        self.source, self.sr, self.clip = source, sr, clip
        self.elements = choose_elements(lambda n: Gst.ElementFactory.find(n) is not None, decoder)
        self.description = describe(source, sr, self.elements)
        self.thinner = FrameThinner(max_rate)
        try:
            self.pipeline = Gst.parse_launch(self.description)
        except Exception as exc:   # GLib.Error: unknown element, bad syntax
            raise MediaError(f"gst:{source}: cannot build the pipeline ({exc})") from None
        self.video = self.pipeline.get_by_name(VIDEO_SINK)
        self.audio = self.pipeline.get_by_name(AUDIO_SINK)
        if self.video is None and self.audio is None:
            raise InputError(f"gst:{source}: the pipeline has neither a video nor an audio output (name an element "
                             "'video' or 'audio', or end in appsinks named avsc_video / avsc_audio)")
        scaler = self.pipeline.get_by_name("avsc_scaler")
        if scaler is not None:
            scaler.get_static_pad("sink").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self._on_caps)
            scaler.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self._thin)

    def _thin(self, pad, info):
        """Frames beyond ``max_rate`` per second are dropped before they are scaled or converted."""
        pts = info.get_buffer().pts
        if pts != self.Gst.CLOCK_TIME_NONE and not self.thinner.take(pts / self.Gst.SECOND):
            return self.Gst.PadProbeReturn.DROP
        return self.Gst.PadProbeReturn.OK

    def _on_caps(self, pad, info):
        """The input's size is known: set the scaled size and the centre crop of the clip's geometry."""
        event = info.get_event()
        if event.type == self.Gst.EventType.CAPS:
            s = event.parse_caps().get_structure(0)
            ok_w, width = s.get_int("width")
            ok_h, height = s.get_int("height")
            if ok_w and ok_h:
                size = self.clip.frame_size
                w, h, top, left = crop_plan(width, height, size, self.clip.frame_geometry)
                caps = f"video/x-raw,width={w},height={h},pixel-aspect-ratio=1/1"
                self.pipeline.get_by_name("avsc_size").set_property("caps", self.Gst.Caps.from_string(caps))
                crop = self.pipeline.get_by_name("avsc_crop")
                for side, value in (("top", top), ("left", left), ("bottom", h - size - top), ("right", w - size - left)):
                    crop.set_property(side, value)
        return self.Gst.PadProbeReturn.OK

    def events(self, poll: float = 0.01, patience: float = 0.5) -> Iterator[Event]:
        """Audio and frames in timestamp order: the earlier of the two sinks' next samples goes
        first; a sink with nothing for ``patience`` seconds (wall clock) is not waited for (a
        source without that modality, a stalled branch)."""
        Gst = self.Gst
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            self._raise_bus_error("cannot start")
        bus, last = self.pipeline.get_bus(), 0.0
        sinks = {kind: sink for kind, sink in (("frame", self.video), ("audio", self.audio)) if sink is not None}
        pending: dict[str, Event] = {}
        waiting_since = {kind: time.monotonic() for kind in sinks}
        try:
            while True:
                for kind, sink in sinks.items():
                    if kind in pending:
                        continue
                    sample = sink.emit("try-pull-sample", int(poll * Gst.SECOND))
                    event = None if sample is None else self._event(kind, sample)
                    if event is not None:
                        pending[kind] = event
                    elif sample is None and not sink.get_property("eos"):
                        continue
                    waiting_since[kind] = time.monotonic()
                message = bus.pop_filtered(Gst.MessageType.ERROR)
                if message is not None:
                    self._raise_bus_error("stream broken", message)
                done = all(sink.get_property("eos") for sink in sinks.values())
                if done and not pending:
                    yield "end", np.zeros(0, np.float32), last
                    return
                awaited = [k for k in sinks if k not in pending and not sinks[k].get_property("eos")
                           and time.monotonic() - waiting_since[k] < patience]
                if pending and not awaited:
                    kind = min(pending, key=lambda k: pending[k][2])
                    event = pending.pop(kind)
                    last = max(last, event[2])
                    yield event
        finally:
            self.pipeline.set_state(Gst.State.NULL)

    def _event(self, kind: str, sample) -> Event | None:
        buf = sample.get_buffer()
        if buf.pts == self.Gst.CLOCK_TIME_NONE:
            return None
        t = buf.pts / self.Gst.SECOND
        ok, mapped = buf.map(self.Gst.MapFlags.READ)
        if not ok:
            return None
        try:
            data = np.frombuffer(mapped.data, np.float32 if kind == "audio" else np.uint8).copy()
        finally:
            buf.unmap(mapped)
        if kind == "audio":
            return "audio", data, t
        s = self.clip.frame_size
        if data.size != s * s * 3:
            return None   # a frame before the caps probe fixed the size
        return "frame", data.reshape(s, s, 3), t

    def _raise_bus_error(self, what: str, message=None) -> None:
        if message is None:
            message = self.pipeline.get_bus().timed_pop_filtered(self.Gst.SECOND, self.Gst.MessageType.ERROR)
        detail = message.parse_error()[0].message if message is not None else "no detail"
        raise MediaError(f"gst:{self.source}: {what} ({detail})")


def gst_events(source: str, sr: int, clip, max_rate: float, decoder: str | None = None, retries: int = 5,
               backoff: float = 1.0) -> Iterator[Event]:
    """A ``gst:`` source's events; a pipeline over a network URI is rebuilt with back-off when it
    fails (timestamps continue across the outage, as for PyAV's network sources)."""
    uri = "!" not in source and " " not in source.strip()
    shifted = lambda offset: ((k, d, offset + t) for k, d, t in  # noqa: E731
                              GstSource(source, sr, clip, max_rate, decoder).events())
    yield from reconnecting(shifted, f"gst:{source}", sr, uri and is_network(source), uri and is_live(source),
                            retries, backoff)
