"""Turn a TAU-layout dataset split into model-ready arrays (log-mel, frames, labels, tags), cached
on disk under ``ROOT/.avsc_cache/`` keyed by the configs that shape them."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..config import ClipConfig, FeatureConfig
from ..labels import EVENTS, OBJECTS, SCENES
from .tau import Clip, TauDataset

CACHE_VERSION = 3   # 3: channel-mean downmix, soxr resampling, frame geometry


@dataclass
class FeatureSet:
    """Arrays for ``N`` clips. Tags are ``None`` for datasets without the synthetic sidecar."""

    log_mel: np.ndarray        # float32 [N, 1, n_mels, T]
    frames: np.ndarray         # float32 [N, F, 3, S, S]
    labels: np.ndarray         # int64 [N] (-1 where unlabelled)
    stems: list[str]
    event_tags: np.ndarray | None = None   # float32 [N, n_events]
    object_tags: np.ndarray | None = None  # float32 [N, n_objects]

    def __len__(self) -> int:
        return len(self.stems)

    def subset(self, idx: np.ndarray) -> "FeatureSet":
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return FeatureSet(self.log_mel[idx], self.frames[idx], self.labels[idx], [self.stems[i] for i in idx],
                          pick(self.event_tags), pick(self.object_tags))


def clip_arrays(clip: Clip, features: FeatureConfig, window: ClipConfig) -> tuple[np.ndarray, np.ndarray]:
    """One clip's first window, pre-processed exactly as the runtime does it (same reader, same
    frame policy): (log-mel ``[1, n_mels, T]``, frames ``[F, 3, S, S]``)."""
    from ..errors import MediaError
    from ..preprocess.windows import first_window

    w = first_window(clip.audio, clip.video, features, window)
    if w.log_mel is None or w.frames is None:
        raise MediaError(f"{clip.stem}: training needs both the audio and the video track")
    return w.log_mel, w.frames


def _cache_key(dataset: TauDataset, split: str, features: FeatureConfig, window: ClipConfig, clips: list[Clip]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, split, features.to_dict(), window.to_dict()], sort_keys=True).encode())
    for c in clips:
        h.update(f"{c.stem}:{c.label}:{c.audio.stat().st_mtime_ns}:{c.video.stat().st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _tags(truth: dict | None, stems: list[str], key: str, vocab: tuple[str, ...]) -> np.ndarray | None:
    if truth is None or any(s not in truth for s in stems):
        return None
    tags = np.zeros((len(stems), len(vocab)), np.float32)
    for i, s in enumerate(stems):
        for name in truth[s][key]:
            tags[i, vocab.index(name)] = 1.0
    return tags


def split_clips(dataset: TauDataset, split: str) -> list[Clip]:
    """The clips of a split; :class:`DatasetError` when it lists none."""
    from ..errors import DatasetError

    clips = dataset.clips(split)
    if not clips:
        where = dataset.root / "meta.csv" if split == "all" else dataset.split_file(split)
        raise DatasetError(f"{where}: the {split} split lists no clips; a synthetic dataset needs at least 20 "
                           "clips (`avsc-edge synth --clips 20`), a real one its fold1 split files")
    return clips


def load_featureset(dataset: TauDataset, split: str, features: FeatureConfig, window: ClipConfig,
                    progress: bool = True, workers: int = 2) -> FeatureSet:
    """Extract (or read from cache) the arrays of one split."""
    clips = split_clips(dataset, split)
    cache = dataset.root / ".avsc_cache" / f"{split}-{_cache_key(dataset, split, features, window, clips)}.npz"
    stems = [c.stem for c in clips]
    labels = np.array([SCENES.index(c.label) if c.label else -1 for c in clips], np.int64)
    if cache.is_file():
        with np.load(cache) as z:
            log_mel, frames = z["log_mel"], z["frames"]
    else:
        from tqdm import tqdm

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(tqdm(pool.map(lambda c: clip_arrays(c, features, window), clips), total=len(clips),
                                desc=f"features ({split})", disable=not progress, unit="clip"))
        log_mel = np.stack([r[0] for r in results])
        frames = np.stack([r[1] for r in results])
        cache.parent.mkdir(exist_ok=True)
        # a name of its own: two processes building the same cache (runs on one dataset, one per
        # core) each write theirs whole, and the last rename wins with identical contents
        tmp = cache.with_name(f"{cache.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npz")
        try:
            np.savez(tmp, log_mel=log_mel, frames=frames)
            os.replace(tmp, cache)
        finally:
            tmp.unlink(missing_ok=True)
    truth = dataset.ground_truth()
    return FeatureSet(log_mel, frames, labels, stems, _tags(truth, stems, "events", EVENTS),
                      _tags(truth, stems, "objects", OBJECTS))
