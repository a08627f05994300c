"""GStreamer sources: ``clf.stream("gst:...")`` / ``clf.stream("gst-pipeline:...")`` and :class:`GstSource`.

Every source ends in two ``appsink`` elements that hand the stream mono float audio at the model's
rate and RGB frames already brought to the model's size by the clip's frame geometry (scaled, and
centre-cropped for ``center_crop``, inside the pipeline), stamped with the buffers' timestamps.

* ``gst:<path or URI>`` (``/data/clip.mkv``, ``file:///clip.mp4``, ``rtsp://host/stream``): a
  ``uridecodebin`` built element by element: the string is its ``uri`` *property*, never pipeline
  text, so no name or URL can add elements. Only the URI's protocol family may be opened inside
  it (an HLS playlist over HTTP cannot pull a ``file://`` segment). Decoded pads link to the
  tails by their caps; a file without audio or without video ends when the track it has ends.
* ``gst:camera:N``: ``nvarguscamerasrc sensor-id=N`` on a Jetson, else ``v4l2src /dev/videoN``.
* ``gst-pipeline:<description>``: a pipeline description, **trusted input** (like a shell command:
  it can read and write any file GStreamer can), with elements named ``video`` and/or ``audio``
  whose output is decoded video / audio; the SDK links its tails to them. To tee an existing
  pipeline into the classifier::

      ... ! tee name=t  t. ! queue ! your_sink  t. ! queue name=video

Bounded: a source that delivers nothing for ``timeout`` seconds (a silent or slow server, one that
never finishes its headers) is a :class:`~avsc_edge.errors.SourceTimeoutError`, and a pipeline
that does not stop within a few seconds is abandoned instead of hanging the caller (SIGTERM and
Ctrl-C end the stream).

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
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..errors import DependencyError, InputError, MediaError, SourceTimeoutError
from ..media.video import crop_plan
from .sources import FrameThinner, is_live, is_network, reconnecting

log = logging.getLogger("avsc_edge")
Event = tuple[str, np.ndarray, float]

INSTALL = ("GStreamer and its Python bindings are needed for gst: sources: apt-get install gstreamer1.0-plugins-base "
           "gstreamer1.0-plugins-good gstreamer1.0-libav gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 "
           "libgirepository1.0-dev libcairo2-dev, then pip install 'avsc-edge[gstreamer]'")
JETSON_ELEMENTS = ("nvv4l2decoder", "nvvidconv", "nvarguscamerasrc")
VIDEO_SINK, AUDIO_SINK = "avsc_video", "avsc_audio"
PREFIX, PIPELINE_PREFIX = "gst:", "gst-pipeline:"
STOP_SECONDS = 5.0      # a pipeline that takes longer to stop (a stuck element) is abandoned
UNFED_GRACE = 2.0       # a described pipeline's sink that never got data is not waited for this long after another ends

# GStreamer URI protocols each kind of source may open (its own source element and whatever the
# demuxers inside uridecodebin create: HLS fragments, RTSP's UDP transports)
GST_PROTOCOLS = {
    "file": {"file"},
    "http": {"http", "https"}, "https": {"http", "https"},
    "rtsp": {"rtsp", "rtspu", "rtspt", "rtsph", "rtsps", "rtspsu", "rtspst", "rtspsh", "udp"},
    "rtsps": {"rtsps", "rtspsu", "rtspst", "rtspsh", "udp"},
    "rtmp": {"rtmp", "rtmpt", "rtmps", "rtmpts"},
    "udp": {"udp"}, "rtp": {"rtp", "udp"}, "srt": {"srt"},
}


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


@dataclass(frozen=True)
class GstSpec:
    """A parsed GStreamer source: ``kind`` is ``uri`` (``value`` a URI), ``camera`` (an index) or
    ``pipeline`` (a trusted description)."""

    kind: str
    value: str

    @classmethod
    def parse(cls, text: str) -> "GstSpec":
        """``gst:<path or URI>``, ``gst:camera:N`` or ``gst-pipeline:<description>``."""
        if text.startswith(PIPELINE_PREFIX):
            description = text[len(PIPELINE_PREFIX):].strip()
            if not description:
                raise InputError("gst-pipeline: needs a pipeline description after the prefix")
            return cls("pipeline", description)
        if not text.startswith(PREFIX):
            raise InputError(f"{text!r} is not a GStreamer source; write gst:<path or URI>, gst:camera:N or "
                             "gst-pipeline:<description>")
        rest = text[len(PREFIX):]
        if rest.startswith("camera:"):
            index = rest.removeprefix("camera:") or "0"
            if not index.isdigit() or int(index) > 255:
                raise InputError(f"gst:camera:{index}: the camera index must be a number 0..255 (gst:camera:0)")
            return cls("camera", str(int(index)))
        if not rest.strip():
            raise InputError("gst: needs a path, a URI or camera:N after the prefix")
        if "://" in rest:
            scheme = rest.split("://", 1)[0].lower()
            if scheme not in GST_PROTOCOLS:
                raise InputError(f"gst:{rest}: unsupported URI scheme {scheme!r}; use one of "
                                 f"{', '.join(s + '://' for s in GST_PROTOCOLS)}, or a local path")
            return cls("uri", rest)
        path = os.path.abspath(rest)
        if not os.path.isfile(path):
            raise MediaError(f"{rest}: file not found (gst: takes a path or a URI; a pipeline description needs "
                             "the gst-pipeline: prefix)")
        return cls("uri", "file://" + _quote_path(path))

    @property
    def scheme(self) -> str:
        return self.value.split("://", 1)[0].lower() if self.kind == "uri" else ""

    @property
    def network(self) -> bool:
        return self.kind == "uri" and is_network(self.value)

    @property
    def live(self) -> bool:
        return self.kind == "uri" and is_live(self.value)

    def __str__(self) -> str:
        return (PIPELINE_PREFIX if self.kind == "pipeline" else PREFIX + ("camera:" if self.kind == "camera" else "")) \
            + self.value


def _quote_path(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def video_tail(elements: Elements) -> str:
    """Decoded video -> RGB at the model's size: ``avsc_scaler`` (whose input a probe thins to the
    stream's frame rate) scales to the size a caps probe sets once the input's size is known
    (:func:`crop_plan`), the colour conversion runs on the small frame, ``avsc_crop`` cuts the
    centre. The first element takes video only, so a decoder's pads link by type. Fixed text:
    nothing from the source string goes into it."""
    scaler = "nvvidconv" if elements.jetson else "videoscale"
    return (f"{scaler} name=avsc_scaler ! capsfilter name=avsc_size ! videoconvert ! video/x-raw,format=RGB ! "
            f"videocrop name=avsc_crop ! appsink name={VIDEO_SINK} sync=false async=false max-buffers=16")


def audio_tail(sr: int) -> str:
    """Decoded audio -> mono float32 at ``sr`` in 0.1-s buffers (fewer, larger events to Python)."""
    return ("audioconvert ! queue ! audioresample quality=10 ! "
            f"audio/x-raw,format=F32LE,layout=interleaved,channels=1,rate={int(sr)} ! "
            f"audiobuffersplit output-buffer-duration=1/10 ! appsink name={AUDIO_SINK} sync=false async=false "
            "max-buffers=64")


def describe(description: str, sr: int, elements: Elements) -> str:
    """A trusted pipeline description with the SDK's tails linked to its ``video`` / ``audio`` elements
    (kept as it is when it ends in the SDK's appsinks itself)."""
    if f"name={VIDEO_SINK}" in description or f"name={AUDIO_SINK}" in description:
        return description
    video, audio = "name=video" in description, "name=audio" in description
    tails = [f"video. ! {video_tail(elements)}"] * video + [f"audio. ! {audio_tail(sr)}"] * audio
    return " ".join([description, *tails])


class GstSource:
    """A running GStreamer source (see :class:`GstSpec`) as stream events: ``("audio", float32
    [n], t)``, ``("frame", RGB uint8 [S, S, 3], t)`` on the buffers' clock, and ``("end", [], t)``
    at the end of a stream that ends (a file). Errors (a lost server, a missing element, a
    protocol the source may not open) are MediaErrors; ``timeout`` seconds without data a
    SourceTimeoutError."""

    def __init__(self, source: str | GstSpec, sr: int, clip, max_rate: float = 4.0, decoder: str | None = None,
                 timeout: float = 10.0) -> None:
        Gst = self.Gst = load_gst()
        self.spec = source if isinstance(source, GstSpec) else GstSpec.parse(source)
        self.sr, self.clip, self.timeout = sr, clip, float(timeout)
        self.elements = choose_elements(lambda n: Gst.ElementFactory.find(n) is not None, decoder)
        self.thinner = FrameThinner(max_rate)
        self.refused: str | None = None       # a protocol the source may not open (set on a streaming thread)
        self.linked: set[str] = set()         # the tails a uridecodebin pad linked to
        self.no_more_pads = False
        self.pipeline = self._pipeline_for_description() if self.spec.kind == "pipeline" else self._built_pipeline()
        self.video = self.pipeline.get_by_name(VIDEO_SINK)
        self.audio = self.pipeline.get_by_name(AUDIO_SINK)
        if self.video is None and self.audio is None:
            raise InputError(f"{self.spec}: the pipeline has neither a video nor an audio output (name an element "
                             "'video' or 'audio', or end in appsinks named avsc_video / avsc_audio)")
        scaler = self.pipeline.get_by_name("avsc_scaler")
        if scaler is not None:
            scaler.get_static_pad("sink").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self._on_caps)
            scaler.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self._thin)

    # -- building ------------------------------------------------------------------------------
    def _pipeline_for_description(self):
        try:
            return self.Gst.parse_launch(describe(self.spec.value, self.sr, self.elements))
        except Exception as exc:   # GLib.Error: unknown element, bad syntax
            raise MediaError(f"{self.spec}: cannot build the pipeline ({exc})") from None

    def _make(self, factory: str):
        element = self.Gst.ElementFactory.make(factory, None)
        if element is None:
            raise MediaError(f"{self.spec}: GStreamer has no {factory!r} element ({INSTALL})")
        return element

    def _tail(self, description: str):
        return self.Gst.parse_bin_from_description(description, True)

    def _built_pipeline(self):
        """Elements with properties (a URI is a property value, never pipeline text)."""
        Gst = self.Gst
        pipeline = Gst.Pipeline.new("avsc")
        video = self._tail(video_tail(self.elements))
        pipeline.add(video)
        if self.spec.kind == "camera":
            camera = self._make(self.elements.camera)
            camera.set_property("sensor-id" if self.elements.camera == "nvarguscamerasrc" else "device",
                                int(self.spec.value) if self.elements.camera == "nvarguscamerasrc"
                                else f"/dev/video{self.spec.value}")
            pipeline.add(camera)
            camera.link(video)
            self.linked, self.no_more_pads = {"video"}, True
            return pipeline
        audio = self._tail(audio_tail(self.sr))
        pipeline.add(audio)
        decode = self._make("uridecodebin")
        decode.set_property("uri", self.spec.value)
        if not self.elements.hardware_decode:
            decode.set_property("force-sw-decoders", True)
        tails = {"video": video, "audio": audio}
        decode.connect("pad-added", self._on_pad, tails)
        decode.connect("no-more-pads", self._on_no_more_pads)
        decode.connect("source-setup", self._on_source)
        pipeline.add(decode)
        allowed = GST_PROTOCOLS[self.spec.scheme]
        pipeline.connect("deep-element-added", self._check_protocols, allowed)
        return pipeline

    def _on_pad(self, element, pad, tails) -> None:
        caps = pad.get_current_caps() or pad.query_caps(None)
        kind = caps.get_structure(0).get_name().split("/", 1)[0] if caps and caps.get_size() else ""
        tail = tails.get(kind)
        if tail is None or kind in self.linked:
            return
        if pad.link(tail.get_static_pad("sink")) == self.Gst.PadLinkReturn.OK:
            self.linked.add(kind)

    def _on_no_more_pads(self, element) -> None:
        self.no_more_pads = True

    def _on_source(self, element, source) -> None:
        """Network sources give up on their own too (seconds; rtspsrc takes microseconds)."""
        names = {p.name for p in source.list_properties()}
        if "tcp-timeout" in names:
            source.set_property("tcp-timeout", int(self.timeout * 1e6))
        if "timeout" in names and source.get_factory().get_name() == "souphttpsrc":
            source.set_property("timeout", max(1, int(self.timeout)))

    def _check_protocols(self, pipeline, bin_, element, allowed: set[str]) -> None:
        """A source element for a protocol outside ``allowed`` never starts (its state is locked)
        and the stream fails: e.g. a ``file://`` fragment in an HTTP playlist."""
        if not isinstance(element, self.Gst.URIHandler) or element.get_uri_type() != self.Gst.URIType.SRC:
            return
        protocols = set(element.get_protocols() or ())
        if protocols and not protocols & allowed:
            element.set_locked_state(True)
            self.refused = (f"it asked for a {'/'.join(sorted(protocols))} source ({element.get_factory().get_name()}), "
                            f"which a {self.spec.scheme}:// source may not open")

    # -- probes (streaming threads) ---------------------------------------------------------------
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
            if ok_w and ok_h and 0 < width * height <= 8192 * 8192:
                size = self.clip.frame_size
                w, h, top, left = crop_plan(width, height, size, self.clip.frame_geometry)
                caps = f"video/x-raw,width={w},height={h},pixel-aspect-ratio=1/1"
                self.pipeline.get_by_name("avsc_size").set_property("caps", self.Gst.Caps.from_string(caps))
                crop = self.pipeline.get_by_name("avsc_crop")
                for side, value in (("top", top), ("left", left), ("bottom", h - size - top), ("right", w - size - left)):
                    crop.set_property(side, value)
        return self.Gst.PadProbeReturn.OK

    # -- running ---------------------------------------------------------------------------------
    def _sinks(self) -> dict:
        """The appsinks this source feeds: a tail no decoded pad linked to is not waited for."""
        sinks = {kind: sink for kind, sink in (("frame", self.video), ("audio", self.audio)) if sink is not None}
        if self.spec.kind == "uri" and self.no_more_pads:
            sinks = {k: s for k, s in sinks.items() if ("video" if k == "frame" else "audio") in self.linked}
        return sinks

    def events(self, poll: float = 0.01, patience: float = 0.5) -> Iterator[Event]:
        """Audio and frames in timestamp order: the earlier of the two sinks' next samples goes
        first; a sink with nothing for ``patience`` seconds (wall clock) is not waited for (a
        source without that modality, a stalled branch). The stream ends when every sink has
        ended: for ``gst:`` URIs, every sink a decoded track links to; in a described pipeline,
        a sink that never got data is given up :data:`UNFED_GRACE` seconds after another ended."""
        Gst = self.Gst
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            self._raise_bus_error("cannot start")
        bus, last = self.pipeline.get_bus(), 0.0
        pending: dict[str, Event] = {}
        fed: set[str] = set()
        waiting_since: dict[str, float] = {}
        last_data, first_end = time.monotonic(), None
        try:
            while True:
                sinks = self._sinks()
                now = time.monotonic()
                for kind, sink in sinks.items():
                    waiting_since.setdefault(kind, now)
                    if kind in pending:
                        continue
                    sample = sink.emit("try-pull-sample", int(poll * Gst.SECOND))
                    event = None if sample is None else self._event(kind, sample)
                    if event is not None:
                        pending[kind] = event
                        fed.add(kind)
                        last_data = time.monotonic()
                    elif sample is None and not sink.get_property("eos"):
                        continue
                    waiting_since[kind] = time.monotonic()
                if self.refused:
                    raise MediaError(f"{self.spec}: refused: {self.refused}")
                message = bus.pop_filtered(Gst.MessageType.ERROR)
                if message is not None:
                    self._raise_bus_error("stream broken", message)
                if not sinks:
                    raise MediaError(f"{self.spec}: neither an audio nor a video track could be decoded")
                ended = {k for k, s in sinks.items() if s.get_property("eos")}
                if ended and first_end is None:
                    first_end = time.monotonic()
                done = ended == set(sinks) or (self.spec.kind != "uri" and ended and ended >= fed
                                               and time.monotonic() - first_end > UNFED_GRACE)
                if done and not pending:
                    yield "end", np.zeros(0, np.float32), last
                    return
                if not pending and time.monotonic() - last_data > self.timeout:
                    what = "no data" if fed else "nothing arrived"
                    raise SourceTimeoutError(f"{self.spec}: {what} for {self.timeout:g} s")
                awaited = [k for k in sinks if k not in pending and k not in ended
                           and time.monotonic() - waiting_since[k] < patience]
                if pending and not awaited:
                    kind = min(pending, key=lambda k: pending[k][2])
                    event = pending.pop(kind)
                    last = max(last, event[2])
                    yield event
        finally:
            self.stop()

    def stop(self) -> None:
        """Set the pipeline to NULL; one that does not stop within :data:`STOP_SECONDS` (an element
        stuck in a read, e.g. rtspsrc on a server that never ends its headers) is abandoned."""
        pipeline = self.pipeline
        done = threading.Thread(target=lambda: pipeline.set_state(self.Gst.State.NULL), daemon=True,
                                name="avsc-gst-stop")
        done.start()
        done.join(STOP_SECONDS)
        if done.is_alive():
            log.warning("%s: the pipeline did not stop within %g s (a stuck element); abandoned", self.spec,
                        STOP_SECONDS)

    def _event(self, kind: str, sample) -> Event | None:
        buf = sample.get_buffer()
        if buf.pts == self.Gst.CLOCK_TIME_NONE:
            return None
        self._check_caps(kind, sample.get_caps())
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

    def _check_caps(self, kind: str, caps) -> None:
        """An appsink of a user's pipeline must get what the stream reads (mono F32LE at the model's
        rate; RGB frames), not e.g. S16 samples reinterpreted as floats."""
        s = caps.get_structure(0) if caps is not None and caps.get_size() else None
        fmt = s.get_string("format") if s is not None else None
        if kind == "audio":
            rate, channels = (s.get_int("rate")[1], s.get_int("channels")[1]) if s is not None else (0, 0)
            if (fmt, rate, channels) != ("F32LE", self.sr, 1):
                raise MediaError(f"{self.spec}: the {AUDIO_SINK} appsink gets {fmt} {channels}-channel audio at {rate} "
                                 f"Hz; it needs F32LE mono at {self.sr} Hz (end the branch in an element named "
                                 "'audio' and let the SDK add the conversion)")
        elif fmt != "RGB":
            raise MediaError(f"{self.spec}: the {VIDEO_SINK} appsink gets {fmt} frames; it needs RGB (end the branch "
                             "in an element named 'video' and let the SDK add the conversion)")

    def _raise_bus_error(self, what: str, message=None) -> None:
        if message is None:
            message = self.pipeline.get_bus().timed_pop_filtered(self.Gst.SECOND, self.Gst.MessageType.ERROR)
        detail = message.parse_error()[0].message if message is not None else "no detail"
        raise MediaError(f"{self.spec}: {what} ({detail})")


def gst_events(source: str, sr: int, clip, max_rate: float, decoder: str | None = None, retries: int = 5,
               backoff: float = 1.0, timeout: float = 10.0) -> Iterator[Event]:
    """A GStreamer source's events (``gst:...`` or ``gst-pipeline:...``); a network URI is rebuilt
    with back-off when it fails (timestamps continue across the outage, as for PyAV's network
    sources)."""
    spec = GstSpec.parse(source)
    shifted = lambda offset: ((k, d, offset + t) for k, d, t in  # noqa: E731
                              GstSource(spec, sr, clip, max_rate, decoder, timeout).events())
    yield from reconnecting(shifted, str(spec), sr, spec.network, spec.live, retries, backoff)
