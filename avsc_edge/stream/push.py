"""The push API for robotics stacks: producers on any thread (a ROS 2 callback, a GStreamer
appsink) push timestamped audio chunks and frames; one worker thread classifies; predictions come
out through an iterator and/or a callback.

Bounded memory: the input queue holds at most ``max_queue`` items and the output queue at most
``max_predictions``; when either is full the *oldest* item is dropped and counted in ``stats``
(``dropped_inputs``, ``dropped_predictions``), so a slow consumer never blocks a producer.
"""
from __future__ import annotations

import os
import queue
import threading
from collections import deque
from typing import Callable, Iterator

import numpy as np

from ..errors import AVSCError, InputError
from ..runtime.prediction import Prediction
from .state import StreamConfig, StreamState, check_timestamp, model_sized

_CLOSE = object()


class _DropOldestQueue:
    """A bounded FIFO whose ``put`` never blocks: when full, the oldest item is dropped."""

    def __init__(self, maxsize: int) -> None:
        self.items: deque = deque()
        self.maxsize = maxsize
        self.cond = threading.Condition()
        self.dropped = 0

    def put(self, item, droppable: bool = True) -> None:
        with self.cond:
            if droppable and len(self.items) >= self.maxsize:
                self.items.popleft()
                self.dropped += 1
            self.items.append(item)
            self.cond.notify()

    def get(self, timeout: float | None = None):
        with self.cond:
            if not self.cond.wait_for(lambda: self.items, timeout):
                raise queue.Empty
            return self.items.popleft()


class StreamClassifier:
    """Rolling-window classification of pushed audio and frames.

    >>> sc = StreamClassifier("model.int8.onnx", sample_rate=16000, hop=1.0)     # doctest: +SKIP
    >>> sc.push_audio(chunk, timestamp=t); sc.push_frame(rgb, timestamp=t)      # any thread
    >>> for p in sc: print(p.timestamp, p.label, p.modalities)                  # or on_prediction=

    ``model``: an artifact path (any the :class:`~avsc_edge.Classifier` loads: ``.safetensors``,
    ``.onnx`` FP32/INT8/FP16, ``.plan``) or a ``Classifier``. Timestamps are seconds on the
    producer's clock (e.g. ROS time); audio chunk timestamps are the time of their first sample
    (``None``: right after the previous chunk). :meth:`close` processes what was pushed and flushes
    the last window.
    """

    def __init__(self, model, sample_rate: int, hop: float = 1.0,
                 config: StreamConfig | None = None, on_prediction: Callable[[Prediction], None] | None = None,
                 max_queue: int = 256, max_predictions: int = 64, threads: int | None = None,
                 source: str | None = None, device: str = "cpu") -> None:
        if isinstance(model, (str, os.PathLike)):
            from ..runtime.loader import open_backend

            model = open_backend(model, device, threads)   # StreamState runs it through a ModelRunner
        self.config = config or StreamConfig(hop=hop)
        self.state = StreamState(model, sample_rate, self.config, source)
        self.on_prediction = on_prediction
        self._inputs = _DropOldestQueue(max_queue)
        self._outputs = _DropOldestQueue(max_predictions)
        self._lock = threading.Lock()
        self._closed = False
        self.error: BaseException | None = None
        self._worker = threading.Thread(target=self._run, name="avsc-stream", daemon=True)
        self._worker.start()

    @property
    def info(self):
        return self.state.info

    @property
    def pending(self) -> int:
        """Inputs queued and not yet processed (a producer that must not lose any can wait on it)."""
        with self._inputs.cond:
            return len(self._inputs.items)

    @property
    def stats(self) -> dict[str, int]:
        return {**self.state.stats, "dropped_inputs": self._inputs.dropped, "dropped_predictions": self._outputs.dropped}

    # -- producers -----------------------------------------------------------------------------
    def push_audio(self, samples: np.ndarray, timestamp: float | None = None) -> None:
        arr = np.asarray(samples)
        if arr.ndim not in (1, 2) or arr.shape[-1] == 0 or arr.dtype.kind != "f":
            raise InputError(f"audio chunk must be float [samples] or [channels, samples], got {arr.shape} {arr.dtype}")
        self._put(("audio", arr.copy(), None if timestamp is None else check_timestamp(timestamp)))

    def push_frame(self, rgb: np.ndarray, timestamp: float) -> None:
        arr = np.asarray(rgb)
        if arr.ndim != 3 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
            raise InputError(f"frame must be RGB uint8 [H, W, 3], got {arr.shape} {arr.dtype}")
        t = check_timestamp(timestamp)
        if not self.state.sampler.wants(t, self.state.first_time):   # no window will use it: not copied
            self._put(("tick", None, t))
            return
        small = model_sized(arr, self.state.clip)   # queued at the model's size, whatever the camera's
        self._put(("frame", small.copy() if np.shares_memory(small, arr) else small, t))

    def reset(self) -> None:
        """Forget the stream so far (e.g. after the robot moved to another place)."""
        self._put(("reset", None, None))

    def _put(self, item) -> None:
        with self._lock:
            if self._closed:
                raise InputError("the stream is closed")
            self._inputs.put(item)

    # -- worker ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._inputs.get()
            if item is _CLOSE:
                self._deliver(self._safely(self.state.finish))
                break
            kind, data, ts = item
            step = {"audio": lambda: self.state.add_audio(data, ts),
                    "frame": lambda: self.state.add_frame(data, ts, sampled=True),
                    "tick": lambda: self.state.frame_seen(ts), "reset": lambda: self.state.reset() or []}[kind]
            preds = self._safely(step)
            if preds is None:
                break
            self._deliver(preds)
        self._outputs.put(_CLOSE, droppable=False)

    def _safely(self, step) -> list | None:
        """Run one step; bad input is remembered and the stream goes on ([]), an unexpected failure
        ends it visibly (None)."""
        try:
            return step()
        except AVSCError as exc:
            self.error = exc
            return []
        except BaseException as exc:
            self.error = exc
            return None

    def _deliver(self, preds: list | None) -> None:
        for p in preds or []:
            self._outputs.put(p)
            if self.on_prediction is not None:
                self.on_prediction(p)

    # -- consumers ------------------------------------------------------------------------------
    def close(self, timeout: float | None = None) -> None:
        """Stop accepting input; pending input is still processed."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._inputs.put(_CLOSE, droppable=False)
        self._worker.join(timeout)

    def __iter__(self) -> Iterator[Prediction]:
        return self

    def __next__(self) -> Prediction:
        item = self._outputs.get()
        if item is _CLOSE:
            self._outputs.put(_CLOSE, droppable=False)  # later iterations end too
            if self.error is not None and not isinstance(self.error, AVSCError):
                raise self.error
            raise StopIteration
        return item

    def get(self, timeout: float | None = None) -> Prediction | None:
        """The next prediction, or None after ``timeout`` seconds / when the stream has ended."""
        try:
            item = self._outputs.get(timeout)
        except queue.Empty:
            return None
        if item is _CLOSE:
            self._outputs.put(_CLOSE, droppable=False)
            return None
        return item

    def __enter__(self) -> "StreamClassifier":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
