"""The whole CEOA + SF model, defined once as parts that every graph and backend is built from:

* :meth:`AVSCModel.audio_tokens` log-mel -> time tokens (the CNN; streamed incrementally),
  :meth:`AVSCModel.audio_slots` time tokens -> event embeddings + presence logits,
  :meth:`AVSCModel.encode_audio` both;
* :meth:`AVSCModel.encode_frames` single frames -> object embeddings + presence logits per frame;
* :meth:`AVSCModel.heads` per-window event slots and per-frame object slots -> frame pooling,
  cross-attention, (semantic) fusion, and the fused / audio-only / visual-only scene logits.

``forward`` is these parts in sequence; the exported full graph, the split graphs for streaming and
the PyTorch backend call the same methods.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..config import ArtifactInfo, ModelConfig
from ..errors import ArtifactError, InputError
from ..formats.artifact import SCENE_HEADS, modalities_of
from .branches import AudioEventBranch, VisualObjectBranch, pool_frames
from .ceoa import ceoa_loss
from .fusion import CrossModalAttention, SceneHead, pair_features, pool_slots


@dataclass
class ModelOutput:
    """Everything one forward pass produces. Tensors are None where a modality was absent.

    ``scene_logits`` comes from the fused head when both modalities are present, else from the
    single-modality head of the one present; ``modalities`` says which (the choice is
    ``formats.artifact.SCENE_HEADS``, the same for every backend).
    """

    scene_logits: torch.Tensor
    modalities: tuple[str, ...]
    audio_logits: torch.Tensor | None = None
    visual_logits: torch.Tensor | None = None
    event_logits: torch.Tensor | None = None
    object_logits: torch.Tensor | None = None
    event_emb: torch.Tensor | None = None
    object_emb: torch.Tensor | None = None
    event_to_object: torch.Tensor | None = None
    object_to_event: torch.Tensor | None = None


class AVSCModel(nn.Module):
    """CEOA + SF audio-visual scene classifier; ``cfg.variant`` selects the ablation."""

    def __init__(self, cfg: ModelConfig, n_mels: int) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d
        self.audio = AudioEventBranch(cfg, n_mels) if cfg.uses_audio else None
        self.visual = VisualObjectBranch(cfg) if cfg.uses_visual else None
        self.audio_head = SceneHead(d, d, cfg.n_scenes, cfg.dropout) if cfg.uses_audio else None
        self.visual_head = SceneHead(d, d, cfg.n_scenes, cfg.dropout) if cfg.uses_visual else None
        both = cfg.uses_audio and cfg.uses_visual
        self.cross = CrossModalAttention(d, cfg.ceoa_temperature, cfg.dropout) if both else None
        fused_width = (3 if cfg.uses_sf else 2) * d     # SF adds the pooled event-object pair features
        self.fusion_head = SceneHead(fused_width, d, cfg.n_scenes, cfg.dropout) if both else None

    def use_fused_attention(self, on: bool = True) -> "AVSCModel":
        """Inference only: run the attention cores on the SDK's fused kernels (C++ on CPU, CUDA on
        GPU) instead of PyTorch ops. Training and export keep the PyTorch ops (gradients, ONNX)."""
        from .attention import AlignedAttention, MultiHeadAttention

        for m in self.modules():
            if isinstance(m, (MultiHeadAttention, AlignedAttention)):
                m.fused = on
        return self

    # -- parts -------------------------------------------------------------------------------
    def audio_tokens(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Log-mel ``[B, 1, n_mels, T]`` -> time tokens ``[B, ceil(T / 2**blocks), C]``."""
        return self.audio.backbone(log_mel)

    def audio_slots(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Time tokens -> event embeddings ``[B, N_e, d]`` and presence logits ``[B, N_e]``."""
        return self.audio.slots(tokens)

    def encode_audio(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.audio_slots(self.audio_tokens(log_mel))

    def encode_frames(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Single frames ``[N, 3, S, S]`` -> object embeddings ``[N, N_o, d]`` and logits ``[N, N_o]``."""
        return self.visual.encode_frames(frames)

    def encode_window_frames(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows of frames ``[B, F, 3, S, S]`` -> per-frame slots ``[B, F, N_o, d]`` / ``[B, F, N_o]``."""
        b, f = frames.shape[:2]
        fe, fl = self.encode_frames(frames.flatten(0, 1))
        return fe.reshape(b, f, *fe.shape[1:]), fl.reshape(b, f, -1)

    def heads(self, event_emb: torch.Tensor | None, event_logits: torch.Tensor | None,
              frame_emb: torch.Tensor | None, frame_logits: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Per-window event slots and per-frame object slots ``[B, F, N_o, d]`` / ``[B, F, N_o]``
        -> every head's logits, named as the graphs' outputs (``scene_logits``: the fused head,
        present only with both modalities)."""
        semantic = self.cfg.uses_sf
        out: dict[str, torch.Tensor] = {}
        if event_emb is not None and self.audio is not None:
            out.update(event_emb=event_emb, event_logits=event_logits,
                       audio_logits=self.audio_head(pool_slots(event_emb, event_logits, semantic)))
        if frame_emb is not None and self.visual is not None:
            o, ol = pool_frames(frame_emb, frame_logits)
            out.update(object_emb=o, object_logits=ol, visual_logits=self.visual_head(pool_slots(o, ol, semantic)))
        if "event_emb" in out and "object_emb" in out:
            e2, o2, w_eo, w_oe = self.cross(out["event_emb"], out["object_emb"], out["event_logits"],
                                            out["object_logits"])
            parts = [pool_slots(e2, out["event_logits"], semantic), pool_slots(o2, out["object_logits"], semantic)]
            if semantic:
                parts.append(pool_slots(pair_features(out["event_emb"], out["object_emb"], w_eo, float(self.cfg.d)), out["event_logits"],
                                        semantic))
            fused = torch.cat(parts, dim=-1)
            out.update(scene_logits=self.fusion_head(fused), event_to_object=w_eo, object_to_event=w_oe)
        return out

    # -- the whole model ---------------------------------------------------------------------
    def forward(self, log_mel: torch.Tensor | None = None, frames: torch.Tensor | None = None) -> ModelOutput:
        if log_mel is not None and self.audio is None:
            log_mel = None
        if frames is not None and self.visual is None:
            frames = None
        if log_mel is None and frames is None:
            raise InputError(f"model variant {self.cfg.variant!r} got no usable input modality")
        e = el = fe = fl = None
        if log_mel is not None:
            e, el = self.encode_audio(log_mel)
        if frames is not None:
            fe, fl = self.encode_window_frames(frames)
        out = self.heads(e, el, fe, fl)
        modalities = modalities_of(e is not None, fe is not None)
        out["scene_logits"] = out[SCENE_HEADS[modalities]]
        return ModelOutput(modalities=modalities, **out)

    def loss(self, out: ModelOutput, labels: torch.Tensor, event_tags: torch.Tensor | None = None,
             object_tags: torch.Tensor | None = None,
             pair_prior: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Scene CE + single-modality CE + lambda * CEOA + presence BCE; returns (total, parts).

        Presence targets (``event_tags`` / ``object_tags``, soft or hard) are the dataset's tags or
        the taggers' pseudo-labels; CEOA's positives and negatives are the slots they mark present,
        weighted by ``pair_prior`` (:func:`~avsc_edge.model.ceoa.pair_affinity`) when given."""
        cfg = self.cfg
        parts = {"scene": F.cross_entropy(out.scene_logits, labels)}
        if len(out.modalities) == 2:
            parts["single"] = cfg.single_modality_weight * (
                F.cross_entropy(out.audio_logits, labels) + F.cross_entropy(out.visual_logits, labels))
            if cfg.uses_ceoa and labels.shape[0] > 1:
                pe = event_tags if event_tags is not None else torch.sigmoid(out.event_logits).detach()
                po = object_tags if object_tags is not None else torch.sigmoid(out.object_logits).detach()
                parts["ceoa"] = cfg.ceoa_weight * ceoa_loss(out.event_emb, out.object_emb, pe, po,
                                                            cfg.ceoa_temperature, pair_prior)
        if event_tags is not None and out.event_logits is not None:
            parts["event_tags"] = cfg.tag_weight * F.binary_cross_entropy_with_logits(out.event_logits, event_tags)
        if object_tags is not None and out.object_logits is not None:
            parts["object_tags"] = cfg.tag_weight * F.binary_cross_entropy_with_logits(out.object_logits, object_tags)
        total = sum(parts.values())
        return total, {k: float(v.detach()) for k, v in parts.items()}


def from_checkpoint(path) -> tuple[AVSCModel, ArtifactInfo]:
    """The one door from a ``.safetensors`` checkpoint to the PyTorch model (eval mode) and the
    metadata it carries; weights that do not fit the model config they carry are an ArtifactError."""
    from ..formats.checkpoint import load_checkpoint

    weights, info = load_checkpoint(path)
    damaged = [k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if damaged:
        raise ArtifactError(f"{path}: {len(damaged)} weight tensors hold NaN or inf ({damaged[:3]}); the checkpoint is "
                            "damaged")
    model = AVSCModel(info.model_config, info.feature_config.n_mels)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise ArtifactError(f"{path}: weights do not match the model config they carry; an av_ceoa_sf checkpoint "
                            f"trained before avsc-edge 0.4.2 (SF pair features) needs re-training ({exc})") from exc
    return model.eval(), info
