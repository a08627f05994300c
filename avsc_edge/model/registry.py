"""The PyTorch side of the backbone registry (:mod:`avsc_edge.backbones`): each named backbone's
module, and its tagger (the backbone with the checkpoint's own classification head)."""
from __future__ import annotations

from torch import nn

from ..backbones import audio_backbone, visual_backbone
from ..config import ModelConfig
from .backbones import AudioBackbone, VisualBackbone
from .mobilenet import MobileNetAudio, MobileNetVisual
from .mobilenet_v1 import MobileNetV1Visual


def build_audio_backbone(model: ModelConfig, n_mels: int) -> nn.Module:
    """Log-mel ``[B, 1, n_mels, T]`` -> time tokens ``[B, T // stride, C]``."""
    name = audio_backbone(model).name
    if name == "mn":
        return MobileNetAudio(model.audio_width)
    return AudioBackbone(n_mels, model.audio_channels)


def build_visual_backbone(model: ModelConfig) -> nn.Module:
    """Frames ``[N, 3, S, S]`` -> spatial tokens ``[N, L, C]``."""
    name = visual_backbone(model).name
    if name.startswith("mobilenet_v3_"):
        return MobileNetVisual(name.removeprefix("mobilenet_v3_"))
    if name == "mobilenet_v1_025":
        return MobileNetV1Visual(0.25)
    return VisualBackbone(model.visual_channels, model.visual_blocks)
