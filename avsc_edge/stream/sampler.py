"""Which arriving frames a stream's windows can use, decided before a frame is copied or scaled.

Windows sample frames on a fixed grid of the stream clock (``(k + 1/2) * seconds / num_frames``
after its origin) and take, for each grid point, the frame nearest to it. At a steady frame rate
only the frames within about half an arrival interval of a grid point can be the nearest one, so a
30-fps camera feeding the ``edge`` preset (a grid point every 3.3 s) needs two frames in a hundred;
the others only move the stream clock (the stall logic needs to know the camera is alive).
"""
from __future__ import annotations

import math
import threading
from collections import deque

KEEP_WITHIN = 0.6   # arrival intervals around a grid point: the frames on both sides of it
RECENT_GAPS = 16    # the interval is the longest of the last this many. The nearest frame is within
                    # half the interval around a grid point, so it is kept whenever that interval is
                    # at most 1.2x the longest recent one (a smoothed mean missed it in up to 1 in 75
                    # 60-s streams at +-15 % jitter: benchmarks/frame_sampler.py)
RATE_KNOWN_AFTER = 4  # intervals seen before any frame is dropped


class FrameSampler:
    """``wants(t, origin)`` says whether the frame at ``t`` may be the nearest to a grid point.

    Kept: frames within ``KEEP_WITHIN`` arrival intervals (the longest of the last ``RECENT_GAPS``)
    of a grid point; the first frame after a grid point that no kept frame covered (the rate fell,
    a frame was lost); every frame while the grid origin or the rate (``RATE_KNOWN_AFTER``
    intervals) is not known yet, or when frames come out of order. Keeping more than needed is
    always safe: a window takes the nearest frame it holds.
    Thread-safe: the push API asks from the producer's thread, before copying the frame."""

    def __init__(self, seg: float) -> None:
        self.seg = seg
        self._lock = threading.Lock()
        self._last: float | None = None
        self._gaps: deque[float] = deque(maxlen=RECENT_GAPS)
        self._covered = -math.inf           # the latest grid point a kept frame is near (or after)

    def wants(self, t: float, origin: float | None) -> bool:
        with self._lock:
            previous, self._last = self._last, t
            if previous is None or t <= previous:
                return True
            self._gaps.append(t - previous)
            if origin is None or len(self._gaps) < RATE_KNOWN_AFTER:
                return True
            position = (t - origin) / self.seg - 0.5          # in grid steps from the first grid point
            nearest = origin + (round(position) + 0.5) * self.seg
            if abs(t - nearest) <= KEEP_WITHIN * max(self._gaps):
                self._covered = max(self._covered, nearest)
                return True
            passed = origin + (math.floor(position) + 0.5) * self.seg
            if passed >= origin and passed > self._covered + 1e-9:
                self._covered = passed
                return True
            return False
