"""Timing helpers: warm-up first, then the median of repeats (seconds)."""
from __future__ import annotations

import statistics
import time
from typing import Callable


def median_time(fn: Callable[[], object], repeats: int = 20, warmup: int = 3, min_seconds: float = 0.0,
                settle: float = 0.3) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs (at least ``min_seconds`` in total).

    Sleeps ``settle`` seconds first: OpenMP pools of a previous measurement (torch ships its own)
    keep spinning for a while after their last task and would steal cores from this one."""
    time.sleep(settle)
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 10 * repeats:
            break
    return statistics.median(times)


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"
