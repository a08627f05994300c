"""Evaluation of the PyTorch reference: scene metrics and CEOA alignment on ground truth."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .data.featureset import FeatureSet
from .data.scenes import SOURCES
from .labels import EVENTS, OBJECTS, SCENES
from .metrics import SceneMetrics, scene_metrics
from .runtime.prediction import softmax


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


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _retrieval(e: np.ndarray, o: np.ndarray, stems: list[str], truth: dict, partners: set) -> tuple[float, float, int]:
    """For each heard event whose partner object is visible (with another visible object to confuse
    it with): is the visible object with the closest slot embedding a partner? -> (accuracy, chance, count)."""
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
    return hits / max(count, 1), chance / max(count, 1), count


def auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Probability that a positive scores above a negative (ties count half): the ROC AUC."""
    if len(positives) == 0 or len(negatives) == 0:
        return float("nan")
    scores = np.concatenate([positives, negatives])
    ranks = np.empty(len(scores))
    order = np.argsort(scores, kind="mergesort")
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):          # average ranks over ties
        tie = scores == value
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return float((ranks[:len(positives)].sum() - len(positives) * (len(positives) + 1) / 2)
                 / (len(positives) * len(negatives)))


def alignment_metrics(event_emb: np.ndarray, object_emb: np.ndarray, stems: list[str], truth: dict,
                      sources=SOURCES) -> dict[str, float]:
    """CEOA alignment on ground truth, by two metrics:

    * ``retrieval``: for each heard event whose partner object is visible, is the visible object
      whose slot embedding is closest to the event's a partner? Reported with ``retrieval_chance``
      and ``retrieval_class_mean``, the same retrieval with every clip's embeddings replaced by
      their class means — what slot identity alone achieves;
    * ``partner_auc``: for each heard event and each of its partner objects, does cos(event slot,
      partner slot) rank higher when the partner is visible than when it is not? The AUC is taken
      within each (event, partner) class pair and averaged (weighted by the pair's examples), so
      slot identity alone (an embedding fixed per class) scores exactly 0.5: only content moves it.

    ``truth``: the generator's per-clip ground truth; ``sources``: its (event, object) partner pairs.
    """
    partners = {(EVENTS.index(e), OBJECTS.index(o)) for e, o in sources}
    e, o = _unit(event_emb), _unit(object_emb)
    acc, chance, count = _retrieval(e, o, stems, truth, partners)
    mean_e = np.broadcast_to(_unit(e.mean(axis=0)), e.shape)
    mean_o = np.broadcast_to(_unit(o.mean(axis=0)), o.shape)
    class_mean, _, _ = _retrieval(mean_e, mean_o, stems, truth, partners)
    by_pair: dict[tuple[int, int], tuple[list, list]] = {}
    for i, stem in enumerate(stems):
        clip = truth[stem]
        shown = {OBJECTS.index(x) for x in clip["objects"]}
        for event in clip["events"]:
            ev = EVENTS.index(event)
            for ev2, ob in partners:
                if ev2 == ev:
                    by_pair.setdefault((ev, ob), ([], []))[0 if ob in shown else 1].append(float(e[i, ev] @ o[i, ob]))
    scored = [(auc(np.array(v), np.array(h)), len(v) + len(h)) for v, h in by_pair.values() if v and h]
    weight = sum(n for _, n in scored)
    partner_auc = sum(a * n for a, n in scored) / weight if weight else float("nan")
    return {"retrieval": acc, "retrieval_chance": chance, "retrieval_class_mean": class_mean, "retrieval_count": count,
            "partner_auc": partner_auc, "auc_pairs": int(weight)}


def congruence_accuracy(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Scene accuracy on the congruence benchmark split in two: is the predicted scene in the true
    scene's pair (``pair``; the other scenes are their own pair), and, for clips of the four pairs whose
    pair was found, is it the right member (``member``: 0.5 is a coin flip, i.e. the congruence
    between events and objects not used). ``no_congruence_ceiling`` is the accuracy of a model that
    finds every pair and flips a coin within it."""
    from .data.scenes import CONGRUENCE_PAIRS

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
    from .classifier import Classifier
    from .data import TauDataset
    from .data.featureset import load_featureset
    from .metrics import plot_confusion

    clf = Classifier(checkpoint)  # any backend: .safetensors, .onnx, .plan
    ds = TauDataset(dataset)
    fs = load_featureset(ds, split, clf.info.feature_config, clf.info.clip_config, progress)
    logits = clf.run_windows(fs.log_mel, fs.frames)["scene_logits"]
    metrics = scene_metrics(softmax(logits.astype(np.float64)), fs.labels, SCENES)
    if plot:
        plot_confusion(metrics.confusion, clf.labels, plot, f"{Path(checkpoint).name} on {split}: "
                       f"accuracy {metrics.accuracy:.1%}")
    return metrics
