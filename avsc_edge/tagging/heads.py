"""Few-shot scene heads fitted with NumPy on the genuine taggers' embeddings, and the ONNX graph
that runs them (a normal artifact's ``heads`` part).

Each modality's embedding is scaled to unit length, then a linear head gives the scene logits:

* ``centroid``: the cosine to each label's mean embedding, over a temperature;
* ``logistic``: multinomial logistic regression with an L2 penalty (full-batch gradient descent).

With both modalities the scene logits are the sum of the two heads' (a product of experts: each
modality's head is fitted on every window that has it, so audio-only and video recordings mix).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..formats.onnx_write import Graph

HEAD_KINDS = ("centroid", "logistic")
EPS = 1e-12


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (the heads graph computes the same)."""
    x = np.asarray(x, np.float32)
    return x / np.sqrt((x * x).sum(axis=-1, keepdims=True) + EPS)


@dataclass
class LinearHead:
    """``logits = unit(x) @ weight + bias``; ``weight`` ``[D, K]``, ``bias`` ``[K]``."""

    weight: np.ndarray
    bias: np.ndarray

    def logits(self, x: np.ndarray) -> np.ndarray:
        return unit(x) @ self.weight + self.bias

    @classmethod
    def silent(cls, dim: int, labels: int) -> "LinearHead":
        """A head for a modality no example had: it adds nothing (uniform over the labels)."""
        return cls(np.zeros((dim, labels), np.float32), np.zeros(labels, np.float32))


def fit(kind: str, x: np.ndarray, y: np.ndarray, labels: int, temperature: float = 0.1,
        l2: float = 1e-3, steps: int = 300, lr: float = 0.5) -> LinearHead:
    """A head of ``kind`` on embeddings ``x`` ``[N, D]`` with label indices ``y`` ``[N]``."""
    u = unit(x)
    if kind == "centroid":
        means = np.zeros((labels, u.shape[1]), np.float32)
        for k in range(labels):
            if np.any(y == k):
                means[k] = u[y == k].mean(axis=0)
        return LinearHead((unit(means) / temperature).T.astype(np.float32), np.zeros(labels, np.float32))
    if kind != "logistic":
        raise ValueError(f"head kind must be one of {HEAD_KINDS}, got {kind!r}")
    w = np.zeros((u.shape[1], labels), np.float64)
    b = np.zeros(labels, np.float64)
    onehot = np.eye(labels)[y]
    velocity_w, velocity_b = np.zeros_like(w), np.zeros_like(b)
    for _ in range(steps):       # Nesterov-free momentum: a few hundred steps fit a few hundred windows
        z = u @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - onehot) / len(u)
        velocity_w = 0.9 * velocity_w - lr * (u.T @ grad + l2 * w)
        velocity_b = 0.9 * velocity_b - lr * grad.sum(axis=0)
        w += velocity_w
        b += velocity_b
    return LinearHead(w.astype(np.float32), b.astype(np.float32))


def heads_graph(audio: LinearHead, visual: LinearHead, frames: int | str = "frames") -> Graph:
    """The ``heads`` part of a few-shot artifact: the split graphs' inputs (one embedding slot per
    window and per frame, the taggers' logits) -> scene logits (both heads' sum), audio and visual
    logits, the AudioSet logits as they are and the ImageNet logits' maximum over the frames."""
    da, labels = audio.weight.shape
    dv = visual.weight.shape[0]
    g = Graph("fewshot_heads")
    event_emb = g.input("event_emb", ["batch", 1, da])
    event_presence = g.input("event_presence", ["batch", "events"])
    frame_emb = g.input("frame_emb", ["batch", frames, 1, dv])
    frame_presence = g.input("frame_presence", ["batch", frames, "objects"])
    axis1, axes12, last = (g.constant(n, np.array(a, np.int64)) for n, a in
                           (("axis1", [1]), ("axes12", [1, 2]), ("last", [-1])))
    eps = g.constant("eps", np.array(EPS, np.float32))

    def head(x: str, h: LinearHead, name: str) -> str:
        norm = g.node("Sqrt", [g.node("Add", [g.node("ReduceSum", [g.node("Mul", [x, x]), last], keepdims=1), eps])])
        w = g.constant(f"{name}_weight", h.weight)
        b = g.constant(f"{name}_bias", h.bias)
        return g.node("Add", [g.node("MatMul", [g.node("Div", [x, norm]), w]), b])

    a = head(g.node("ReduceMean", [event_emb, axis1], keepdims=0), audio, "audio")
    v = head(g.node("ReduceMean", [frame_emb, axes12], keepdims=0), visual, "visual")
    g.node("Add", [a, v], "scene_logits")
    # outputs no other node reads (conversions at the outputs, FP16 casts, change nothing inside)
    g.node("Identity", [a], "audio_logits")
    g.node("Identity", [v], "visual_logits")
    g.node("Identity", [event_presence], "event_logits")
    g.node("ReduceMax", [frame_presence, axis1], "object_logits", keepdims=0)
    for name, width in (("scene_logits", labels), ("audio_logits", labels), ("visual_logits", labels),
                        ("event_logits", "events"), ("object_logits", "objects")):
        g.output(name, ["batch", width])
    return g
