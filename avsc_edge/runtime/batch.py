"""Many files at once: expand paths/globs/directories (a TAU dataset too), decode on worker threads
while the backend runs, and write results as a table, JSON or the DCASE submission CSV."""
from __future__ import annotations

import csv
import glob
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import AVSCError, InputError
from .prediction import Prediction

MEDIA_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".wav", ".flac", ".mp3", ".ogg", ".m4a"}


def expand_inputs(items: Iterable[str]) -> list[tuple[str | None, str | None]]:
    """(audio, video) pairs. A file stands for both streams; a glob or a folder expands to its media
    files (video containers preferred over same-stem audio files: the TAU layout's pairs are kept
    as pairs); a TAU dataset root expands to its ``fold1_test`` (else ``meta.csv``) clips."""
    from ..data import TauDataset

    pairs: list[tuple[str | None, str | None]] = []
    for item in items:
        p = Path(item)
        if p.is_dir() and (p / "meta.csv").is_file():
            ds = TauDataset(p)
            split = "test" if ds.split_file("test").is_file() else "all"
            pairs += [(str(c.audio), str(c.video)) for c in ds.clips(split)]
            continue
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix.lower() in MEDIA_SUFFIXES)
        elif any(ch in item for ch in "*?["):
            files = sorted(Path(f) for f in glob.glob(item, recursive=True))
        else:
            files = [p]
        if not files:
            raise InputError(f"{item}: no media files found")
        pairs += [(str(f), str(f)) for f in files]
    return pairs


def predict_many(clf, pairs: list[tuple[str | None, str | None]], workers: int = 2, progress: bool = True,
                 keep_going: bool = True) -> Iterator[tuple[str, Prediction | AVSCError]]:
    """Yield (name, prediction or error) in input order; decoding and features run on ``workers``
    threads ahead of the backend. With ``keep_going`` a bad file yields its error instead of raising."""
    from tqdm import tqdm

    from .inputs import from_files

    info = clf.info

    def prepare(pair):
        audio, video = pair
        try:
            return from_files(audio, video, info.feature_config, info.clip_config, threads=1)
        except AVSCError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(prepare, pair) for pair in pairs]
        for pair, fut in tqdm(zip(pairs, futures), total=len(pairs), desc="predict", unit="clip", disable=not progress):
            name = pair[1] or pair[0]
            inputs = fut.result()
            if isinstance(inputs, AVSCError):
                if not keep_going:
                    raise inputs
                yield name, inputs
                continue
            try:
                yield name, clf.classify_inputs(inputs, name)
            except AVSCError as exc:
                if not keep_going:
                    raise
                yield name, exc


def dcase_csv(results: list[tuple[str, Prediction]], labels: tuple[str, ...]) -> str:
    """DCASE 2021 Task 1B submission format: tab-separated filename, scene_label, one column per class."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(["filename", "scene_label", *labels])
    for name, p in results:
        w.writerow([os.path.basename(name), p.label, *(f"{p.scores[l]:.6f}" for l in labels)])
    return buf.getvalue()
