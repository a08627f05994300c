"""Many recordings through one :class:`~avsc_edge.runtime.runner.ModelRunner`: each recording is
decoded on a worker thread into a bounded queue of windows while the backend runs; windows of
consecutive recordings share batches (the runner's batching rule). Memory is bounded whatever the
number of inputs: at most ``workers`` recordings are decoded ahead."""
from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterator

from ..errors import AVSCError, MediaError
from ..read_ahead import join_workers, put_until_stopped, start_worker
from .inputs import Pair, pair_name
from .prediction import Prediction, WindowAccumulator
from .runner import joins_batch

_END = object()


@dataclass
class _Job:
    """One recording in flight: its windows arrive through a bounded queue from a worker."""

    index: int
    pair: Pair
    windows: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=16))
    acc: WindowAccumulator | None = None
    error: BaseException | None = None
    reading_done: bool = False
    in_batch: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    t0: float = 0.0


def _produce(job: _Job, open_recording: Callable, stop: threading.Event) -> None:
    """Worker: decode one recording's windows into its queue (or its error)."""
    try:
        rec = open_recording(job.pair)
        for w in rec.windows():
            if not put_until_stopped(job.windows, w, stop):
                return
        job.timings.update(rec.timings)
        job.notes.extend(rec.notes)
    except BaseException as exc:  # an unexpected failure surfaces in the consumer, typed or not
        job.error = exc
    put_until_stopped(job.windows, _END, stop)


class ManyRecordings:
    """Yield (name, prediction or error) in input order; with ``keep_going`` a bad input yields its
    error (an :class:`~avsc_edge.errors.AVSCError`) instead of raising."""

    def __init__(self, runner, open_recording: Callable, check: Callable, workers: int, keep_going: bool) -> None:
        self.runner, self.open_recording, self.check = runner, open_recording, check
        self.workers, self.keep_going = max(1, workers), keep_going
        self.stop = threading.Event()
        self.todo: deque[_Job] = deque()
        self.active: deque[_Job] = deque()     # started, in input order
        self.batch: list[tuple[_Job, object]] = []
        self.threads: list[threading.Thread] = []

    def run(self, pairs: list[Pair], progress: bool = False) -> Iterator[tuple[str, Prediction | AVSCError]]:
        from tqdm import tqdm

        self.todo.extend(_Job(i, p) for i, p in enumerate(pairs))
        bar = tqdm(total=len(pairs), desc="predict", unit="clip", disable=not progress)
        try:
            self._start_more()
            while self.active:
                reader = next((j for j in self.active if not j.reading_done), None)
                if reader is None:
                    self._flush()
                else:
                    item = reader.windows.get()
                    if item is _END:
                        reader.reading_done = True
                        self._start_more()
                    else:
                        self._take(reader, item)
                while self.active and self.active[0].reading_done and self.active[0].in_batch == 0:
                    done = self.active.popleft()
                    result = self._finish(done)
                    bar.update(1)
                    yield pair_name(done.pair), result
        finally:
            self.stop.set()
            # a worker left inside native code (log-mel, decoder) while the interpreter shuts down
            # aborts the process (std::terminate): let each reach its next stop check first
            join_workers(self.threads)
            bar.close()

    def _start_more(self) -> None:
        while self.todo and sum(not j.reading_done for j in self.active) < self.workers:
            job = self.todo.popleft()
            job.t0 = time.perf_counter()
            self.threads = [t for t in self.threads if t.is_alive()]
            start_worker(_produce, self.threads, f"avsc-decode-{job.index}", (job, self.open_recording, self.stop))
            self.active.append(job)

    def _take(self, job: _Job, window) -> None:
        if job.error is not None:
            return  # a failed recording's remaining windows are drained, not classified
        try:
            self.check(window.modalities, pair_name(job.pair))
        except AVSCError as exc:
            job.error = exc
            return
        if job.acc is None:
            job.acc = WindowAccumulator(self.runner.info)
        if not joins_batch([w for _, w in self.batch], window.modalities, self.runner.batch_size):
            self._flush()
        self.batch.append((job, window))
        job.in_batch += 1

    def _flush(self) -> None:
        from ..preprocess.windows import ModelInputs

        if not self.batch:
            return
        inputs = ModelInputs.stack([w for _, w in self.batch])
        try:
            out, seconds = self.runner.run_timed(inputs)
        except AVSCError as exc:
            for job, _ in self.batch:
                job.error = job.error or exc
        else:
            share = seconds * 1e3 / len(self.batch)
            for i, (job, w) in enumerate(self.batch):
                if job.error is None:
                    job.acc.add({k: (v[i:i + 1] if k != "modalities" else v) for k, v in out.items()}, [w.start])
                    job.timings["inference_ms"] = job.timings.get("inference_ms", 0.0) + share
        for job, _ in self.batch:
            job.in_batch -= 1
        self.batch.clear()

    def _finish(self, job: _Job) -> Prediction | AVSCError:
        if job.error is None and job.acc is None:
            job.error = MediaError(f"{pair_name(job.pair)}: no window could be read")
        if job.error is not None:
            if not self.keep_going or not isinstance(job.error, AVSCError):
                raise job.error
            return job.error
        timings = {**job.timings, "total_ms": (time.perf_counter() - job.t0) * 1e3}
        return self.runner.result(job.acc, timings, pair_name(job.pair), job.notes)
