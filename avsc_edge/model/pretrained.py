"""Load pretrained backbones by parameter name, in the layout the registry names for each backbone
(:mod:`avsc_edge.backbones`): PANNs Cnn14 (``{"model": {"bn0.*", "conv_block1.conv1.weight", ...}}``),
EfficientAT ``mn`` (``features.0.0.weight``, ..., ``classifier.5.bias``), torchvision ResNet
(``conv1.weight``, ``layer1.0.conv1.weight``, ...) and MobileNetV3 (``features.*``, ``classifier.*``).
Nothing is downloaded: pass a file you have. The layout's heads and front ends are skipped; every
backbone tensor must be found with its shape, and nothing else may be left over."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..backbones import BACKBONES, Backbone
from ..errors import ArtifactError
from ..formats.checkpoint import load_torch_weights

PRESET_BACKBONES = "base = CNN14 + ResNet-18, edge = EfficientAT mn04 + MobileNetV1 0.25"


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
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise ArtifactError(f"{path}: not a readable .safetensors file ({str(exc).splitlines()[0] if str(exc) else exc}); "
                                "a PyTorch .pt/.pth file keeps its own suffix") from exc
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
                            f"; the model preset must match the checkpoint's architecture ({PRESET_BACKBONES})")
    if not report.loaded:
        raise ArtifactError("no parameter of the pretrained checkpoint matched the backbone by name; expected "
                            "PANNs Cnn14 names (bn0.*, conv_block1.conv1.weight, ...), EfficientAT / torchvision "
                            "MobileNetV3 names (features.0.0.weight, ...) or torchvision ResNet names "
                            "(conv1.weight, bn1.*, layer1.0.conv1.weight, ...)")
    module.load_state_dict({**own, **updated})
    return report


def load_backbone(backbone: nn.Module, path: str | os.PathLike, entry: Backbone) -> LoadReport:
    """Weights in ``entry``'s checkpoint layout into ``backbone`` (built for that entry: the layouts
    are the same, so tensors load as they are)."""
    state = read_state(path)
    try:
        return _complete(load_into(backbone, state, strict_shapes=True), path, entry.layout, entry.extras)
    except ArtifactError as exc:
        hint = options_that_fit(state, entry.modality)
        if hint:
            raise ArtifactError(f"{exc}. The checkpoint fits `train {hint}") from exc
        raise


def _fits(module: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    own = {k: v for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}
    return all(k in state and tuple(state[k].shape) == tuple(v.shape) for k, v in own.items())


def options_that_fit(state: dict[str, torch.Tensor], modality: str) -> str | None:
    """The ``train`` options whose ``modality`` backbone the checkpoint fills (``--preset edge``,
    ``--preset edge --audio-width 1.0``), or None. Built on the meta device: nothing is allocated."""
    from ..config import ModelConfig, preset
    from .registry import build_audio_backbone, build_visual_backbone

    def fits(name: str, **model) -> bool:
        features, _, cfg = preset(name, model=model)
        with torch.device("meta"):
            module = build_audio_backbone(cfg, features.n_mels) if modality == "audio" else build_visual_backbone(cfg)
        return _fits(module, state)

    edge = ModelConfig.preset("edge")
    if modality == "audio" and edge.audio_backbone == "mn":
        for width in (w / 10 for w in range(1, 41)):
            if fits("edge", audio_width=width):
                return f"--preset edge` (audio width {width:g}, the preset's)" if width == edge.audio_width else \
                    f"--preset edge --audio-width {width:g}`"
    for name in ("edge", "base"):
        if fits(name):
            return f"--preset {name}`"
    return None


def load_panns(backbone: nn.Module, path: str | os.PathLike) -> LoadReport:
    """PANNs Cnn14-style weights into :class:`~avsc_edge.model.backbones.AudioBackbone`."""
    return load_backbone(backbone, path, BACKBONES["cnn"])


def load_resnet(backbone: nn.Module, path: str | os.PathLike) -> LoadReport:
    """torchvision ResNet-style weights into :class:`~avsc_edge.model.backbones.VisualBackbone`."""
    return load_backbone(backbone, path, BACKBONES["resnet"])


def _complete(report: LoadReport, path, layout: str, extras: tuple[str, ...]) -> LoadReport:
    """Every backbone tensor found, and nothing left over but the layout's heads: a deeper network of
    the same family (ResNet-34 into ResNet-18) shares every name and shape, yet is another model."""
    absent = [k for k in report.missing if not k.endswith("num_batches_tracked")]
    if absent:
        raise ArtifactError(f"{path}: the {layout} checkpoint lacks {absent[:5]} of the backbone; the preset's "
                            f"backbone must be the checkpoint's architecture ({PRESET_BACKBONES})")
    surplus = [k for k in report.unused if not k.startswith(extras)]
    if surplus:
        raise ArtifactError(f"{path}: the checkpoint has layers the {layout} backbone does not ({surplus[:3]}, "
                            f"{len(surplus)} in all): it is a different architecture; the preset's backbone must "
                            f"be the checkpoint's ({PRESET_BACKBONES})")
    return report
