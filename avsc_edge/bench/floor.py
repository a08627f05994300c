"""The floor of a prediction: the least work any pipeline must do to classify a file with a model's
frame policy, timed with PyAV and nothing else, on one thread: open the container once, demux every
packet once, decode every audio packet, and decode exactly the video packets the model's frames
need (the keyframe nearest each sample time within the tolerance; else the I- and P-frames from
the keyframe before it up to that time, which the keyframe policy's fallback decodes too), without
the deblocking filter, as the policy decodes them. No
resampling, no scaling, no log-mel, no model. ``avsc-edge bench`` prints it beside each row, so
"how far from the limit" is a number.
"""
from __future__ import annotations

import os
import time

import numpy as np


def needed_frames(keys: list[float], wanted: np.ndarray, tolerance: float) -> list[tuple[str, float]]:
    """For each wanted time: ``("key", keyframe time)`` or ``("refs", time)`` (decode forward)."""
    out = []
    keys_arr = np.asarray(keys)
    for t in wanted:
        if keys_arr.size:
            k = keys_arr[np.abs(keys_arr - t).argmin()]
            if abs(k - t) <= tolerance:
                out.append(("key", float(k)))
                continue
        out.append(("refs", float(t)))
    return out


def floor_ms(path: str | os.PathLike, clip, seconds: float | None = None) -> dict[str, float]:
    """Milliseconds of each step of the floor for ``path`` under ``clip`` (a ClipConfig)."""
    from ..media.container import open_input
    from ..media.video import window_frame_times
    from ..preprocess.windows import num_windows

    t0 = time.perf_counter()
    c = open_input(path)
    t_open = time.perf_counter()
    audio = c.streams.audio[0] if c.streams.audio else None
    video = c.streams.video[0] if c.streams.video else None
    streams = [s for s in (audio, video) if s is not None]
    packets, keys, decode_audio = [], {}, 0.0
    for packet in c.demux(*streams):
        if packet.stream is audio:
            t1 = time.perf_counter()
            packet.decode()
            decode_audio += time.perf_counter() - t1
        elif packet.pts is not None and packet.size:
            packets.append(packet)
            if packet.is_keyframe:
                keys[float(packet.pts * packet.time_base)] = len(packets) - 1
    t_demux = time.perf_counter()
    decode_video = 0.0
    if video is not None and packets:
        duration = seconds or float(packets[-1].pts * packets[-1].time_base)
        wanted = np.concatenate([window_frame_times(i * clip.seconds, clip.seconds, clip.num_frames)
                                 for i in range(num_windows(duration, clip))])
        plan = needed_frames(sorted(keys), np.minimum(wanted, duration), clip.keyframe_tolerance)
        t1 = time.perf_counter()
        cc = video.codec_context
        cc.options = {"skip_loop_filter": "all"}     # as the keyframe policy decodes (media.video)
        runs: dict[float, float] = {}    # keyframe -> the last time decoded forward from it
        for t in (t for kind, t in plan if kind == "refs"):
            start = max([k for k in keys if k <= t] or [min(keys)])
            runs[start] = max(runs.get(start, t), t)
        for t in sorted({t for kind, t in plan if kind == "key"} - set(runs)):   # a run decodes its keyframe
            cc.decode(packets[keys[t]])
            cc.decode(None)
            cc.flush_buffers()
        cc.skip_frame = "BIDIR" if cc.name in ("h264", "mpeg2video", "mpeg1video", "mpeg4") else "NONREF"
        for start, end in sorted(runs.items()):
            for p in packets[keys[start]:]:
                if float(p.pts * p.time_base) > end + 0.5:
                    break
                cc.decode(p)
            cc.decode(None)
            cc.flush_buffers()
        cc.skip_frame = "DEFAULT"
        decode_video = time.perf_counter() - t1
    c.close()
    total = time.perf_counter() - t0
    return {"open_ms": (t_open - t0) * 1e3, "demux_ms": (t_demux - t_open - decode_audio) * 1e3,
            "audio_decode_ms": decode_audio * 1e3, "video_decode_ms": decode_video * 1e3, "total_ms": total * 1e3}
