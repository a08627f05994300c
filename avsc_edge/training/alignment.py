"""CEOA alignment metrics on ground truth: event->object retrieval and pair AUCs."""
from __future__ import annotations

import numpy as np

from ..data.scenes import SOURCES
from ..labels import EVENTS, OBJECTS


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


def attention_partner(predictions: dict, truth: dict, sources=SOURCES) -> dict[str, float]:
    """What a user reads, checked against the generator's ground truth: for each pair
    ``(event, object)`` in a :class:`~avsc_edge.runtime.prediction.Prediction`'s ``attention``
    whose event is present in the clip and has a partner object present too (and at least one
    other present object to confuse it with), is the object one of the event's partners?
    ``predictions``: stem -> Prediction. Returns the rate, the count, and ``chance`` (a present
    object picked at random)."""
    partners = {(e, o) for e, o in sources}
    hits, chance, count = 0, 0.0, 0
    for stem, p in predictions.items():
        clip = truth[stem]
        present = set(clip["objects"])
        for event, obj, _ in p.attention:
            good = {o for o in present if (event, o) in partners}
            if event not in clip["events"] or not good or len(present) < 2:
                continue
            hits += obj in good
            chance += len(good) / len(present)
            count += 1
    return {"attention_partner": hits / max(count, 1), "chance": chance / max(count, 1), "count": count}
