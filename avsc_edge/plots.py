"""Plots (the ``[plot]`` extra): matplotlib on its file-only backend."""
from __future__ import annotations

import os

import numpy as np


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
