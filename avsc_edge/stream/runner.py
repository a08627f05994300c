"""``Classifier.stream``: a source's events through a :class:`StreamState`, flushed at the end of a
file (or of a network resource that ends)."""
from __future__ import annotations

import os
from typing import Iterator

from ..errors import InputError
from ..media.container import check_file
from ..read_ahead import read_ahead
from .sources import device_events, file_events, is_gst, is_network, reconnecting_events
from .state import StreamConfig, StreamState


def source_events(source, sr: int, clip, config: StreamConfig, realtime: bool = False,
                  microphone: int | bool | None = None, decoder: str | None = None) -> tuple[Iterator, bool]:
    """(the timestamped events of ``source``, whether it is a local file: its windows start at its
    start) for any source a stream takes: a file path, a network URL, a camera index (or None)
    with an optional microphone (see :meth:`avsc_edge.Classifier.stream`), or a GStreamer source
    (``gst:<path, URI or camera:N>``, ``gst-pipeline:<trusted description>``: :mod:`.gst`). Frames
    come at most at twice the clip's frame rate, at the model's size where the source can scale."""
    rate = 2.0 * clip.num_frames / clip.seconds
    if source is None or isinstance(source, int):
        if source is None and not microphone:
            raise InputError("nothing to capture: pass a camera index and/or microphone=True")
        return device_events(source, microphone, sr, rate), False
    if is_gst(source):
        from .gst import gst_events

        return gst_events(source, sr, clip, rate, decoder, config.retries, config.backoff, config.timeout), False
    if is_network(str(source)):
        return reconnecting_events(str(source), sr, rate, realtime, config.retries, config.backoff, clip.frame_size,
                                   clip.frame_geometry, config.timeout), False
    path = check_file(os.fspath(source))    # names a FIFO or a device for what it is
    return file_events(path, sr, clip, realtime), True


def stream_source(runner, source, hop: float = 1.0, realtime: bool = False, config: StreamConfig | None = None,
                  microphone: int | bool | None = None, decoder: str | None = None) -> Iterator:
    """Predictions of ``runner`` (a :class:`~avsc_edge.runtime.runner.ModelRunner`) every hop over
    ``source`` (see :func:`source_events`)."""
    cfg = config or StreamConfig(hop=hop)
    info = runner.info
    sr, clip = info.feature_config.sr, info.clip_config
    events, is_file = source_events(source, sr, clip, cfg, realtime, microphone, decoder)
    state = StreamState(runner, sr, cfg, "microphone" if source is None else str(source))
    if is_file:
        state.start_at(0.0)
        if cfg.read_ahead:
            events = read_ahead(events, cfg.read_ahead, name="avsc-stream-file")
    end = None
    try:
        for kind, data, t in events:
            if kind == "end":
                end = t
                continue
            if kind == "reopened":
                state.source_reopened(t)
                continue
            yield from (state.add_audio(data, t) if kind == "audio" else state.add_frame(data, t))
    finally:
        events.close()
    yield from state.finish(end)
