"""``Classifier.stream``: a source's events through a :class:`StreamState`, flushed at the end of a
file (or of a network resource that ends)."""
from __future__ import annotations

import os
from typing import Iterator

from ..errors import InputError
from ..media.container import check_file
from .sources import device_events, file_events, is_gst, is_network, reconnecting_events
from .state import StreamConfig, StreamState


def stream_source(runner, source, hop: float = 1.0, realtime: bool = False, config: StreamConfig | None = None,
                  microphone: int | bool | None = None, decoder: str | None = None) -> Iterator:
    """Predictions of ``runner`` (a :class:`~avsc_edge.runtime.runner.ModelRunner`) every hop over
    ``source``: a file path, a network URL, a camera index (or None) with an optional microphone
    (see :meth:`avsc_edge.Classifier.stream`), or a GStreamer source (``gst:<path, URI or camera:N>``,
    ``gst-pipeline:<trusted description>``: :mod:`.gst`)."""
    cfg = config or StreamConfig(hop=hop)
    info = runner.info
    sr, clip = info.feature_config.sr, info.clip_config
    rate = 2.0 * clip.num_frames / clip.seconds
    live = source is None or isinstance(source, int)
    if live and source is None and not microphone:
        raise InputError("nothing to capture: pass a camera index and/or microphone=True")
    state = StreamState(runner, sr, cfg, "microphone" if source is None else str(source))
    if live:
        events = device_events(source, microphone, sr, rate)
    elif is_gst(source):
        from .gst import gst_events

        events = gst_events(source, sr, clip, rate, decoder, cfg.retries, cfg.backoff, cfg.timeout)
    elif is_network(str(source)):
        events = reconnecting_events(str(source), sr, rate, realtime, cfg.retries, cfg.backoff, clip.frame_size,
                                     clip.frame_geometry, cfg.timeout)
    else:
        path = check_file(os.fspath(source))    # names a FIFO or a device for what it is
        events = file_events(path, sr, clip, realtime)
        state.start_at(0.0)
    end = None
    for kind, data, t in events:
        if kind == "end":
            end = t
            continue
        if kind == "reopened":
            state.source_reopened(t)
            continue
        yield from (state.add_audio(data, t) if kind == "audio" else state.add_frame(data, t))
    yield from state.finish(end)
