"""The audio-event and visual-object branches: backbone tokens -> one embedding per event / object
slot (learned slot queries attending over the tokens) and per-slot presence logits."""
from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from .attention import MultiHeadAttention
from .registry import build_audio_backbone, build_visual_backbone


class SlotPooling(nn.Module):
    """``n_slots`` learned queries attend over tokens ``[B, L, C]`` -> embeddings ``[B, n_slots, d]``
    and presence logits ``[B, n_slots]`` (slot ``i`` stands for vocabulary entry ``i``)."""

    def __init__(self, in_channels: int, d: int, heads: int, n_slots: int, dropout: float) -> None:
        super().__init__()
        self.proj = nn.Linear(in_channels, d)
        self.queries = nn.Parameter(torch.randn(n_slots, d) * 0.02)
        self.attn = MultiHeadAttention(d, heads)
        self.norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)
        self.presence_weight = nn.Parameter(torch.randn(n_slots, d) * 0.02)
        self.presence_bias = nn.Parameter(torch.zeros(n_slots))

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.proj(tokens)
        q = self.queries.unsqueeze(0).expand(x.shape[0], -1, -1)
        attended, _ = self.attn(q, x, need_weights=False)
        emb = self.norm(q + self.drop(attended))
        logits = (emb * self.presence_weight).sum(-1) + self.presence_bias
        return emb, logits


class AudioEventBranch(nn.Module):
    """Log-mel ``[B, 1, n_mels, T]`` -> event embeddings ``[B, N_e, d]`` and logits ``[B, N_e]``."""

    def __init__(self, cfg: ModelConfig, n_mels: int) -> None:
        super().__init__()
        self.backbone = build_audio_backbone(cfg, n_mels)
        self.slots = SlotPooling(self.backbone.out_channels, cfg.d, cfg.heads, cfg.n_events, cfg.dropout)

    def forward(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.slots(self.backbone(log_mel))


class VisualObjectBranch(nn.Module):
    """Single frames ``[N, 3, S, S]`` -> object embeddings ``[N, N_o, d]`` and logits ``[N, N_o]``;
    a window's frames are pooled by :func:`pool_frames`."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.backbone = build_visual_backbone(cfg)
        self.slots = SlotPooling(self.backbone.out_channels, cfg.d, cfg.heads, cfg.n_objects, cfg.dropout)

    def encode_frames(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.slots(self.backbone(frames))


def pool_frames(emb: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame slots ``[B, F, N_o, d]`` / ``[B, F, N_o]`` -> the window's: embeddings averaged over
    frames, presence logits max-pooled (an object seen in any frame is present)."""
    return emb.mean(dim=1), logits.amax(dim=1)
