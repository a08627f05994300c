"""CEOA: contrastive event-object alignment.

Clip-level similarity ``s[i, j]`` between the events of clip ``i`` and the objects of clip ``j`` is
fine-grained: each event's best-matching *present* object (cosine gated by the object's presence
in clip ``j``), averaged over events weighted by their presence in clip ``i``; symmetrically each
object's best-matching present event. Gating matters: a max over every slot, present or not, lets
slot identity alone explain the match, so nothing pushes partner events and objects together.
InfoNCE over the batch pulls the diagonal (same clip) up and pushes other clips' pairs down.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


def _weighted_best_match(a: torch.Tensor, b: torch.Tensor, wa: torch.Tensor, wb: torch.Tensor) -> torch.Tensor:
    """a ``[B, Na, d]``, b ``[B, Nb, d]`` (unit norm), presence wa ``[B, Na]``, wb ``[B, Nb]`` -> ``[B, B]``:
    entry (i, j) = sum_k wa[i,k] * max_l wb[j,l] <a[i,k], b[j,l]> / sum_k wa[i,k]."""
    cos = torch.einsum("ikd,jld->ijkl", a, b) * wb[None, :, None, :]
    best = cos.amax(dim=-1)  # [B, B, Na]
    w = wa / wa.sum(dim=-1, keepdim=True).clamp_min(1e-6)
    return torch.einsum("ijk,ik->ij", best, w)


def event_object_similarity(events: torch.Tensor, objects: torch.Tensor,
                            event_weight: torch.Tensor | None = None,
                            object_weight: torch.Tensor | None = None) -> torch.Tensor:
    """``[B, B]`` clip-to-clip similarity of events (rows) and objects (columns), in [-1, 1]."""
    e, o = F.normalize(events, dim=-1), F.normalize(objects, dim=-1)
    we = torch.ones(e.shape[:2], device=e.device) if event_weight is None else event_weight
    wo = torch.ones(o.shape[:2], device=o.device) if object_weight is None else object_weight
    return 0.5 * (_weighted_best_match(e, o, we, wo) + _weighted_best_match(o, e, wo, we).T)


def ceoa_loss(events: torch.Tensor, objects: torch.Tensor, temperature: float = 0.1,
              event_weight: torch.Tensor | None = None, object_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE over the batch on :func:`event_object_similarity` divided by ``temperature``."""
    sim = event_object_similarity(events, objects, event_weight, object_weight) / temperature
    target = torch.arange(sim.shape[0], device=sim.device)
    return 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target))
