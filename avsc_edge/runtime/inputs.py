"""What a user hands ``predict_many`` and the CLI: paths, globs, folders and TAU dataset roots
expanded into (audio, video) recordings; and the DCASE submission CSV the results are written to."""
from __future__ import annotations

import csv
import glob
import os
from pathlib import Path
from typing import Iterable, TextIO

from ..errors import InputError
from .prediction import Prediction

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
