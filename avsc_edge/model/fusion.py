"""Cross-attention between event and object slots, and semantic-based fusion (SF)."""
from __future__ import annotations

import torch
from torch import nn

from .attention import AlignedAttention, absent_keys, fused_attention
from .ceoa import UNIT_EPS


class CrossModalAttention(nn.Module):
    """Events attend to objects and objects to events (residual + LayerNorm + feed-forward), so the
    objects that go with a heard event, and the events that go with a seen object, are accentuated.

    The attention runs in the CEOA space (:class:`~avsc_edge.model.attention.AlignedAttention`): an
    event attends to the present objects its embedding is aligned with, so the weights a user reads
    as the explanation are the alignment CEOA trains."""

    def __init__(self, d: int, temperature: float, dropout: float) -> None:
        super().__init__()
        self.event_to_object = AlignedAttention(d, temperature)
        self.object_to_event = AlignedAttention(d, temperature)
        self.norm_e, self.norm_o = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ffn_e = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))
        self.ffn_o = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))
        self.norm_e2, self.norm_o2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

    def forward(self, events: torch.Tensor, objects: torch.Tensor, event_logits: torch.Tensor,
                object_logits: torch.Tensor):
        """Slots and their presence logits -> (events', objects', weights events->objects
        ``[B,Ne,No]``, objects->events ``[B,No,Ne]``; the latter None on the fused inference path,
        which needs only the first as explanation)."""
        eo, oe = self.event_to_object, self.object_to_event
        if eo.fused and not torch.is_grad_enabled():
            pe = eo.project(events, objects, objects, object_logits)
            po = oe.project(objects, events, events, event_logits)
            absent_o, absent_e = absent_keys(object_logits), absent_keys(event_logits)
            # both directions, one kernel call
            out_e, out_o = fused_attention((*pe, absent_o), (*po, absent_e), scale=eo.scale)
            e_att, o_att = eo.merge(out_e), oe.merge(out_o)
            w_eo, w_oe = eo.weights(pe[0], pe[1], absent_o), None
        else:
            e_att, w_eo = eo(events, objects, objects, object_logits)
            o_att, w_oe = oe(objects, events, events, event_logits)
        e = self.norm_e(events + self.drop(e_att))
        o = self.norm_o(objects + self.drop(o_att))
        e = self.norm_e2(e + self.drop(self.ffn_e(e)))
        o = self.norm_o2(o + self.drop(self.ffn_o(o)))
        return e, o, w_eo, w_oe


def pool_slots(emb: torch.Tensor, logits: torch.Tensor, semantic: bool) -> torch.Tensor:
    """``[B, N, d]`` -> ``[B, d]``: presence-weighted mean (semantic) or plain mean over slots."""
    if not semantic:
        return emb.mean(dim=1)
    w = torch.sigmoid(logits).unsqueeze(-1)
    return (w * emb).sum(dim=1) / w.sum(dim=1).clamp_min(1e-6)


def pair_features(events: torch.Tensor, objects: torch.Tensor, event_to_object: torch.Tensor,
                  scale: float) -> torch.Tensor:
    """``[B, N_e, d]`` event slots, ``[B, N_o, d]`` object slots and the attention between them
    ``[B, N_e, N_o]`` -> ``[B, N_e, d]``: each event's unit embedding times (elementwise) the unit
    embedding of the objects it attends to, times ``scale`` (the width ``d``: entries of order 1; a
    Python number, so that exported graphs hold a constant). A heard event
    seen with one object and the same event seen with another give different vectors, so which
    event goes with which object reaches the scene head linearly (a sum of the two cannot)."""
    attended = event_to_object @ objects
    unit = lambda x: nn.functional.normalize(x, dim=-1, eps=UNIT_EPS)  # noqa: E731
    return unit(events) * unit(attended) * scale


class SceneHead(nn.Module):
    """Pooled representation -> scene logits."""

    def __init__(self, d_in: int, d_hidden: int, n_scenes: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(d_hidden, n_scenes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
