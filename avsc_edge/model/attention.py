"""Multi-head attention written out (QK^T, softmax, V) so that it exports to plain ONNX ops and
returns the attention weights the runtime shows as explanations; at inference on the PyTorch
backend the core runs on the SDK's fused kernels instead (see :func:`fused_attention`)."""
from __future__ import annotations

import math

import torch
from torch import nn


def fused_attention(*problems: tuple[torch.Tensor, torch.Tensor, torch.Tensor], scale: float) -> list[torch.Tensor]:
    """``softmax(q k^T * scale) v`` for one or two ``(q, k, v)`` problems ``[B, H, L, D]`` in one
    call of the fused kernel: C++ (OpenMP) on CPU tensors, CUDA (one launch) on GPU tensors."""
    from .. import kernels

    q0 = problems[0][0]
    if q0.is_cuda:
        stream = torch.cuda.current_stream(q0.device).cuda_stream
        prepared = [tuple(t.contiguous() for t in p) + (None, None) for p in problems]
        return kernels.bidirectional_attention_cuda(prepared[0], prepared[1] if len(prepared) > 1 else None,
                                                    scale, stream)
    arrays = [tuple(t.detach().contiguous().numpy() for t in p) + (None,) for p in problems]
    if len(arrays) == 1:
        return [torch.from_numpy(kernels.cross_attention(*arrays[0][:3], scale=scale))]
    return [torch.from_numpy(o) for o in kernels.bidirectional_attention(arrays[0], arrays[1], scale=scale)]


class MultiHeadAttention(nn.Module):
    """Queries ``[B, Lq, d]`` attend over keys/values ``[B, Lk, d]``; returns (out, weights ``[B, Lq, Lk]``).

    The core is ``softmax(Q K^T / sqrt(d_head)) V`` per head, i.e.
    ``torch.nn.functional.scaled_dot_product_attention`` and ``avsc_edge.kernels.cross_attention``.
    With ``fused`` set (PyTorch-backend inference) and no weights needed, the kernel computes it.
    """

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads, self.d_head = heads, d // heads
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)
        self.fused = False

    @property
    def scale(self) -> float:
        return 1.0 / math.sqrt(self.d_head)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.reshape(b, n, self.heads, self.d_head).transpose(1, 2)

    def project(self, q: torch.Tensor, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.split(self.q_proj(q)), self.split(self.k_proj(kv)), self.split(self.v_proj(kv))

    def weights(self, qh: torch.Tensor, kh: torch.Tensor) -> torch.Tensor:
        return torch.softmax(qh @ kh.transpose(-1, -2) * self.scale, dim=-1)

    def merge(self, out_h: torch.Tensor) -> torch.Tensor:
        b, _, n, _ = out_h.shape
        return self.out_proj(out_h.transpose(1, 2).reshape(b, n, -1))

    def forward(self, q: torch.Tensor, kv: torch.Tensor, need_weights: bool = True):
        qh, kh, vh = self.project(q, kv)
        if self.fused and not need_weights and not torch.is_grad_enabled():
            return self.merge(fused_attention((qh, kh, vh), scale=self.scale)[0]), None
        weights = self.weights(qh, kh)
        return self.merge(weights @ vh), weights.mean(dim=1)
