"""Load pretrained backbones by parameter name: a PANNs-CNN-style audio checkpoint (``Cnn14.pth``
layout: ``{"model": {"bn0.*", "conv_block1.conv1.weight", ...}}``) and a torchvision-ResNet-style
image checkpoint (``conv1.weight``, ``layer1.0.conv1.weight``, ...). Nothing is downloaded: pass a
file you have. Keys that do not exist in our backbone (PANNs' ``fc1``, ResNet's ``fc``) are skipped;
shape mismatches are reported, not forced."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import ArtifactError
from ..formats.checkpoint import load_torch_weights


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)


def read_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from ``.pth``/``.pt`` (weights only) or ``.safetensors``; PANNs' and Lightning's
    wrappers (``model``, ``state_dict``) and DDP's ``module.`` prefix are undone."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: pretrained checkpoint not found (nothing is downloaded: pass a file you have)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = load_torch_weights(path)
    for wrapper in ("model", "state_dict"):
        if wrapper in state and isinstance(state[wrapper], dict):
            state = state[wrapper]
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def load_into(module: nn.Module, state: dict[str, torch.Tensor], strict_shapes: bool = False) -> LoadReport:
    """Copy every tensor of ``state`` whose name and shape match a parameter/buffer of ``module``."""
    own = module.state_dict()
    report = LoadReport()
    updated = {}
    for name, tensor in state.items():
        if name not in own:
            report.unused.append(name)
        elif own[name].shape != tensor.shape:
            report.mismatched.append(f"{name}: checkpoint {tuple(tensor.shape)} vs model {tuple(own[name].shape)}")
        else:
            updated[name] = tensor.to(own[name].dtype)
            report.loaded.append(name)
    report.missing = [k for k in own if k not in updated]
    if strict_shapes and report.mismatched:
        raise ArtifactError("pretrained weights do not fit: " + "; ".join(report.mismatched[:5]) +
                            "; the model preset must match the checkpoint's architecture (base = CNN14 + ResNet-18)")
    if not report.loaded:
        raise ArtifactError("no parameter of the pretrained checkpoint matched the backbone by name; expected "
                            "PANNs Cnn14 names (bn0.*, conv_block1.conv1.weight, ...) or torchvision ResNet names "
                            "(conv1.weight, bn1.*, layer1.0.conv1.weight, ...)")
    module.load_state_dict({**own, **updated})
    return report


# what a checkpoint of each layout may hold beyond the backbone: heads and front ends, never layers
PANNS_EXTRAS = ("fc1.", "fc_audioset.", "spectrogram_extractor.", "logmel_extractor.")
RESNET_EXTRAS = ("fc.",)


def load_panns(backbone: nn.Module, path: str | os.PathLike) -> LoadReport:
    """PANNs Cnn14-style weights into :class:`~avsc_edge.model.backbones.AudioBackbone` (same layout:
    kernels load as they are). Every backbone parameter must be found, with its shape."""
    return _complete(load_into(backbone, read_state(path), strict_shapes=True), path, "PANNs Cnn14", PANNS_EXTRAS)


def load_resnet(backbone: nn.Module, path: str | os.PathLike) -> LoadReport:
    """torchvision ResNet-style weights into :class:`~avsc_edge.model.backbones.VisualBackbone`."""
    return _complete(load_into(backbone, read_state(path), strict_shapes=True), path, "torchvision ResNet",
                     RESNET_EXTRAS)


def _complete(report: LoadReport, path, layout: str, extras: tuple[str, ...]) -> LoadReport:
    """Every backbone tensor found, and nothing left over but the layout's heads: a deeper network of
    the same family (ResNet-34 into ResNet-18) shares every name and shape, yet is another model."""
    absent = [k for k in report.missing if not k.endswith("num_batches_tracked")]
    if absent:
        raise ArtifactError(f"{path}: the {layout} checkpoint lacks {absent[:5]} of the backbone; the preset's "
                            "backbone must be the checkpoint's architecture (base = CNN14 + ResNet-18)")
    surplus = [k for k in report.unused if not k.startswith(extras)]
    if surplus:
        raise ArtifactError(f"{path}: the checkpoint has layers the {layout} backbone does not ({surplus[:3]}, "
                            f"{len(surplus)} in all): it is a different architecture; the preset's backbone must "
                            "be the checkpoint's (base = CNN14 + ResNet-18)")
    return report
