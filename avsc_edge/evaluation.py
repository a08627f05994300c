"""Evaluation of the PyTorch reference: scene metrics and CEOA alignment on ground truth."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .data.featureset import FeatureSet
from .data.scenes import SOURCES
from .labels import EVENTS, OBJECTS, SCENES
from .metrics import SceneMetrics, scene_metrics, softmax


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


def alignment_accuracy(event_emb: np.ndarray, object_emb: np.ndarray, stems: list[str], truth: dict) -> dict[str, float]:
    """CEOA alignment on ground truth: for each event present in a clip whose partner object is also
    present, is the present object whose slot embedding is closest (cosine) to the event's slot
    embedding one that co-occurs with the event? Returns accuracy, chance level and count."""
    partners = {(EVENTS.index(e), OBJECTS.index(o)) for e, o in SOURCES}
    e = event_emb / np.linalg.norm(event_emb, axis=-1, keepdims=True)
    o = object_emb / np.linalg.norm(object_emb, axis=-1, keepdims=True)
    hits, chance, count = 0, 0.0, 0
    for i, stem in enumerate(stems):
        clip = truth[stem]
        present = [OBJECTS.index(x) for x in clip["objects"]]
        for event in {p[0] for p in clip["pairs"]}:
            ev = EVENTS.index(event)
            good = [ob for ob in present if (ev, ob) in partners]
            if not good or len(present) < 2:
                continue
            best = present[int(np.argmax(o[i, present] @ e[i, ev]))]
            hits += best in good
            chance += len(good) / len(present)
            count += 1
    return {"accuracy": hits / max(count, 1), "chance": chance / max(count, 1), "count": count}


def evaluate_artifact(checkpoint: str | os.PathLike, dataset: str | os.PathLike, split: str = "evaluate",
                        plot: str | os.PathLike | None = None, progress: bool = True):
    """Scene metrics of a model artifact on a dataset split (and an optional confusion-matrix PNG)."""
    from .classifier import Classifier
    from .data import TauDataset
    from .data.featureset import load_featureset
    from .metrics import plot_confusion, softmax

    clf = Classifier(checkpoint)  # any backend: .safetensors, .onnx, .plan
    ds = TauDataset(dataset)
    fs = load_featureset(ds, split, clf.info.feature_config, clf.info.clip_config, progress)
    logits = clf.run_windows(fs.log_mel, fs.frames)["scene_logits"]
    metrics = scene_metrics(softmax(logits.astype(np.float64)), fs.labels, SCENES)
    if plot:
        plot_confusion(metrics.confusion, clf.labels, plot, f"{Path(checkpoint).name} on {split}: "
                       f"accuracy {metrics.accuracy:.1%}")
    return metrics
