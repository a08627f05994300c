"""Plots (the ``[plot]`` extra): matplotlib on its file-only backend."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend; plots are an extra (``avsc-edge[plot]``)."""
    from .errors import require

    matplotlib = require("matplotlib", "plot", "writing plots (PNG)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: str | os.PathLike, dpi: int) -> None:
    """A figure written whole as PNG (a temporary renamed over ``path``: a link is replaced, never
    written through), then closed."""
    from .errors import InputError
    from .formats.artifact import atomic_write

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InputError(f"{path}: plots are written as PNG; name the file ...png")
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    finally:
        pyplot().close(fig)


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
    save(fig, path, 110)


def frame_strip(frames: np.ndarray, gap: int = 6) -> np.ndarray:
    """Frames ``[N, H, W, 3]`` side by side with a white gap between them (synthetic frames would
    otherwise run into one panorama)."""
    h, _, c = frames.shape[1:]
    spacer = np.full((h, gap, c), 255, frames.dtype)
    parts = [x for f in frames for x in (f, spacer)][:-1]
    return np.concatenate(parts, axis=1)


def plot_prediction(pred, path: str | os.PathLike, frames: np.ndarray | None = None, title: str | None = None,
                    frame_times: list[float] | None = None) -> None:
    """The explanation of one :class:`~avsc_edge.runtime.prediction.Prediction` as a PNG: a strip of
    the sampled frames (each with its time), the scene probabilities per window, the top events and
    objects with their presence, the attention of the present events over the present objects
    (when there is any), and the prediction's notes."""
    plt = pyplot()
    attention = bool(pred.attention_map)
    rows = 3 if attention else 2
    fig = plt.figure(figsize=(12, 10 if attention else 6.5))
    ratios = [1.0, 1.3, 1.6][:rows]
    grid = fig.add_gridspec(rows, 2, height_ratios=ratios, hspace=0.45, wspace=0.3)
    strip = fig.add_subplot(grid[0, :])
    if frames is not None and len(frames):
        strip.imshow(frame_strip(np.asarray(frames)))
        width = frames.shape[2] + 6
        for i, t in enumerate(frame_times or []):
            strip.text(i * width + frames.shape[2] / 2, frames.shape[1] + 4, f"{t:.1f} s", ha="center", va="top",
                       fontsize=8)
    strip.set_axis_off()
    strip.set_title(title or f"{pred.label} ({pred.confidence:.0%}, {'+'.join(pred.modalities)})")
    _plot_timeline(fig.add_subplot(grid[1, 0]), pred)
    _plot_presence(fig.add_subplot(grid[1, 1]), pred)
    if attention:
        _plot_attention(fig.add_subplot(grid[2, :]), pred)
    if pred.notes:
        fig.text(0.02, 0.005, "\n".join(f"note: {n}" for n in pred.notes), fontsize=8, va="bottom", wrap=True)
    save(fig, path, 80)


def _plot_timeline(ax, pred) -> None:
    windows = pred.windows or [{"start": 0.0, "scores": pred.scores}]
    if len(windows) == 1:   # one window: the scenes as bars
        top = pred.top(5)
        ax.barh(range(len(top)), [p for _, p in top], color="tab:green")
        ax.set_yticks(range(len(top)), [n for n, _ in top], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title("scenes (one window)")
        return
    starts = [w["start"] for w in windows]
    for label, _ in pred.top(3):
        ax.plot(starts, [w["scores"][label] for w in windows], marker="o", label=label)
    ax.set_ylim(0, 1)
    ax.set_xlabel("window start (s)")
    ax.set_ylabel("probability")
    ax.set_title("scenes over time")
    ax.legend(fontsize=8)


def _plot_presence(ax, pred) -> None:
    rows = [(f"heard: {n}", p) for n, p in pred.events] + [(f"seen: {n}", p) for n, p in pred.objects]
    ax.barh(range(len(rows)), [p for _, p in rows], color=["tab:orange"] * len(pred.events) + ["tab:blue"] * len(pred.objects))
    ax.set_yticks(range(len(rows)), [n for n, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.axvline(0.5, color="grey", lw=0.8, ls="--", label="counted as present from 0.5")
    ax.legend(fontsize=7, loc="lower right", framealpha=0.9)
    ax.set_xlabel("how sure the model is that it hears or sees it")
    ax.set_title("what it hears and sees (top events and objects)")


def _plot_attention(ax, pred) -> None:
    events = list(pred.attention_map)
    objects = list(next(iter(pred.attention_map.values())))
    matrix = np.array([[pred.attention_map[e][o] for o in objects] for e in events])
    ax.imshow(matrix, cmap="Oranges", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(objects)), objects, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(events)), events, fontsize=8)
    for i in range(len(events)):
        for j in range(len(objects)):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title("which thing seen each sound heard goes with, by the model's attention (row: a sound; averaged over the clip)")
