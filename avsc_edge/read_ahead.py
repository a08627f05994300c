"""Producers on a thread of their own, feeding a bounded queue, that stop when the consumer does.

Decoding (PyAV, soxr, frame scaling) and inference (ONNX Runtime, the log-mel kernel: both release
the GIL) then use both cores of a small machine instead of taking turns
(``benchmarks/bench_stream.py --file``)."""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator, TypeVar

from .signals import signals_held

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


def start_worker(target: Callable, into: list[threading.Thread], name: str, args: tuple = ()) -> threading.Thread:
    """Start ``target(*args)`` on a daemon thread and append the thread to ``into`` (for the caller to
    join) as one step: a Ctrl-C or SIGTERM landing inside ``Thread.start`` would otherwise leave a
    running thread nobody joins, and a thread still inside native code when the interpreter exits
    aborts the process (``terminate called without an active exception``)."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    with signals_held():
        thread.start()
        into.append(thread)
    return thread


def join_workers(threads: list[threading.Thread], timeout: float = 10.0) -> None:
    """Wait (up to ``timeout`` each) for workers told to stop to reach their next stop check."""
    for thread in threads:
        thread.join(timeout=timeout)


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

    workers: list[threading.Thread] = []
    try:
        start_worker(produce, workers, name)
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        join_workers(workers)
