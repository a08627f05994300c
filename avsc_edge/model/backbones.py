"""CNN backbones. Parameter names follow PANNs' Cnn14 (audio) and torchvision's ResNet (visual) so
that pretrained checkpoints in those formats load by name (see :mod:`avsc_edge.model.pretrained`)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ConvBlock(nn.Module):
    """PANNs' ConvBlock: two 3x3 conv + BN + ReLU, then average pooling (floor, as PANNs)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, pool: bool = True) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, 2) if pool else x


class AudioBackbone(nn.Module):
    """Log-mel ``[B, 1, n_mels, T]`` -> time tokens ``[B, T // 2**(blocks-1), C]``, laid out as PANNs'
    Cnn14 is: internally ``[B, 1, T, n_mels]`` (so PANNs kernels load as they are), ``bn0`` over the
    mel bins, every block but the last pooling 2x2, dropout 0.2 between blocks in training, and the
    frequency axis averaged out. Token ``j`` covers mel frames ``[j*P, (j+1)*P)``, ``P`` = :attr:`stride`;
    trailing frames that do not fill a token are dropped, as PANNs' pooling does."""

    def __init__(self, n_mels: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.bn0 = nn.BatchNorm2d(n_mels)
        cins = (1, *channels[:-1])
        for i, (cin, cout) in enumerate(zip(cins, channels), start=1):
            self.add_module(f"conv_block{i}", ConvBlock(cin, cout))
        self.num_blocks = len(channels)
        self.out_channels = channels[-1]
        self.stride = 2 ** (self.num_blocks - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(2, 3)                                 # [B, 1, T, M] as PANNs
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)       # normalise each mel bin
        for i in range(1, self.num_blocks + 1):
            x = getattr(self, f"conv_block{i}")(x, pool=i < self.num_blocks)
            x = F.dropout(x, p=0.2, training=self.training)
        return x.mean(dim=3).transpose(1, 2)                  # frequency averaged out: [B, T', C]


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + identity)


class VisualBackbone(nn.Module):
    """Frames ``[N, 3, S, S]`` -> spatial tokens ``[N, H'W', C]`` (a ResNet-style stem and stages)."""

    def __init__(self, channels: tuple[int, ...], blocks: tuple[int, ...]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, channels[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(channels[0])
        cin = channels[0]
        for i, (cout, n) in enumerate(zip(channels, blocks), start=1):
            stride = 1 if i == 1 else 2
            layer = nn.Sequential(*[BasicBlock(cin if j == 0 else cout, cout, stride if j == 0 else 1) for j in range(n)])
            self.add_module(f"layer{i}", layer)
            cin = cout
        self.num_layers = len(channels)
        self.out_channels = channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        for i in range(1, self.num_layers + 1):
            x = getattr(self, f"layer{i}")(x)
        return x.flatten(2).transpose(1, 2)
