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
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


def anchor_losses(a: torch.Tensor, b: torch.Tensor, pa: torch.Tensor, pb: torch.Tensor,
                  temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One direction. Anchors ``a`` ``[B, Na, d]`` (unit norm; present where ``pa`` ``[B, Na]``),
    candidates ``b`` ``[B, Nb, d]`` (present where ``pb``). Returns (loss ``[B, Na]``, anchor mask:
    present slots with at least one positive and one negative)."""
    B, Na, Nb = a.shape[0], a.shape[1], b.shape[1]
    sim = torch.einsum("ikd,jld->ikjl", a, b) / temperature             # [B, Na, B, Nb]
    same = torch.eye(B, dtype=torch.bool, device=a.device)[:, None, :, None]
    cand = pb[None, None, :, :].expand(B, Na, B, Nb)                     # candidate present
    # [i, k, j, l] = pa[j, k]: clip j holds the anchor's class too, so its candidates are neither
    # positives nor negatives
    shares = pa.T[None, :, :, None].expand(B, Na, B, Nb)
    positive = cand & same
    negative = cand & ~same & ~shares
    valid = positive | negative
    logits = sim.masked_fill(~valid, float("-inf")).reshape(B, Na, B * Nb)
    pos_logits = sim.masked_fill(~positive, float("-inf")).reshape(B, Na, B * Nb)
    anchors = pa & positive.reshape(B, Na, -1).any(-1) & negative.reshape(B, Na, -1).any(-1)
    loss = torch.logsumexp(logits, -1) - torch.logsumexp(pos_logits, -1)    # -log(sum pos / sum all)
    return torch.where(anchors, loss, torch.zeros_like(loss)), anchors


def ceoa_loss(events: torch.Tensor, objects: torch.Tensor, event_present: torch.Tensor,
              object_present: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """Pair-level CEOA. ``events`` ``[B, N_e, d]``, ``objects`` ``[B, N_o, d]``; presence ``[B, N_e]`` /
    ``[B, N_o]`` as booleans (or probabilities, thresholded at 0.5). Zero when no anchor has both a
    positive and a negative in the batch."""
    e, o = F.normalize(events, dim=-1), F.normalize(objects, dim=-1)
    pe = event_present > 0.5 if event_present.dtype != torch.bool else event_present
    po = object_present > 0.5 if object_present.dtype != torch.bool else object_present
    l1, a1 = anchor_losses(e, o, pe, po, temperature)
    l2, a2 = anchor_losses(o, e, po, pe, temperature)
    return (l1.sum() + l2.sum()) / max(int(a1.sum() + a2.sum()), 1)
