"""Multi-head attention written out (QK^T, softmax, V) so that it exports to plain ONNX ops and
returns the attention weights the runtime shows as explanations."""
from __future__ import annotations

import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    """Queries ``[B, Lq, d]`` attend over keys/values ``[B, Lk, d]``; returns (out, weights ``[B, Lq, Lk]``).

    The core is ``softmax(Q K^T / sqrt(d_head)) V`` per head, i.e.
    ``torch.nn.functional.scaled_dot_product_attention`` and ``avsc_edge.kernels.cross_attention``.
    """

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads, self.d_head = heads, d // heads
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.reshape(b, n, self.heads, self.d_head).transpose(1, 2)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        qh, kh, vh = self.split(self.q_proj(q)), self.split(self.k_proj(kv)), self.split(self.v_proj(kv))
        weights = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(self.d_head), dim=-1)
        out = (weights @ vh).transpose(1, 2).reshape(q.shape[0], q.shape[1], -1)
        return self.out_proj(out), weights.mean(dim=1)
