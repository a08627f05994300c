"""MobileNetV3 feature extractors laid out as torchvision's ``mobilenet_v3_large`` / ``_small``
(images) and EfficientAT's ``mn`` audio taggers (``mn04_as``, ``mn10_as``: the large table at a width
multiplier, one input channel, channel squeeze-excitation as ``conc_se_layers.0``), so that their
published state dicts load by name (:mod:`avsc_edge.model.pretrained`).

Both networks are ``features`` = stem (3x3, stride 2, hardswish), inverted-residual blocks
(``block`` = expand 1x1, depthwise kxk, squeeze-excitation, project 1x1), and a 1x1 conv to
6x the last block's channels. Their squeeze-excitations differ: torchvision's uses 1x1 convs and a
hard sigmoid, EfficientAT's linear layers and a sigmoid.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from ..backbones import make_divisible
from .memory import run_blocks


@dataclass(frozen=True)
class Bneck:
    """One row of MobileNetV3's tables (Howard et al. 2019, tables 1-2)."""

    cin: int
    kernel: int
    expanded: int
    cout: int
    se: bool
    hardswish: bool
    stride: int


def _rows(*rows: tuple) -> tuple[Bneck, ...]:
    return tuple(Bneck(c, k, e, o, se, act == "HS", s) for c, k, e, o, se, act, s in rows)


LARGE = _rows(
    (16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2), (24, 3, 72, 24, False, "RE", 1),
    (24, 5, 72, 40, True, "RE", 2), (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1), (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1), (160, 5, 960, 160, True, "HS", 1),
)
SMALL = _rows(
    (16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
    (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
    (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1),
)
TABLES = {"large": LARGE, "small": SMALL}
# classifier width of each table (the taggers' heads)
LAST_CHANNEL = {"large": 1280, "small": 1024}

# eps as both references; momentum PyTorch's default 0.1, not their 0.01: that suits their long
# ImageNet/AudioSet schedules, but over the few hundred steps of a small dataset the running
# statistics stayed near their initial values and an edge model trained from scratch evaluated at
# chance (10 % on the demo data after 5 epochs). Inference (running statistics) is unaffected.
BatchNorm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.1)


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
            activation: type[nn.Module] | None = nn.Hardswish) -> nn.Sequential:
    """torchvision's ``Conv2dNormActivation``: ``0`` conv (no bias), ``1`` BN, ``2`` activation."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                               BatchNorm(cout)]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


class ConvSqueezeExcite(nn.Module):
    """torchvision's ``SqueezeExcitation``: mean -> 1x1 conv -> ReLU -> 1x1 conv -> hard sigmoid."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True))))
        return x * F.hardsigmoid(scale)


class LinearSqueezeExcite(nn.Module):
    """EfficientAT's channel ``SqueezeExcitation``: mean -> linear -> ReLU -> linear -> sigmoid."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, squeeze)
        self.fc2 = nn.Linear(squeeze, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * scale[:, :, None, None]


class ConcurrentSqueezeExcite(nn.Module):
    """EfficientAT's ``ConcurrentSEBlock`` with its published setting (``se_dims='c'``): one channel
    squeeze-excitation under ``conc_se_layers.0`` (the max over one layer is that layer)."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.conc_se_layers = nn.ModuleList([LinearSqueezeExcite(channels, squeeze)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conc_se_layers[0](x)


SQUEEZE_EXCITE = {"torchvision": ConvSqueezeExcite, "efficientat": ConcurrentSqueezeExcite}


class InvertedResidual(nn.Module):
    def __init__(self, row: Bneck, squeeze_excite: type[nn.Module]) -> None:
        super().__init__()
        act = nn.Hardswish if row.hardswish else nn.ReLU
        layers: list[nn.Module] = []
        if row.expanded != row.cin:
            layers.append(conv_bn(row.cin, row.expanded, 1, activation=act))
        layers.append(conv_bn(row.expanded, row.expanded, row.kernel, row.stride, groups=row.expanded, activation=act))
        if row.se:
            layers.append(squeeze_excite(row.expanded, make_divisible(row.expanded // 4)))
        layers.append(conv_bn(row.expanded, row.cout, 1, activation=None))
        self.block = nn.Sequential(*layers)
        self.residual = row.stride == 1 and row.cin == row.cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.residual else out


def scaled(table: tuple[Bneck, ...], width: float) -> tuple[Bneck, ...]:
    w = partial(_scale, width=width)
    return tuple(Bneck(w(r.cin), r.kernel, w(r.expanded), w(r.cout), r.se, r.hardswish, r.stride) for r in table)


def _scale(channels: int, width: float) -> int:
    return make_divisible(channels * width)


def mobilenet_features(table: str, width: float, in_channels: int, squeeze_excite: str) -> nn.Sequential:
    """``features``: stem, the table's blocks at ``width``, the last 1x1 conv (6x channels)."""
    rows = scaled(TABLES[table], width)
    se = SQUEEZE_EXCITE[squeeze_excite]
    last = rows[-1].cout
    return nn.Sequential(conv_bn(in_channels, rows[0].cin, 3, 2), *[InvertedResidual(r, se) for r in rows],
                         conv_bn(last, 6 * last, 1))


def features_channels(table: str, width: float) -> int:
    """Channels of :func:`mobilenet_features`' output."""
    return 6 * _scale(TABLES[table][-1].cout, width)


def head_channels(table: str, width: float) -> int:
    """Width of the taggers' hidden classifier layer (``last_channel``)."""
    return _scale(LAST_CHANNEL[table], width)


def init_weights(module: nn.Module) -> None:
    """Both references' initialisation (Kaiming fan-out convs, unit BN, small normal linears)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class MobileNetAudio(nn.Module):
    """EfficientAT ``mn`` layout: log-mel ``[B, 1, n_mels, T]`` -> time tokens ``[B, T // 32, C]``
    (the frequency axis averaged out). Trailing frames that do not fill a token (32 frames) are
    dropped before the network, so that a window's tokens lie on the stream's token grid."""

    stride = 32

    def __init__(self, width: float) -> None:
        super().__init__()
        self.features = mobilenet_features("large", width, 1, "efficientat")
        self.out_channels = features_channels("large", width)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        usable = x.shape[-1] - x.shape[-1] % self.stride
        return run_blocks(self.features, x[..., :usable]).mean(dim=2).transpose(1, 2)


class MobileNetVisual(nn.Module):
    """torchvision ``mobilenet_v3_large`` / ``_small`` layout: frames ``[N, 3, S, S]`` -> spatial
    tokens ``[N, (S/32)^2, C]``."""

    def __init__(self, table: str) -> None:
        super().__init__()
        self.features = mobilenet_features(table, 1.0, 3, "torchvision")
        self.out_channels = features_channels(table, 1.0)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_blocks(self.features, x).flatten(2).transpose(1, 2)


def classifier(channels: int, hidden: int, classes: int, pools: bool) -> nn.Sequential:
    """The references' tagger head: linear, hardswish, dropout, linear on average-pooled features
    (torchvision: ``classifier.0`` / ``.3`` after its ``avgpool``; EfficientAT's ``mlp`` head pools
    inside it, so its linears are ``classifier.2`` / ``.5``)."""
    pool = [nn.AdaptiveAvgPool2d(1), nn.Flatten(1)] if pools else []
    return nn.Sequential(*pool, nn.Linear(channels, hidden), nn.Hardswish(), nn.Dropout(0.2),
                         nn.Linear(hidden, classes))
