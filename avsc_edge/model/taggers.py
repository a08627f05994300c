"""Pretrained taggers as teachers: what the paper's "audio events" and "visual objects" are.

* :class:`AudioTagger`: a PANNs Cnn14-style network (the audio backbone and PANNs' head: max + mean
  over time, ``fc1``, ``fc_audioset``, sigmoid) -> 527 AudioSet event probabilities;
* :class:`ImageTagger`: a torchvision ResNet (the visual backbone, global average pooling, ``fc``,
  softmax) -> 1000 ImageNet class probabilities per frame; an object is present in a clip with the
  highest probability it reaches in any of the clip's frames.

Built from the checkpoints a user already has (``Cnn14.pth``, ``resnet18.pth``; weights only);
:func:`teacher_presence` turns them into soft presence targets for a dataset without tags (real
TAU): the presence that semantic fusion pools with and CEOA gates with.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from ..errors import ArtifactError
from .backbones import AudioBackbone, VisualBackbone
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


def _load(tagger: nn.Module, path: str | os.PathLike, heads: tuple[str, ...], layout: str,
          front_ends: tuple[str, ...] = ()) -> nn.Module:
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


def load_audio_tagger(path: str | os.PathLike, n_mels: int, channels: tuple[int, ...]) -> AudioTagger:
    """A PANNs checkpoint (``{"model": {"bn0.*", "conv_block1.*", ..., "fc1.*", "fc_audioset.*"}}``)."""
    state = read_state(path)
    classes = state["fc_audioset.weight"].shape[0] if "fc_audioset.weight" in state else AUDIOSET_CLASSES
    return _load(AudioTagger(n_mels, channels, classes), path, ("fc1", "fc_audioset"), "PANNs Cnn14",
                 ("spectrogram_extractor.", "logmel_extractor."))


def load_image_tagger(path: str | os.PathLike, channels: tuple[int, ...], blocks: tuple[int, ...]) -> ImageTagger:
    """A torchvision ResNet checkpoint (``conv1.*``, ``layerN.M.*``, ``fc.*``)."""
    state = read_state(path)
    classes = state["fc.weight"].shape[0] if "fc.weight" in state else IMAGENET_CLASSES
    return _load(ImageTagger(channels, blocks, classes), path, ("fc",), "torchvision ResNet")


@torch.no_grad()
def teacher_presence(log_mel: np.ndarray | None, frames: np.ndarray | None, audio: AudioTagger | None,
                     image: ImageTagger | None, batch: int = 16, device: str = "cpu",
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
