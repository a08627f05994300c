"""Evaluation of the PyTorch reference on a feature set (scene metrics, congruence) and of any
artifact on a dataset split through the :class:`~avsc_edge.Classifier`."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data.featureset import FeatureSet
from ..labels import SCENES
from ..metrics import SceneMetrics, scene_metrics
from ..runtime.prediction import softmax


def batches(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def predict_outputs(model, log_mel: np.ndarray, frames: np.ndarray, batch_size: int = 64,
                    device: str = "cpu") -> dict[str, np.ndarray]:
    """Run the PyTorch model over input arrays in batches; returns scene logits and probabilities,
    slot embeddings and presence logits as NumPy arrays."""
    import torch

    model.eval()
    keep = ("scene_logits", "event_emb", "object_emb", "event_logits", "object_logits")
    collected: dict[str, list] = {k: [] for k in keep}
    with torch.no_grad():
        for s in batches(len(log_mel), batch_size):
            out = model(torch.from_numpy(log_mel[s]).to(device), torch.from_numpy(frames[s]).to(device))
            for k in keep:
                t = getattr(out, k)
                if t is not None:
                    collected[k].append(t.float().cpu().numpy())
    result = {k: np.concatenate(v) for k, v in collected.items() if v}
    result["probs"] = softmax(result["scene_logits"].astype(np.float64))
    return result


def evaluate_model(model, fs: FeatureSet, device: str = "cpu") -> tuple[SceneMetrics, dict[str, np.ndarray]]:
    outputs = predict_outputs(model, fs.log_mel, fs.frames, device=device)
    return scene_metrics(outputs["probs"], fs.labels, SCENES), outputs


def congruence_accuracy(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Scene accuracy on the congruence benchmark split in two: is the predicted scene in the true
    scene's pair (``pair``; the other scenes are their own pair), and, for clips of the four pairs whose
    pair was found, is it the right member (``member``: 0.5 is a coin flip, i.e. the congruence
    between events and objects not used). ``no_congruence_ceiling`` is the accuracy of a model that
    finds every pair and flips a coin within it."""
    from ..data.scenes import CONGRUENCE_PAIRS

    group = np.arange(len(SCENES))
    for first, second, _, _ in CONGRUENCE_PAIRS:
        group[SCENES.index(second)] = SCENES.index(first)
    in_pairs = [SCENES.index(s) for first, second, _, _ in CONGRUENCE_PAIRS for s in (first, second)]
    pred, labels = np.asarray(probs).argmax(axis=1), np.asarray(labels)
    same = group[pred] == group[labels]
    paired = np.isin(labels, in_pairs)
    member = (pred == labels)[same & paired]
    return {"pair": float(same.mean()), "member": float(member.mean()) if member.size else float("nan"),
            "no_congruence_ceiling": float(1 - 0.5 * paired.mean())}


def evaluate_artifact(checkpoint: str | os.PathLike, dataset: str | os.PathLike, split: str = "evaluate",
                        plot: str | os.PathLike | None = None, progress: bool = True):
    """Scene metrics of a model artifact on a dataset split (and an optional confusion-matrix PNG)."""
    from ..classifier import Classifier
    from ..data import TauDataset
    from ..data.featureset import load_featureset
    from ..plots import plot_confusion

    clf = Classifier(checkpoint)  # any backend: .safetensors, .onnx, .plan
    ds = TauDataset(dataset)
    fs = load_featureset(ds, split, clf.info.feature_config, clf.info.clip_config, progress)
    logits = clf.runner.run_windows(fs.log_mel, fs.frames)["scene_logits"]
    metrics = scene_metrics(softmax(logits.astype(np.float64)), fs.labels, SCENES)
    if plot:
        plot_confusion(metrics.confusion, clf.labels, plot, f"{Path(checkpoint).name} on {split}: "
                       f"accuracy {metrics.accuracy:.1%}")
    return metrics
