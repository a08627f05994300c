"""Multi-head attention written out (QK^T, softmax, V) so that it exports to plain ONNX ops and
returns the attention weights the runtime shows as explanations; at inference on the PyTorch
backend the core runs on the SDK's fused kernels instead (see :func:`fused_attention`)."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..config import RULED_OUT_BELOW
from .ceoa import UNIT_EPS


def fused_attention(*problems: tuple, scale: float) -> list[torch.Tensor]:
    """``softmax(q k^T * scale) v`` for one or two ``(q, k, v)`` or ``(q, k, v, key_padding_mask)``
    problems ``[B, H, L, D]`` (mask ``[B, Lk]``, True = ignore) in one call of the fused kernel:
    C++ (OpenMP) on CPU tensors, CUDA (one launch) on GPU tensors."""
    from .. import kernels

    problems = [tuple(p) + (None,) * (4 - len(p)) for p in problems]
    q0 = problems[0][0]
    if q0.is_cuda:
        stream = torch.cuda.current_stream(q0.device).cuda_stream
        prepared = [tuple(None if t is None else t.contiguous() for t in p) + (None,) for p in problems]
        return kernels.bidirectional_attention_cuda(prepared[0], prepared[1] if len(prepared) > 1 else None,
                                                    scale, stream)
    arrays = [tuple(None if t is None else t.detach().contiguous().numpy() for t in p) for p in problems]
    if len(arrays) == 1:
        return [torch.from_numpy(kernels.cross_attention(*arrays[0], scale=scale))]
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


ABSENT_BIAS = -1e3          # added to a ruled-out key's logit: exp(-1e3 + ...) is exactly 0 (FP32 and FP16)
ABSENT_LOGIT = math.log(RULED_OUT_BELOW / (1 - RULED_OUT_BELOW))


def absent_keys(presence_logits: torch.Tensor) -> torch.Tensor:
    """``[B, Lk]`` presence logits -> True where a key is ruled out (presence < ``config.RULED_OUT_BELOW``),
    but only in rows where some key is not: a row with every key ruled out attends over all (the
    explanation then shows nothing, see :class:`~avsc_edge.runtime.prediction.Prediction`)."""
    out = presence_logits < ABSENT_LOGIT
    return out & (~out).any(dim=-1, keepdim=True)


class AlignedAttention(nn.Module):
    """Queries ``[B, Lq, d]`` attend over keys ``[B, Lk, d]`` in the CEOA space: the logit of a pair
    is their cosine similarity over the CEOA temperature — the very quantity the CEOA loss trains —
    plus the key's log-presence, so a key the model barely sees is down-weighted and one it rules
    out (:func:`absent_keys`) gets no attention at all. One head; values and output projected as
    usual. Returns (out, weights ``[B, Lq, Lk]``).

    The log-presence rides in the dot product (queries ``[q/|q|, 1]``, keys ``[k/|k|, tau log p]``,
    values padded with a zero column), so the fused kernels compute exactly the same logits."""

    def __init__(self, d: int, temperature: float) -> None:
        super().__init__()
        self.temperature = temperature
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)
        self.fused = False

    @property
    def scale(self) -> float:
        return 1.0 / self.temperature

    def project(self, q: torch.Tensor, k: torch.Tensor, kv: torch.Tensor,
                kv_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries and keys in the CEOA space (``q``, ``k``: the slot embeddings), values from the
        slots ``kv`` -> one head ``[B, 1, L, d + 1]`` each (see the class docstring)."""
        qn, kn = nn.functional.normalize(q, dim=-1, eps=UNIT_EPS), nn.functional.normalize(k, dim=-1, eps=UNIT_EPS)
        bias = nn.functional.logsigmoid(kv_logits)[..., None] * self.temperature
        v = self.v_proj(kv)
        return (torch.cat([qn, torch.ones_like(qn[..., :1])], -1)[:, None], torch.cat([kn, bias], -1)[:, None],
                torch.cat([v, torch.zeros_like(v[..., :1])], -1)[:, None])

    def logits(self, qh: torch.Tensor, kh: torch.Tensor, absent: torch.Tensor | None) -> torch.Tensor:
        scores = qh @ kh.transpose(-1, -2) * self.scale
        if absent is not None:
            scores = scores.masked_fill(absent[:, None, None, :], ABSENT_BIAS)
        return scores

    def weights(self, qh: torch.Tensor, kh: torch.Tensor, absent: torch.Tensor | None) -> torch.Tensor:
        return torch.softmax(self.logits(qh, kh, absent), dim=-1)[:, 0]

    def merge(self, out_h: torch.Tensor) -> torch.Tensor:
        return self.out_proj(out_h[:, 0, :, :-1])

    def forward(self, q: torch.Tensor, k: torch.Tensor, kv: torch.Tensor, kv_logits: torch.Tensor):
        qh, kh, vh = self.project(q, k, kv, kv_logits)
        weights = self.weights(qh, kh, absent_keys(kv_logits))
        return self.merge((weights @ vh[:, 0])[:, None]), weights
