"""The genuine pretrained taggers the package ships (EfficientAT ``mn04_as``, Google's MobileNetV1
0.25/128), as the graphs the runtime runs without torch (``scripts/bundle_weights.py`` exports
them into ``avsc_edge/weights/``):

* ``audio_tagger``: a log-mel of any length -> the 527 AudioSet logits and the clip embedding
  (the features pooled over frequency and time), exactly as EfficientAT's ``inference.py`` tags a
  whole clip;
* the parts of a few-shot model (``avsc-edge adapt``), laid out as every artifact's split graphs:
  ``audio_tokens`` (the features as time tokens on the stream's 32-frame grid), ``audio_slots``
  (tokens -> one embedding slot and the AudioSet logits), ``frames`` (a frame -> one embedding
  slot and the ImageNet log-odds, so that a sigmoid gives the tagger's own probability back).
"""
from __future__ import annotations

import torch
from torch import nn

from .mobilenet_v1 import MobileNetV1ImageTagger
from .taggers import MobileNetAudioTagger

AUDIO_WIDTH = 0.4          # mn04_as
VISUAL_WIDTH = 0.25        # MobileNetV1 0.25/128
EPS = 1e-7                 # probabilities are kept inside (EPS, 1 - EPS) before the log-odds


class GenuineTaggers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.audio = MobileNetAudioTagger(AUDIO_WIDTH)
        self.visual = MobileNetV1ImageTagger(VISUAL_WIDTH)

    def _audio_head(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.audio.classifier[2:](pooled)   # after the head's own pooling and flattening

    def audio_tagger(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, 1, n_mels, T]`` (any T) -> (AudioSet logits ``[B, 527]``, embedding ``[B, C]``)."""
        pooled = self.audio.backbone.features(log_mel).mean(dim=(2, 3))
        return self._audio_head(pooled), pooled

    def audio_tokens(self, log_mel: torch.Tensor) -> torch.Tensor:
        return self.audio.backbone(log_mel)

    def audio_slots(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = tokens.mean(dim=1)
        return pooled[:, None], self._audio_head(pooled)

    def frames(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[N, 3, S, S]`` -> (embedding slot ``[N, 1, C]``, ImageNet log-odds ``[N, 1000]``)."""
        pooled = self.visual.backbone.features(frame).mean(dim=(2, 3))
        p = torch.softmax(self.visual.classifier(pooled), dim=-1)[:, 1:].clamp(EPS, 1 - EPS)
        return pooled[:, None], torch.log(p) - torch.log1p(-p)
