"""Scene metrics as DCASE reports them: accuracy, class-wise accuracy, multi-class log-loss, and a
confusion matrix (its plot: :func:`avsc_edge.plots.plot_confusion`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

EPS = 1e-15  # probability clip for log-loss (scikit-learn's historical default)


@dataclass
class SceneMetrics:
    accuracy: float
    log_loss: float
    class_accuracy: dict[str, float]
    confusion: list[list[int]]
    count: int

    def to_dict(self) -> dict:
        return asdict(self)


def scene_metrics(probs: np.ndarray, labels: np.ndarray, names: tuple[str, ...]) -> SceneMetrics:
    """``probs`` ``[N, C]`` (rows sum to 1), integer ``labels`` ``[N]``."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels)
    pred = probs.argmax(axis=1)
    k = len(names)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, pred), 1)
    per_class = {names[c]: float(confusion[c, c] / confusion[c].sum()) for c in range(k) if confusion[c].sum()}
    p = np.clip(probs / probs.sum(axis=1, keepdims=True), EPS, 1 - EPS)
    p = p / p.sum(axis=1, keepdims=True)
    ll = float(-np.mean(np.log(p[np.arange(len(labels)), labels])))
    return SceneMetrics(float((pred == labels).mean()), ll, per_class, confusion.tolist(), int(len(labels)))
