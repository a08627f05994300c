"""What a synthetic dataset allows: the accuracy of a *perfect tagger with a linear head*.

A multinomial logistic regression learns the scene from the generator's ground-truth tags of the
training split and is scored on the evaluate split, as a model is. Four inputs:

* ``audio``: which events are heard; ``visual``: which objects are seen;
* ``audio_visual``: both, without knowing which event goes with which object;
* ``audio_visual_pairs``: both plus the co-occurring (event, object) pairs.

A model far below the ceiling of its inputs has something left to learn; a model at the ceiling
cannot do better from tags. numpy only: ``avsc-edge synth`` prints these for every dataset it writes.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..labels import EVENTS, OBJECTS, SCENES

INPUTS = ("audio", "visual", "audio_visual", "audio_visual_pairs")


def tag_features(clip: dict, inputs: str, sources: Sequence[tuple[str, str]]) -> np.ndarray:
    """Multi-hot ground-truth tags of one clip (``{"events", "objects", "pairs"}``)."""
    heard = [e in clip["events"] for e in EVENTS]
    seen = [o in clip["objects"] for o in OBJECTS]
    pairs = [list(s) in [list(p) for p in clip["pairs"]] for s in sources]
    parts = {"audio": [heard], "visual": [seen], "audio_visual": [heard, seen],
             "audio_visual_pairs": [heard, seen, pairs]}[inputs]
    return np.concatenate([np.asarray(p, np.float64) for p in parts])


def fit_softmax(x: np.ndarray, y: np.ndarray, classes: int, l2: float = 1e-3, steps: int = 1500) -> np.ndarray:
    """Weights ``[features + 1, classes]`` of an L2-regularised multinomial logistic regression
    (full-batch gradient descent; the inputs are 0/1 tags, so one step size fits all)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros((xb.shape[1], classes))
    onehot = np.eye(classes)[y]
    for _ in range(steps):
        logits = xb @ w
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        w -= 1.0 * (xb.T @ (p - onehot) / len(xb) + l2 * w)
    return w


def linear_head_scores(x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray, classes: int) -> np.ndarray:
    """Scene scores ``[N_eval, classes]`` of :func:`fit_softmax` fitted on the training inputs."""
    w = fit_softmax(x_train, y_train, classes)
    return np.hstack([x_eval, np.ones((len(x_eval), 1))]) @ w


def tag_ceilings(truth: dict, train_stems: Sequence[str], evaluate_stems: Sequence[str],
                 sources: Sequence[tuple[str, str]], labels: Sequence[str] = SCENES) -> dict[str, float]:
    """Evaluate-split accuracy of a perfect tagger with a linear head, for each of ``INPUTS``.
    ``truth``: stem -> ``{"scene", "events", "objects", "pairs"}`` (the generator's sidecar)."""
    index = {name: i for i, name in enumerate(labels)}
    y_train = np.array([index[truth[s]["scene"]] for s in train_stems])
    y_eval = np.array([index[truth[s]["scene"]] for s in evaluate_stems])
    out = {}
    for inputs in INPUTS:
        x_train = np.stack([tag_features(truth[s], inputs, sources) for s in train_stems])
        x_eval = np.stack([tag_features(truth[s], inputs, sources) for s in evaluate_stems])
        scores = linear_head_scores(x_train, y_train, x_eval, len(labels))
        out[inputs] = round(float(np.mean(scores.argmax(1) == y_eval)), 4)
    return out


def describe(ceilings: dict[str, float]) -> str:
    """One line for a terminal: what a perfect tagger with a linear head reaches."""
    return ("ceiling (a perfect tagger with a linear head, evaluate split): "
            f"audio {ceilings['audio']:.0%}, visual {ceilings['visual']:.0%}, both {ceilings['audio_visual']:.0%}, "
            f"both with event-object pairs {ceilings['audio_visual_pairs']:.0%}")


def dataset_ceilings(dataset) -> dict[str, float] | None:
    """The ceilings of a synthetic TAU-layout dataset (a :class:`~avsc_edge.data.TauDataset`) from its
    ground-truth sidecar and its current split files; None for a real dataset."""
    import json

    from .synth import GROUND_TRUTH_FILE

    path = dataset.root / GROUND_TRUTH_FILE
    if not path.is_file():
        return None
    truth = json.loads(path.read_text())
    stems = {split: [c.audio.stem for c in dataset.clips(split)] for split in ("train", "evaluate")}
    if not stems["train"] or not stems["evaluate"] or any(s not in truth["clips"] for v in stems.values() for s in v):
        return None
    return tag_ceilings(truth["clips"], stems["train"], stems["evaluate"], [tuple(s) for s in truth["sources"]],
                        dataset.labels)


def ceiling_for(ceilings: dict[str, float], uses_audio: bool, uses_visual: bool) -> float:
    """The ceiling of what a model sees: one modality's, or both modalities' tags."""
    return ceilings["audio_visual" if uses_audio and uses_visual else "audio" if uses_audio else "visual"]
