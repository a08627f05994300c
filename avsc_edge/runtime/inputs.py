"""Many recordings at once: expand paths/globs/folders (a TAU dataset too), decode on worker threads
while the backend runs batches of windows, and write results as they come.

Memory is bounded whatever the number of inputs: at most ``workers`` recordings are decoded ahead,
each through a bounded queue of windows; windows of consecutive recordings are batched together.
"""
from __future__ import annotations

import csv
import glob
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, TextIO

from ..errors import AVSCError, InputError
from .prediction import Prediction, WindowAccumulator, model_notes

MEDIA_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus"}
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus"}
Pair = tuple[str | None, str | None]   # (audio file, video file); one file for both is a container


def pair_files(files: list[Path]) -> list[Pair]:
    """Media files -> (audio, video) pairs: a video container and an audio file with the same stem
    in the same folder are one recording (the TAU layout keeps them in sibling ``audio/`` and
    ``video/`` folders: use the dataset root for those); any other file stands for both streams."""
    by_key: dict[tuple[Path, str], list[Path]] = {}
    for f in files:
        by_key.setdefault((f.parent, f.stem), []).append(f)
    pairs: list[Pair] = []
    for f in files:
        group = by_key[(f.parent, f.stem)]
        audio = [g for g in group if g.suffix.lower() in AUDIO_SUFFIXES]
        video = [g for g in group if g.suffix.lower() not in AUDIO_SUFFIXES]
        if len(audio) == 1 and len(video) == 1:
            if f == video[0]:
                pairs.append((str(audio[0]), str(video[0])))
            continue
        pairs.append((str(f), str(f)))
    return pairs


def expand_inputs(items: Iterable[str]) -> list[Pair]:
    """(audio, video) pairs from files, globs, folders (searched recursively, same-stem audio and
    video paired) and TAU dataset roots (their ``fold1_test`` clips, else ``meta.csv``)."""
    from ..data import TauDataset

    pairs: list[Pair] = []
    for item in items:
        p = Path(item)
        if p.is_dir() and (p / "meta.csv").is_file():
            ds = TauDataset(p)
            split = "test" if ds.split_file("test").is_file() else "all"
            pairs += [(str(c.audio), str(c.video)) for c in ds.clips(split)]
            continue
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in MEDIA_SUFFIXES)
        elif any(ch in item for ch in "*?["):
            files = sorted(Path(f) for f in glob.glob(item, recursive=True) if Path(f).is_file())
        else:
            files = [p]
        if not files:
            raise InputError(f"{item}: no media files found")
        pairs += pair_files(files) if len(files) > 1 else [(str(files[0]), str(files[0]))]
    return pairs


def pair_name(pair: Pair) -> str:
    return str(pair[1] or pair[0])


_END = object()


@dataclass
class _Job:
    """One recording in flight: its windows arrive through a bounded queue from a worker."""

    index: int
    pair: Pair
    windows: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=16))
    acc: WindowAccumulator | None = None
    error: AVSCError | None = None
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
            while not stop.is_set():
                try:
                    job.windows.put(w, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        job.timings.update(rec.timings)
        job.notes.extend(rec.notes)
        job.windows.put(_END)
    except AVSCError as exc:
        job.error = exc
        job.windows.put(_END)
    except BaseException as exc:  # an unexpected failure surfaces in the consumer, typed or not
        job.error = exc  # type: ignore[assignment]
        job.windows.put(_END)


def predict_many(clf, pairs: list[Pair], workers: int = 2, progress: bool = True, keep_going: bool = True,
                 batch_size: int | None = None) -> Iterator[tuple[str, Prediction | AVSCError]]:
    """Yield (name, prediction or error) in input order. Decoding runs on ``workers`` threads
    ahead of the backend; windows of consecutive recordings share batches of up to
    ``batch_size`` (default: the classifier's). With ``keep_going`` a bad input yields its error
    instead of raising."""
    from tqdm import tqdm

    from ..windows import ModelInputs

    size = batch_size or clf.batch_size
    stop = threading.Event()
    todo = deque(_Job(i, p) for i, p in enumerate(pairs))
    active: deque[_Job] = deque()     # started, in input order
    batch: list[tuple[_Job, object]] = []

    def start_more() -> None:
        while todo and sum(not j.reading_done for j in active) < max(1, workers):
            job = todo.popleft()
            job.t0 = time.perf_counter()
            threading.Thread(target=_produce, args=(job, clf.open_recording, stop), daemon=True,
                             name=f"avsc-decode-{job.index}").start()
            active.append(job)

    def flush() -> None:
        if not batch:
            return
        inputs = ModelInputs.stack([w for _, w in batch])
        try:
            out, seconds = clf.run_batch(inputs)
        except AVSCError as exc:
            for job, _ in batch:
                job.error = job.error or exc
        else:
            share = seconds * 1e3 / len(batch)
            for i, (job, w) in enumerate(batch):
                if job.error is None:
                    job.acc.add({k: (v[i:i + 1] if k != "modalities" else v) for k, v in out.items()}, [w.start])
                    job.timings["inference_ms"] = job.timings.get("inference_ms", 0.0) + share
        for job, _ in batch:
            job.in_batch -= 1
        batch.clear()

    def take(job: _Job, window) -> None:
        if job.error is not None:
            return  # a failed recording's remaining windows are drained, not classified
        try:
            clf.check_modalities(window.modalities, pair_name(job.pair))
        except AVSCError as exc:
            job.error = exc
            return
        if job.acc is None:
            job.acc = WindowAccumulator(clf.info)
        if batch and (len(batch) >= size or window.modalities != batch[0][1].modalities):
            flush()
        batch.append((job, window))
        job.in_batch += 1

    def finish(job: _Job) -> Prediction | AVSCError:
        if job.error is None and job.acc is None:
            from ..errors import MediaError

            job.error = MediaError(f"{pair_name(job.pair)}: no window could be read")
        if job.error is not None:
            if not keep_going or not isinstance(job.error, AVSCError):
                raise job.error
            return job.error
        timings = dict(job.timings)
        timings["total_ms"] = (time.perf_counter() - job.t0) * 1e3
        return job.acc.result(timings, pair_name(job.pair), job.notes + model_notes(clf.info), clf.engine)

    bar = tqdm(total=len(pairs), desc="predict", unit="clip", disable=not progress)
    try:
        start_more()
        while active:
            reader = next((j for j in active if not j.reading_done), None)
            if reader is None:
                flush()
            else:
                item = reader.windows.get()
                if item is _END:
                    reader.reading_done = True
                    start_more()
                else:
                    take(reader, item)
            while active and active[0].reading_done and active[0].in_batch == 0:
                done = active.popleft()
                result = finish(done)
                bar.update(1)
                yield pair_name(done.pair), result
    finally:
        stop.set()
        bar.close()


CSV_DELIMITER = "\t"


class DcaseCsvWriter:
    """DCASE 2021 Task 1B submission rows, written as they come: tab-separated filename,
    scene_label, one probability column per class."""

    def __init__(self, stream: TextIO, labels: tuple[str, ...]) -> None:
        self.w = csv.writer(stream, delimiter=CSV_DELIMITER, lineterminator="\n")
        self.labels, self.stream = labels, stream
        self.w.writerow(["filename", "scene_label", *labels])

    def write(self, name: str, p: Prediction) -> None:
        self.w.writerow([os.path.basename(name), p.label, *(f"{p.scores[lab]:.6f}" for lab in self.labels)])
        self.stream.flush()
