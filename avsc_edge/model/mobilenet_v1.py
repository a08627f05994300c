"""MobileNetV1 (Howard et al. 2017) as Google's TensorFlow Lite ImageNet models compute it, so that
their weights (``mobilenet_v1_0.25_128_quant.tflite``: width 0.25, 128-px inputs, 1001 classes
with a background class first) run here after ``scripts/bundle_weights.py`` dequantises them.

TensorFlow's ``SAME`` padding puts the extra row and column of a strided convolution on the bottom
and right (PyTorch's symmetric padding would shift every feature map by one pixel): each
convolution pads itself (:class:`SamePad`). The weights come with batch normalisation folded into
the convolutions; the converter loads them as a batch norm that passes its input on plus the
folded bias, so that the network trains as any other.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

from .memory import run_blocks

# (output channels at width 1, stride) of the 13 depthwise-separable blocks
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
          (512, 1), (1024, 2), (1024, 1))
STEM = 32
BN_EPS = 1e-3          # TensorFlow's MobileNet batch norm
TFLITE_CLASSES = 1001  # background + the 1000 ImageNet classes


class SamePad(nn.Module):
    """TensorFlow's ``SAME`` padding for a ``kernel`` x ``kernel`` convolution of ``stride``: the
    output is ``ceil(input / stride)``, the surplus padding on the bottom / right."""

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size in (x.shape[-1], x.shape[-2]):
            total = max((-(-size // self.stride) - 1) * self.stride + self.kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads) if any(pads) else x


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(OrderedDict(pad=SamePad(kernel, stride),
                                     conv=nn.Conv2d(cin, cout, kernel, stride, groups=groups, bias=False),
                                     bn=nn.BatchNorm2d(cout, eps=BN_EPS, momentum=0.1), act=nn.ReLU6()))


class DepthwiseSeparable(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.dw = conv_bn(cin, cin, 3, stride, groups=cin)
        self.pw = conv_bn(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.dw(x))


def channels(width: float) -> list[int]:
    """Channels of the stem and of each block at ``width`` (TensorFlow's ``depth_multiplier``,
    at least 8)."""
    return [max(8, int(c * width)) for c in (STEM, *(c for c, _ in BLOCKS))]


class MobileNetV1Visual(nn.Module):
    """``features`` = stem + 13 depthwise-separable blocks: frames ``[N, 3, S, S]`` (scaled as
    ``(x - 128) / 128``) -> spatial tokens ``[N, (S/32)^2, C]`` (C = 256 at width 0.25)."""

    def __init__(self, width: float = 0.25) -> None:
        super().__init__()
        c = channels(width)
        blocks = [DepthwiseSeparable(c[i], c[i + 1], stride) for i, (_, stride) in enumerate(BLOCKS)]
        self.features = nn.Sequential(conv_bn(3, c[0], 3, 2), *blocks)
        self.out_channels = c[-1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_blocks(self.features, x).flatten(2).transpose(1, 2)


class MobileNetV1ImageTagger(nn.Module):
    """The TFLite model's head: average pooling, ``classifier`` (the 1x1 convolution to 1001
    logits as a linear layer), softmax over all 1001 classes; the background class is dropped, so
    the output lines up with the 1000 ImageNet classes (not renormalised: the reference's own
    probabilities)."""

    def __init__(self, width: float = 0.25, classes: int = TFLITE_CLASSES) -> None:
        super().__init__()
        self.backbone = MobileNetV1Visual(width)
        self.classifier = nn.Linear(self.backbone.out_channels, classes)

    def logits(self, frames: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.backbone.features(frames).mean(dim=(2, 3)))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(frames), dim=-1)[:, 1:]
