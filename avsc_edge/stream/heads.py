"""The model's heads in NumPy, for streaming on cached per-modality embeddings: cross-attention
(through the fused kernel, both directions in one call), semantic pooling and the scene MLPs.
Weights come from the checkpoint's state dict (no torch needed). Equal to the PyTorch modules in
eval mode (tested against them)."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..config import ModelConfig
from ..errors import ArtifactError

LN_EPS = 1e-5


def _linear(x: np.ndarray, w: dict, name: str) -> np.ndarray:
    return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]


def _layer_norm(x: np.ndarray, w: dict, name: str) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + LN_EPS) * w[f"{name}.weight"] + w[f"{name}.bias"]


def _mlp(x: np.ndarray, w: dict, name: str) -> np.ndarray:
    """Linear -> ReLU -> (dropout) -> Linear, as SceneHead / the FFNs are laid out."""
    idx = sorted({int(k[len(name) + 1:].split(".")[0]) for k in w if k.startswith(name + ".")})
    return _linear(np.maximum(_linear(x, w, f"{name}.{idx[0]}"), 0), w, f"{name}.{idx[-1]}")


def pool(emb: np.ndarray, logits: np.ndarray, semantic: bool) -> np.ndarray:
    if not semantic:
        return emb.mean(axis=1)
    p = 1.0 / (1.0 + np.exp(-logits))[..., None]
    return (p * emb).sum(axis=1) / np.maximum(p.sum(axis=1), 1e-6)


class Heads:
    """Scene heads on slot embeddings: ``fused``, ``audio_only``, ``visual_only``."""

    PREFIXES = ("cross.", "fusion_head.", "audio_head.", "visual_head.")

    def __init__(self, weights: dict[str, np.ndarray], cfg: ModelConfig) -> None:
        self.w = {k: np.asarray(v, np.float32) for k, v in weights.items() if k.startswith(self.PREFIXES)}
        missing = [p for p in self.PREFIXES if not any(k.startswith(p) for k in self.w)]
        if missing:
            raise ArtifactError(f"streaming needs an audio-visual model; weights lack {missing}")
        self.cfg = cfg
        self.heads, self.dh = cfg.heads, cfg.d // cfg.heads

    def _split(self, x: np.ndarray) -> np.ndarray:
        b, n, _ = x.shape
        return np.ascontiguousarray(x.reshape(b, n, self.heads, self.dh).transpose(0, 2, 1, 3))

    def _merge(self, x: np.ndarray) -> np.ndarray:
        b, _, n, _ = x.shape
        return x.transpose(0, 2, 1, 3).reshape(b, n, -1)

    def cross(self, events: np.ndarray, objects: np.ndarray, explain: bool = True):
        """-> (events', objects', event->object weights [B,Ne,No] or None)."""
        w = self.w
        proj = {}
        for name, q_src, kv_src in (("event_to_object", events, objects), ("object_to_event", objects, events)):
            p = f"cross.{name}"
            proj[name] = tuple(self._split(_linear(x, w, f"{p}.{k}_proj").astype(np.float32))
                               for k, x in (("q", q_src), ("k", kv_src), ("v", kv_src)))
        eo, oe = kernels.bidirectional_attention(proj["event_to_object"] + (None,), proj["object_to_event"] + (None,))
        e_att = _linear(self._merge(eo), w, "cross.event_to_object.out_proj")
        o_att = _linear(self._merge(oe), w, "cross.object_to_event.out_proj")
        e = _layer_norm(events + e_att, w, "cross.norm_e")
        o = _layer_norm(objects + o_att, w, "cross.norm_o")
        e = _layer_norm(e + _mlp(e, w, "cross.ffn_e"), w, "cross.norm_e2")
        o = _layer_norm(o + _mlp(o, w, "cross.ffn_o"), w, "cross.norm_o2")
        weights = None
        if explain:
            q, k, _ = proj["event_to_object"]
            s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(self.dh)
            s = np.exp(s - s.max(-1, keepdims=True))
            weights = (s / s.sum(-1, keepdims=True)).mean(axis=1)
        return e, o, weights

    def fused(self, event_emb, event_logits, object_emb, object_logits, explain: bool = True):
        """-> (scene logits [B, n_scenes], event->object weights or None)."""
        e, o, weights = self.cross(event_emb, object_emb, explain)
        sf = self.cfg.uses_sf
        x = np.concatenate([pool(e, event_logits, sf), pool(o, object_logits, sf)], axis=-1)
        return _mlp(x, self.w, "fusion_head.net"), weights

    def audio_only(self, event_emb, event_logits) -> np.ndarray:
        return _mlp(pool(event_emb, event_logits, self.cfg.uses_sf), self.w, "audio_head.net")

    def visual_only(self, object_emb, object_logits) -> np.ndarray:
        return _mlp(pool(object_emb, object_logits, self.cfg.uses_sf), self.w, "visual_head.net")
