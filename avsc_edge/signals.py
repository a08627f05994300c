"""Ctrl-C and SIGTERM held back over a few steps that must happen together (a file renamed into
place, a worker thread started and noted for joining)."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM arriving inside the block take effect when it ends, through the handlers
    in place before it (main thread only: Python runs signal handlers there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for s in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(s) is not None:   # None: installed outside Python, and not restorable
            previous[s] = signal.signal(s, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in caught:
            signal.raise_signal(s)
