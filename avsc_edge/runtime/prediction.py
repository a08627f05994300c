"""The result type of every classification: always a :class:`Prediction`."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class Prediction:
    """One classification.

    ``scores`` maps every scene label to its probability; ``events`` / ``objects`` are the strongest
    event and object slots with their presence probability; ``attention`` the strongest
    event->object cross-attention weights (why the model decided); ``modalities`` which inputs were
    used (``("audio", "visual")``, or one of them when the other was missing); ``timings`` per-stage
    milliseconds; ``windows`` the per-window scores when the input was longer than one window.
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
