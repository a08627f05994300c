"""Scene metrics as DCASE reports them: accuracy, class-wise accuracy, multi-class log-loss, and a
confusion matrix (with a PNG plot)."""
from __future__ import annotations

import os
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


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend; plots are an extra (``avsc-edge[plot]``)."""
    from .errors import require

    matplotlib = require("matplotlib", "plot", "writing plots (PNG)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(confusion: list[list[int]], names: tuple[str, ...], path: str | os.PathLike, title: str = "") -> None:
    """Write a row-normalised confusion matrix as a PNG."""
    plt = pyplot()

    cm = np.asarray(confusion, np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
