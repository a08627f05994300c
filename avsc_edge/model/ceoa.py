"""CEOA: contrastive event-object alignment, at the level of event-object *pairs*.

For each event ``k`` present in clip ``i`` (the anchor, its slot embedding ``e[i, k]``):

* positives: the objects present in clip ``i``;
* negatives: the objects present in other clips *in which event k is absent* — an object seen with
  the same event elsewhere is never a negative (it may be the event's partner);
* everything else (absent slots, objects of other clips that also hold event ``k``) is masked out
  (``-inf``), not down-weighted.

The loss is a multi-positive InfoNCE over cosine similarities / ``temperature``, averaged over
anchors, plus the symmetric object -> event term. Over a dataset, an object that goes with an event
(horn <-> car) is pulled towards it, and objects that appear without it are pushed away.

The earlier clip-level InfoNCE (every other clip a negative) pushed true partners apart whenever
another clip of the batch shared them and left alignment at chance (benchmarks/README.md).

With a ``prior`` (:func:`pair_affinity`: co-occurrence statistics of the presence targets over the
training set, never a list of pairs) the space pairs *kinds*: a co-present object is a positive
weighted by how specifically it goes with the anchor's event (its PMI, sharpened), and a co-present
object that the statistics say does not go with it (PMI <= 0) is a hard negative. The cross-attention
reads this space (:class:`~avsc_edge.model.attention.AlignedAttention`), so what it attends to is
the object that goes with the sound, not merely one seen with it.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

UNIT_EPS = 1e-6   # normalisation floor shared with the attention (FP16 exports keep it; 1e-12 underflows)


def pair_affinity(event_tags: np.ndarray, object_tags: np.ndarray, sharpness: float = 0.25,
                  eps: float = 1e-6) -> np.ndarray:
    """Presence targets ``[N, N_e]`` / ``[N, N_o]`` (0/1 or probabilities) -> ``[N_e, N_o]`` positive
    weights: ``exp(PMI / sharpness)`` where the pointwise mutual information of an event and an
    object over the clips is positive, 0 where it is not (they meet no more than chance says)."""
    e, o = np.asarray(event_tags, np.float64), np.asarray(object_tags, np.float64)
    joint = e.T @ o / max(len(e), 1)
    pmi = np.log((joint + eps) / (np.outer(e.mean(0), o.mean(0)) + eps))
    return np.where(pmi > 0, np.exp(np.minimum(pmi, 10.0) / sharpness), 0.0).astype(np.float32)


def anchor_losses(a: torch.Tensor, b: torch.Tensor, pa: torch.Tensor, pb: torch.Tensor,
                  temperature: float, prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One direction. Anchors ``a`` ``[B, Na, d]`` (unit norm; present where ``pa`` ``[B, Na]``),
    candidates ``b`` ``[B, Nb, d]`` (present where ``pb``); ``prior`` ``[Na, Nb]`` positive weights
    (see :func:`pair_affinity`). Returns (loss ``[B, Na]``, anchor mask: present slots with at least
    one positive and one negative)."""
    B, Na, Nb = a.shape[0], a.shape[1], b.shape[1]
    sim = torch.einsum("ikd,jld->ikjl", a, b) / temperature             # [B, Na, B, Nb]
    same = torch.eye(B, dtype=torch.bool, device=a.device)[:, None, :, None]
    cand = pb[None, None, :, :].expand(B, Na, B, Nb)                     # candidate present
    # [i, k, j, l] = pa[j, k]: clip j holds the anchor's class too, so its candidates are neither
    # positives nor negatives
    shares = pa.T[None, :, :, None].expand(B, Na, B, Nb)
    positive = cand & same
    negative = cand & ~same & ~shares
    if prior is not None:
        weight = prior[None, :, None, :].expand(B, Na, B, Nb)
        negative = negative | (positive & (weight <= 0))     # co-present, but does not go with it
        positive = positive & (weight > 0)
    valid = positive | negative
    logits = sim.masked_fill(~valid, float("-inf")).reshape(B, Na, B * Nb)
    anchors = pa & positive.reshape(B, Na, -1).any(-1) & negative.reshape(B, Na, -1).any(-1)
    if prior is None:
        pos_logits = sim.masked_fill(~positive, float("-inf")).reshape(B, Na, B * Nb)
        loss = torch.logsumexp(logits, -1) - torch.logsumexp(pos_logits, -1)    # -log(sum pos / sum all)
    else:   # cross-entropy against the positives' weights
        target = torch.where(positive, weight, torch.zeros_like(weight)).reshape(B, Na, B * Nb)
        target = target / target.sum(-1, keepdim=True).clamp_min(1e-12)
        log_p = torch.log_softmax(logits.masked_fill(~anchors[..., None], 0.0), -1)
        loss = -(target * log_p.masked_fill(target == 0, 0.0)).sum(-1)
    return torch.where(anchors, loss, torch.zeros_like(loss)), anchors


def ceoa_loss(events: torch.Tensor, objects: torch.Tensor, event_present: torch.Tensor,
              object_present: torch.Tensor, temperature: float = 0.2, prior: torch.Tensor | None = None) -> torch.Tensor:
    """Pair-level CEOA. ``events`` ``[B, N_e, d]``, ``objects`` ``[B, N_o, d]``; presence ``[B, N_e]`` /
    ``[B, N_o]`` as booleans (or probabilities, thresholded at 0.5); ``prior`` ``[N_e, N_o]`` (see
    :func:`pair_affinity`). Zero when no anchor has both a positive and a negative in the batch."""
    e, o = F.normalize(events, dim=-1, eps=UNIT_EPS), F.normalize(objects, dim=-1, eps=UNIT_EPS)
    pe = event_present > 0.5 if event_present.dtype != torch.bool else event_present
    po = object_present > 0.5 if object_present.dtype != torch.bool else object_present
    l1, a1 = anchor_losses(e, o, pe, po, temperature, prior)
    l2, a2 = anchor_losses(o, e, po, pe, temperature, None if prior is None else prior.T)
    return (l1.sum() + l2.sum()) / max(int(a1.sum() + a2.sum()), 1)
