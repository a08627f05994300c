"""The backbone registry: what each named backbone is, without importing torch.

A preset names its audio and visual backbone (``ModelConfig.audio_backbone`` / ``visual_backbone``).
Each entry declares the checkpoint layout it loads by name, the front end that layout expects, the
tagger heads a full checkpoint carries, and its token layout (channels; for audio the time stride
in mel frames, which is how a stream cuts the token grid). The PyTorch modules are built by
:func:`avsc_edge.model.registry.build_backbone`; the runtime and the stream need only this table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import ConfigError


@dataclass(frozen=True)
class Backbone:
    name: str
    modality: str                   # "audio" or "visual"
    layout: str                     # the checkpoint layout it loads by name
    front_end: str                  # the inputs that layout was trained on
    heads: tuple[str, ...]          # tagger head weights in a full checkpoint (need "<head>.weight")
    extras: tuple[str, ...]         # checkpoint prefixes that are not the backbone (heads, front ends)
    channels: Callable[..., int]    # token channels, from the ModelConfig
    stride: Callable[..., int] = lambda m: 1   # audio: mel frames per time token
    # INT8 on ONNX Runtime's CPU kernels: quantise the branch, or keep the backbone and the slot
    # pooling over its tokens FP32 (MobileNetV3: QDQ ran slower than FP32, hardswish and the
    # squeeze-excitation staying FP32 between quantised convs; and quantising the projection of its
    # tokens flipped 7 of 90 top-1 decisions; benchmarks/README.md R3.5)
    int8_cpu: bool = True


def make_divisible(v: float, divisor: int = 8) -> int:
    """Channels rounded to a multiple of ``divisor``, never down by more than 10 % (MobileNet's rule,
    as torchvision and EfficientAT write it)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def _mn_channels(m) -> int:
    return 6 * make_divisible(160 * m.audio_width)


BACKBONES: dict[str, Backbone] = {b.name: b for b in (
    Backbone("cnn", "audio", "PANNs Cnn14", "librosa-style log-mel in dB, PANNs' settings in the base preset",
             ("fc1", "fc_audioset"), ("fc1.", "fc_audioset.", "spectrogram_extractor.", "logmel_extractor."),
             channels=lambda m: m.audio_channels[-1], stride=lambda m: 2 ** (len(m.audio_channels) - 1)),
    Backbone("mn", "audio", "EfficientAT mn (mn04_as, mn10_as: width audio_width)",
             "EfficientAT's AugmentMelSTFT: 32 kHz, pre-emphasis 0.97, 800-sample symmetric Hann in a 1024 FFT, "
             "hop 320, 128 Kaldi mels 0-15 kHz, (ln(x + 1e-5) + 4.5) / 5",
             ("classifier.2", "classifier.5"), ("classifier.",),
             channels=_mn_channels, stride=lambda m: 32, int8_cpu=False),
    Backbone("resnet", "visual", "torchvision ResNet (basic blocks)", "ImageNet eval transform",
             ("fc",), ("fc.",), channels=lambda m: m.visual_channels[-1]),
    Backbone("mobilenet_v3_large", "visual", "torchvision mobilenet_v3_large", "ImageNet eval transform (224 px)",
             ("classifier.0", "classifier.3"), ("classifier.",), channels=lambda m: 960, int8_cpu=False),
    Backbone("mobilenet_v3_small", "visual", "torchvision mobilenet_v3_small", "ImageNet eval transform (224 px)",
             ("classifier.0", "classifier.3"), ("classifier.",), channels=lambda m: 576, int8_cpu=False),
    Backbone("mobilenet_v1_025", "visual", "MobileNetV1 0.25 (Google's TFLite ImageNet model, converted by "
             "scripts/bundle_weights.py)", "128-px centre crops of 87.5 %, pixels (x - 128) / 128",
             ("classifier",), ("classifier.",), channels=lambda m: 256, int8_cpu=False),
)}


def backbone(name: str, modality: str) -> Backbone:
    """The registry entry ``name`` for ``modality`` (a ConfigError naming the choices otherwise)."""
    entry = BACKBONES.get(name)
    if entry is None or entry.modality != modality:
        names = sorted(n for n, b in BACKBONES.items() if b.modality == modality)
        raise ConfigError(f"unknown {modality} backbone {name!r}; choose one of {names}")
    return entry


def audio_backbone(model) -> Backbone:
    return backbone(model.audio_backbone, "audio")


def visual_backbone(model) -> Backbone:
    return backbone(model.visual_backbone, "visual")


def audio_stride(model) -> int:
    """Mel frames per audio time token of ``model`` (a ModelConfig)."""
    return audio_backbone(model).stride(model)


def audio_token_channels(model) -> int:
    return audio_backbone(model).channels(model)


def visual_token_channels(model) -> int:
    return visual_backbone(model).channels(model)


def slot_shapes(model) -> dict[str, tuple[int, int]]:
    """(slots, channels) of the event and object embeddings the heads take: the CEOA model's
    ``n_events`` / ``n_objects`` slots of ``d`` channels; a few-shot model's one slot per window
    (audio) or frame (visual) holding the backbone's pooled features."""
    if model.variant == "fewshot":
        return {"event": (1, audio_token_channels(model)), "object": (1, visual_token_channels(model))}
    return {"event": (model.n_events, model.d), "object": (model.n_objects, model.d)}


GRAPH_BACKBONES = {"full": ("audio", "visual"), "audio_tokens": ("audio",), "audio_slots": ("audio",),
                   "frames": ("visual",)}


def backbones_stay_fp32(model, graph: str) -> bool:
    """Whether INT8 export for the CPU keeps the backbone and slot-pooling layers of split graph
    ``graph`` FP32: every backbone the graph holds says so (a mixed full graph is quantised)."""
    held = GRAPH_BACKBONES.get(graph, ())
    entries = [audio_backbone(model) if m == "audio" else visual_backbone(model) for m in held]
    return bool(entries) and not any(e.int8_cpu for e in entries)
