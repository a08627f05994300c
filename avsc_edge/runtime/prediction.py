"""The result type of every classification: always a :class:`Prediction`, built window by window."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from ..config import RULED_OUT_BELOW


@dataclass
class Prediction:
    """One classification.

    ``scores`` maps every scene label to its probability (the mean over windows); ``events`` /
    ``objects`` are the strongest event and object slots with their presence probability;
    ``attention`` pairs each of those events that is present (presence >= 0.5) with the object it
    attends to most, and that weight: ``(event, object, weight)``, the event->object
    cross-attention averaged over windows. The attention runs in the CEOA space (cosine of the
    aligned embeddings plus the object's log-presence), so the pair says which seen object the
    model aligned the sound with ("engine_idling" -> "bus"); objects the model rules out
    (presence < ``config.RULED_OUT_BELOW``, 5 %) get no attention and are never shown, and the
    list is empty, not invented, when no event is present or every object is ruled out.
    ``attention_map`` holds the averaged weights of every present event over every object not
    ruled out (what ``avsc-edge explain`` draws);
    ``modalities`` which inputs were used (``("audio", "visual")``, or one of them when the other
    was missing for every window); ``timings`` per-stage milliseconds; ``windows`` the per-window
    timeline (start, modalities, label, scores) when the input was longer than one window;
    ``engine`` which backend, precision, device and provider ran it. Streaming predictions also
    carry ``timestamp`` (end of the window, stream clock, seconds). ``notes`` say what was degraded
    (e.g. ``"visual missing or stalled"``, ``"video track ends at 5.0 s: windows from 4 s on ..."``).
    """

    label: str
    confidence: float
    scores: dict[str, float]
    modalities: tuple[str, ...]
    events: list[tuple[str, float]] = field(default_factory=list)
    objects: list[tuple[str, float]] = field(default_factory=list)
    attention: list[tuple[str, str, float]] = field(default_factory=list)
    attention_map: dict[str, dict[str, float]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    windows: list[dict] = field(default_factory=list)
    source: str | None = None
    timestamp: float | None = None
    notes: list[str] = field(default_factory=list)
    engine: dict[str, object] = field(default_factory=dict)

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most likely scenes as (label, probability), best first."""
        return sorted(self.scores.items(), key=lambda kv: -kv[1])[:k]

    def plot(self, path, frames=None, title: str | None = None, frame_times: list[float] | None = None) -> None:
        """Write the explanation picture (PNG; needs the ``[plot]`` extra): the sampled ``frames``
        (RGB uint8 ``[N, H, W, 3]``, optional, taken at ``frame_times`` seconds), scene probabilities
        per window, the top events and objects, the attention of the present events over the
        present objects when there is any, and the notes."""
        from ..plots import plot_prediction

        plot_prediction(self, path, frames, title, frame_times)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["modalities"] = list(self.modalities)
        return d

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        mods = "+".join(self.modalities)
        return f"{self.label} ({self.confidence:.1%}, {mods})"


MODALITY_ORDER = ("audio", "visual")
UNKNOWN = "unknown"   # a few-shot model's answer when no label is close enough


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Presence probabilities from logits, in float64."""
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Scene probabilities from logits along the last axis (numerically stable)."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class WindowAccumulator:
    """Running sums over a recording's windows (memory independent of how many there are, but for
    the small per-window timeline)."""

    def __init__(self, info, probs_override: np.ndarray | None = None) -> None:
        self.info = info
        self.labels = tuple(info.labels)
        self.prob_sum = np.zeros(len(self.labels))
        self.event_sum = self.object_sum = self.attn_sum = None
        self.event_n = self.object_n = self.attn_n = 0
        self.count = 0
        self.modalities: set[str] = set()
        self.timeline: list[dict] = []
        self.probs_override = probs_override

    def add(self, out: dict, starts: list[float]) -> None:
        """Backend outputs for consecutive windows (``out["scene_logits"]`` is ``[W, n_scenes]``)."""
        probs = softmax(out["scene_logits"].astype(np.float64))
        self.prob_sum += probs.sum(axis=0)
        self.count += len(probs)
        self.modalities.update(out["modalities"])
        for key, total, n in (("event_logits", "event_sum", "event_n"), ("object_logits", "object_sum", "object_n")):
            if out.get(key) is not None:
                p = sigmoid(out[key])
                setattr(self, total, p.sum(axis=0) + (0 if getattr(self, total) is None else getattr(self, total)))
                setattr(self, n, getattr(self, n) + len(p))
        if out.get("event_to_object") is not None:
            w = out["event_to_object"].astype(np.float64)
            self.attn_sum = w.sum(axis=0) + (0 if self.attn_sum is None else self.attn_sum)
            self.attn_n += len(w)
        for start, row in zip(starts, probs):
            best = int(row.argmax())
            self.timeline.append({"start": float(start), "modalities": list(out["modalities"]),
                                  "label": self.labels[best], "scores": dict(zip(self.labels, map(float, row)))})

    def _top(self, total, n, names, k: int = 3) -> list[tuple[str, float]]:
        if total is None:
            return []
        p = total / n
        return [(names[i], float(p[i])) for i in np.argsort(-p)[:k]]

    def _attention(self, events: list[tuple[str, float]], threshold: float = 0.5):
        """(``Prediction.attention``, ``Prediction.attention_map``): present events over the
        objects not ruled out."""
        if self.attn_sum is None or self.object_sum is None or self.event_sum is None:
            return [], {}
        w = self.attn_sum / self.attn_n
        objects = np.flatnonzero(self.object_sum / self.object_n >= RULED_OUT_BELOW)
        present = np.flatnonzero(self.event_sum / self.event_n >= threshold)
        if len(objects) == 0 or len(present) == 0:
            return [], {}
        names_e, names_o = self.info.events, self.info.objects
        attention_map = {names_e[e]: {names_o[o]: float(w[e, o]) for o in objects} for e in present}
        attention = []
        for name, p in events:
            if p >= threshold:
                e = names_e.index(name)
                o = objects[int(w[e, objects].argmax())]
                attention.append((name, names_o[o], float(w[e, o])))
        return attention, attention_map

    def result(self, timings: dict[str, float], source: str | None, notes: list[str], engine) -> "Prediction":
        mean = self.prob_sum / max(self.count, 1) if self.probs_override is None else self.probs_override
        best = int(mean.argmax())
        label = self.labels[best]
        threshold = (self.info.metrics or {}).get("fewshot", {}).get("unknown_below")
        if threshold is not None and mean[best] < threshold:
            label = UNKNOWN
            notes = [*notes, f"no label is close enough: the best, {self.labels[best]}, has {mean[best]:.1%}, under "
                             f"the model's unknown threshold of {threshold:.1%}"]
        events = self._top(self.event_sum, self.event_n, self.info.events)
        objects = self._top(self.object_sum, self.object_n, self.info.objects)
        attention, attention_map = self._attention(events)
        return Prediction(
            label=label, confidence=float(mean[best]),
            scores={lab: float(p) for lab, p in zip(self.labels, mean)},
            modalities=tuple(m for m in MODALITY_ORDER if m in self.modalities), events=events, objects=objects,
            attention=attention, attention_map=attention_map, timings=timings, windows=self.timeline, source=source,
            notes=list(notes), engine=dict(asdict(engine)) if engine is not None else {})


def model_notes(info) -> list[str]:
    """What every prediction of this model should carry: how much its labels can mean."""
    metrics = info.metrics or {}
    few = metrics.get("fewshot")
    if few is not None:
        missing = [m for m, key in (("audio", "audio_windows"), ("video", "visual_windows")) if not few.get(key)]
        return [f"the model learnt its labels from {m == 'audio' and 'video' or 'audio'} alone: its {m} does not "
                "change the answer" for m in missing]
    if metrics.get("untrained"):
        return ["the model is untrained (random weights): its labels mean nothing"]
    data = metrics.get("data") or {}
    if data.get("synthetic"):
        return [f"the model was trained on synthetic scenes (dataset {data.get('dataset')!r}, `avsc-edge synth`): "
                "a demonstration, not a classifier of real places"]
    return []
