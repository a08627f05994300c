"""Producers on a thread of their own, feeding a bounded queue, that stop when the consumer does.

Decoding (PyAV, soxr, frame scaling) and inference (ONNX Runtime, the log-mel kernel: both release
the GIL) then use both cores of a small machine instead of taking turns
(``benchmarks/bench_stream.py --file``)."""
from __future__ import annotations

import queue
import threading
from typing import Iterator, TypeVar

T = TypeVar("T")
_END = object()


def put_until_stopped(q: queue.Queue, item, stop: threading.Event, poll: float = 0.1) -> bool:
    """Put ``item`` on the bounded ``q``, waiting while it is full; False (and not put) once
    ``stop`` is set."""
    while not stop.is_set():
        try:
            q.put(item, timeout=poll)
            return True
        except queue.Full:
            continue
    return False


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(items: Iterator[T], depth: int = 64, name: str = "avsc-read-ahead") -> Iterator[T]:
    """``items`` as they were, produced on a worker thread up to ``depth`` ahead of the consumer.
    An exception raised by ``items`` is raised here, as it was, after the items before it. Closing
    this generator (or leaving a loop over it early) stops the worker at its next item and closes
    ``items`` on the worker's thread; it waits for the worker (a thread left inside native code at
    interpreter exit aborts the process)."""
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not put_until_stopped(q, item, stop):
                    break
            last = _END
        except BaseException as exc:   # surfaces in the consumer, typed or not
            last = _Failure(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        put_until_stopped(q, last, stop)

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join(timeout=10)
