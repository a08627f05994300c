"""Vocabularies of the event and object slots.

* ``synthetic``: the synthetic generator's events and objects (``avsc_edge.labels``), for synthetic
  data only;
* ``audioset``: the 527 AudioSet sound-event classes PANNs taggers predict (``audioset.txt``);
* ``imagenet``: the 1000 ImageNet classes torchvision ResNets predict (``imagenet.txt``; the two
  names ImageNet repeats, crane and maillot, carry " (2)" on their second class).

A model's slots are a subset of one vocabulary, chosen by :func:`choose` (the ``K`` classes most
present on the training set, or a list of names); the artifact carries the chosen names.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError

HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def load(name: str) -> tuple[str, ...]:
    """``audioset``, ``imagenet`` or ``synthetic-events`` / ``synthetic-objects``."""
    if name in ("synthetic-events", "synthetic-objects"):
        from ..labels import EVENTS, OBJECTS

        return EVENTS if name == "synthetic-events" else OBJECTS
    path = HERE / f"{name}.txt"
    if not path.is_file():
        raise ConfigError(f"unknown vocabulary {name!r}; choose audioset, imagenet, synthetic-events or synthetic-objects")
    return tuple(line for line in path.read_text().splitlines() if line)


def choose(vocabulary: tuple[str, ...], spec: str, presence: np.ndarray | None = None) -> list[int]:
    """Indices into ``vocabulary`` for a slot set: ``top:K`` (the ``K`` classes with the highest mean
    ``presence`` over the training clips, ``[N, len(vocabulary)]``), a comma-separated list of
    names, or ``@FILE`` (one name per line)."""
    if spec.startswith("top:"):
        try:
            k = int(spec[4:])
        except ValueError:
            raise ConfigError(f"{spec!r}: expected top:K with an integer K") from None
        if presence is None:
            raise ConfigError(f"{spec!r} needs presence scores from a tagger (pass --audio-weights/--visual-weights)")
        if not 1 <= k <= len(vocabulary):
            raise ConfigError(f"{spec!r}: K must be in 1..{len(vocabulary)}")
        return sorted(int(i) for i in np.argsort(-presence.mean(axis=0), kind="stable")[:k])
    if spec.startswith("@"):
        path = Path(os.path.expanduser(spec[1:]))
        if not path.is_file():
            raise ConfigError(f"{spec!r}: vocabulary list {path} not found")
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    else:
        names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in vocabulary]
    if unknown or not names:
        raise ConfigError(f"not in the vocabulary: {unknown[:5] or spec!r}; names must match its entries exactly "
                          f"(e.g. {vocabulary[:3]})")
    return [vocabulary.index(n) for n in names]
