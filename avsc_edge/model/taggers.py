"""Pretrained taggers as teachers: what the paper's "audio events" and "visual objects" are.

* :class:`AudioTagger`: a PANNs Cnn14-style network (the audio backbone and PANNs' head: max + mean
  over time, ``fc1``, ``fc_audioset``, sigmoid) -> 527 AudioSet event probabilities;
  :class:`MobileNetAudioTagger`: EfficientAT's ``mn`` with its ``mlp`` head, the same 527 classes;
* :class:`ImageTagger`: a torchvision ResNet (the visual backbone, global average pooling, ``fc``,
  softmax) -> 1000 ImageNet class probabilities per frame; :class:`MobileNetImageTagger`:
  torchvision's MobileNetV3 with its ``classifier``; an object is present in a clip with the
  highest probability it reaches in any of the clip's frames.

Built from the checkpoints a user already has (``Cnn14.pth``, ``mn10_as_mAP_471.pt``,
``resnet18.pth``, ``mobilenet_v3_large-8738ca79.pth``; weights only); which tagger a model uses
follows its backbones (:mod:`avsc_edge.backbones`);
:func:`teacher_presence` turns them into soft presence targets for a dataset without tags (real
TAU): the presence that semantic fusion pools with and CEOA gates with.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from ..backbones import Backbone, audio_backbone, visual_backbone
from ..config import ModelConfig
from ..errors import ArtifactError
from .backbones import AudioBackbone, VisualBackbone
from .mobilenet import MobileNetAudio, MobileNetVisual, classifier, head_channels
from .mobilenet_v1 import MobileNetV1ImageTagger
from .pretrained import load_into, read_state

AUDIOSET_CLASSES = 527
IMAGENET_CLASSES = 1000


class AudioTagger(nn.Module):
    def __init__(self, n_mels: int, channels: tuple[int, ...], classes: int = AUDIOSET_CLASSES) -> None:
        super().__init__()
        self.backbone = AudioBackbone(n_mels, channels)
        c = channels[-1]
        self.fc1 = nn.Linear(c, c)
        self.fc_audioset = nn.Linear(c, classes)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        tokens = self.backbone(log_mel)                          # [B, T', C]
        x = tokens.amax(dim=1) + tokens.mean(dim=1)
        return torch.sigmoid(self.fc_audioset(torch.relu(self.fc1(x))))


class ImageTagger(nn.Module):
    def __init__(self, channels: tuple[int, ...], blocks: tuple[int, ...], classes: int = IMAGENET_CLASSES) -> None:
        super().__init__()
        self.backbone = VisualBackbone(channels, blocks)
        self.fc = nn.Linear(channels[-1], classes)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc(self.backbone(frames).mean(dim=1)), dim=-1)


class MobileNetAudioTagger(nn.Module):
    """EfficientAT's ``mn`` as its ``inference.py`` runs it: ``features`` over the whole log-mel,
    the ``mlp`` head (pooling inside ``classifier``), sigmoid."""

    def __init__(self, width: float, classes: int = AUDIOSET_CLASSES) -> None:
        super().__init__()
        self.backbone = MobileNetAudio(width)
        self.classifier = classifier(self.backbone.out_channels, head_channels("large", width), classes, pools=True)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.classifier(self.backbone.features(log_mel)))


class MobileNetImageTagger(nn.Module):
    """torchvision's MobileNetV3: ``features``, average pooling, ``classifier``, softmax."""

    def __init__(self, table: str, classes: int = IMAGENET_CLASSES) -> None:
        super().__init__()
        self.backbone = MobileNetVisual(table)
        self.classifier = classifier(self.backbone.out_channels, head_channels(table, 1.0), classes, pools=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        pooled = self.backbone.features(frames).mean(dim=(2, 3))
        return torch.softmax(self.classifier(pooled), dim=-1)


def _load(tagger: nn.Module, path: str | os.PathLike, entry: Backbone) -> nn.Module:
    heads, layout = entry.heads, entry.layout
    front_ends = tuple(e for e in entry.extras if not e.startswith(heads))
    state = read_state(path)
    missing = [h for h in heads if f"{h}.weight" not in state]
    if missing:
        raise ArtifactError(f"{path}: no tagger head {missing} (a {layout} checkpoint has them); pass the full "
                            "tagger checkpoint, not a backbone-only one")
    report = load_into(tagger, {**{f"backbone.{k}": v for k, v in state.items()}, **state}, strict_shapes=True)
    absent = [k for k in report.missing if not k.endswith("num_batches_tracked")]
    if absent:
        raise ArtifactError(f"{path}: the {layout} checkpoint lacks {absent[:5]}; is it the right architecture?")
    loaded = {k.removeprefix("backbone.") for k in report.loaded}
    surplus = [k for k in state if k not in loaded and not k.startswith(front_ends)]
    if surplus:
        raise ArtifactError(f"{path}: the checkpoint has layers a {layout} tagger does not ({surplus[:3]}, "
                            f"{len(surplus)} in all): it is a different architecture")
    return tagger.eval()


def _classes(state: dict, entry: Backbone, default: int) -> int:
    last = f"{entry.heads[-1]}.weight"
    return state[last].shape[0] if last in state else default


def load_audio_tagger(path: str | os.PathLike, model: ModelConfig, n_mels: int) -> nn.Module:
    """The audio tagger of ``model``'s audio backbone from a full checkpoint: PANNs
    (``{"model": {"bn0.*", "conv_block1.*", ..., "fc1.*", "fc_audioset.*"}}``) or EfficientAT
    (``features.*``, ``classifier.2.*``, ``classifier.5.*``)."""
    entry = audio_backbone(model)
    classes = _classes(read_state(path), entry, AUDIOSET_CLASSES)
    tagger = MobileNetAudioTagger(model.audio_width, classes) if entry.name == "mn" else \
        AudioTagger(n_mels, model.audio_channels, classes)
    return _load(tagger, path, entry)


def load_image_tagger(path: str | os.PathLike, model: ModelConfig) -> nn.Module:
    """The image tagger of ``model``'s visual backbone from a full torchvision checkpoint (ResNet:
    ``conv1.*``, ``layerN.M.*``, ``fc.*``; MobileNetV3: ``features.*``, ``classifier.0/3.*``)."""
    entry = visual_backbone(model)
    classes = _classes(read_state(path), entry, IMAGENET_CLASSES)
    if entry.name == "mobilenet_v1_025":
        tagger = MobileNetV1ImageTagger(0.25, classes)
    elif entry.name.startswith("mobilenet_v3_"):
        tagger = MobileNetImageTagger(entry.name.removeprefix("mobilenet_v3_"), classes)
    else:
        tagger = ImageTagger(model.visual_channels, model.visual_blocks, classes)
    return _load(tagger, path, entry)


@torch.no_grad()
def teacher_presence(log_mel: np.ndarray | None, frames: np.ndarray | None, audio: nn.Module | None,
                     image: nn.Module | None, batch: int = 16, device: str = "cpu",
                     progress=None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Soft presence of every tagger class per clip: (events ``[N, 527]``, objects ``[N, 1000]``)."""
    events = objects = None
    if audio is not None and log_mel is not None:
        audio = audio.to(device)
        events = np.concatenate([audio(torch.from_numpy(log_mel[s:s + batch]).to(device)).cpu().numpy()
                                 for s in range(0, len(log_mel), batch)])
        if progress:
            progress("audio tagger")
    if image is not None and frames is not None:
        image = image.to(device)
        n, f = frames.shape[:2]
        flat = frames.reshape(n * f, *frames.shape[2:])
        probs = np.concatenate([image(torch.from_numpy(flat[s:s + batch * f]).to(device)).cpu().numpy()
                                for s in range(0, len(flat), batch * f)])
        objects = probs.reshape(n, f, -1).max(axis=1)
        if progress:
            progress("image tagger")
    return events, objects
