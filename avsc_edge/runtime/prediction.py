"""The result type of every classification: always a :class:`Prediction`."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class Prediction:
    """One classification.

    ``scores`` maps every scene label to its probability; ``events`` / ``objects`` are the strongest
    event and object slots with their presence probability; ``attention`` the strongest
    event->object cross-attention weights (why the model decided); ``modalities`` which inputs were
    used (``("audio", "visual")``, or one of them when the other was missing); ``timings`` per-stage
    milliseconds; ``windows`` the per-window scores when the input was longer than one window.
    Streaming predictions also carry ``timestamp`` (end of the window, stream clock, seconds) and
    ``notes`` (e.g. ``"visual stalled"``, ``"audio gap filled"``).
    """

    label: str
    confidence: float
    scores: dict[str, float]
    modalities: tuple[str, ...]
    events: list[tuple[str, float]] = field(default_factory=list)
    objects: list[tuple[str, float]] = field(default_factory=list)
    attention: list[tuple[str, str, float]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    windows: list[dict[str, float]] = field(default_factory=list)
    source: str | None = None
    timestamp: float | None = None
    notes: list[str] = field(default_factory=list)

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most likely scenes as (label, probability), best first."""
        return sorted(self.scores.items(), key=lambda kv: -kv[1])[:k]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["modalities"] = list(self.modalities)
        return d

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        mods = "+".join(self.modalities)
        return f"{self.label} ({self.confidence:.1%}, {mods})"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _top_slots(logits: np.ndarray | None, names, k: int = 3) -> list[tuple[str, float]]:
    if logits is None:
        return []
    p = _sigmoid(logits.astype(np.float64)).mean(axis=0)
    return [(names[i], float(p[i])) for i in np.argsort(-p)[:k]]


def to_prediction(out: dict, info, timings: dict[str, float], source: str | None = None,
                  probs: np.ndarray | None = None) -> Prediction:
    """Raw backend outputs (per window) -> :class:`Prediction`. ``probs`` overrides the softmax of
    ``out["scene_logits"]`` (streaming passes smoothed scores)."""
    from ..metrics import softmax

    per_window = softmax(out["scene_logits"].astype(np.float64))
    mean = per_window.mean(axis=0) if probs is None else probs
    labels = tuple(info.labels)
    best = int(mean.argmax())
    events = _top_slots(out.get("event_logits"), info.events)
    objects = _top_slots(out.get("object_logits"), info.objects)
    attention = []
    if out.get("event_to_object") is not None and events:
        w = out["event_to_object"].mean(axis=0)
        for name, _ in events:
            e = info.events.index(name)
            o = int(w[e].argmax())
            attention.append((name, info.objects[o], float(w[e, o])))
    return Prediction(
        label=labels[best], confidence=float(mean[best]), scores={l: float(p) for l, p in zip(labels, mean)},
        modalities=tuple(out["modalities"]), events=events, objects=objects, attention=attention, timings=timings,
        windows=[{l: float(p) for l, p in zip(labels, row)} for row in per_window] if len(per_window) > 1 else [],
        source=source)
