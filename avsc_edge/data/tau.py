"""Reader for the TAU Urban Audio-Visual Scenes 2021 layout (DCASE 2021 Task 1B), as distributed:

```
ROOT/audio/*.wav   ROOT/video/*.mp4   ROOT/meta.csv
ROOT/evaluation_setup/fold1_{train,evaluate,test}.csv     (tab-separated, with a header row)
```
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError
from ..labels import SCENES

SPLITS = ("train", "evaluate", "test")


@dataclass(frozen=True)
class Clip:
    """One audio-visual recording: a WAV and an MP4 with the same stem."""

    audio: Path
    video: Path
    label: str | None
    identifier: str | None = None

    @property
    def stem(self) -> str:
        return self.audio.stem


class TauDataset:
    """A TAU-layout dataset on disk. ``clips(split)`` lists the clips of ``train``, ``evaluate``,
    ``test`` (unlabelled) or ``all`` (``meta.csv``)."""

    def __init__(self, root: str | os.PathLike, labels: tuple[str, ...] = SCENES) -> None:
        self.root = Path(root)
        self.labels = labels
        if self.root.exists() and not self.root.is_dir():
            raise DatasetError(f"{self.root}: a file, not a dataset folder (a TAU-layout tree with meta.csv). To "
                               f"classify it: `avsc-edge predict MODEL {root}`; to make a dataset: "
                               "`avsc-edge synth --out DIR`")
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: dataset folder not found; create one with `avsc-edge synth --out {root}`")
        if not (self.root / "meta.csv").is_file():
            raise DatasetError(f"{self.root}: no meta.csv; is this the root of a TAU Urban Audio-Visual Scenes 2021 tree?")
        self._identifiers = self._meta_identifiers()

    def split_file(self, split: str) -> Path:
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; choose one of {SPLITS} or 'all'")
        return self.root / "evaluation_setup" / f"fold1_{split}.csv"

    def clips(self, split: str = "all") -> list[Clip]:
        if split == "all":
            return self._read(self.root / "meta.csv", True)
        path = self.split_file(split)
        if not path.is_file():
            raise DatasetError(f"{path}: split file missing")
        return self._read(path, split != "test")

    def ground_truth(self) -> dict | None:
        """The synthetic generator's per-clip events/objects sidecar, or None for a real TAU tree."""
        from .synth import GROUND_TRUTH_FILE

        path = self.root / GROUND_TRUTH_FILE
        return json.loads(path.read_text())["clips"] if path.is_file() else None

    @staticmethod
    def _rows(path: Path) -> list[list[str]]:
        with path.open(newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))
        if not rows:
            raise DatasetError(f"{path}: empty file")
        return rows

    def _meta_identifiers(self) -> dict[str, str]:
        """stem -> recording-location identifier, read leniently (files are checked per split)."""
        header, *rows = self._rows(self.root / "meta.csv")
        if "identifier" not in header or "filename_audio" not in header:
            return {}
        a, i = header.index("filename_audio"), header.index("identifier")
        return {Path(r[a]).stem: r[i] for r in rows if len(r) == len(header)}

    def _read(self, path: Path, labelled: bool) -> list[Clip]:
        rows = self._rows(path)
        header = rows[0]
        need = ["filename_audio", "filename_video"] + (["scene_label"] if labelled else [])
        missing = [h for h in need if h not in header]
        if missing:
            raise DatasetError(f"{path}: header lacks column(s) {missing}; found {header} (is it tab-separated?)")
        col = {h: header.index(h) for h in header}
        clips = []
        for line, row in enumerate(rows[1:], start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise DatasetError(f"{path}:{line}: expected {len(header)} tab-separated fields, got {len(row)}")
            audio, video = self.root / row[col["filename_audio"]], self.root / row[col["filename_video"]]
            if audio.stem != video.stem:
                raise DatasetError(f"{path}:{line}: audio {audio.name} and video {video.name} have different stems")
            for p in (audio, video):
                if not p.is_file():
                    raise DatasetError(f"{path}:{line}: {p} not found")
            label = row[col["scene_label"]] if "scene_label" in col else None
            if label is not None and label not in self.labels:
                raise DatasetError(f"{path}:{line}: unknown scene label {label!r}; known: {', '.join(self.labels)}")
            identifier = row[col["identifier"]] if "identifier" in col else self._identifiers.get(audio.stem)
            clips.append(Clip(audio, video, label, identifier))
        return clips
