"""Every configuration as a dataclass that round-trips through JSON.

Unknown keys in a loaded config are an error (:class:`~avsc_edge.errors.ConfigError`), never dropped.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T", bound="JsonConfig")

# A slot whose presence probability is under this is ruled out: the cross-attention gives it no
# weight and no explanation shows it (model.attention.absent_keys, runtime.prediction).
RULED_OUT_BELOW = 0.05


class JsonConfig:
    """Mixin: ``to_dict`` / ``from_dict`` / ``to_json`` / ``from_json`` with strict key checks."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[arg-type]

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, **kwargs)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} expects a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"{cls.__name__}: unknown key(s) {unknown}; valid keys are {sorted(names)}. "
                "Was this file written by a newer avsc-edge?"
            )
        hints = typing.get_type_hints(cls)
        values = {k: _coerce(hints[k], v) for k, v in data.items()}
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"{cls.__name__}: {exc}") from exc

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{cls.__name__}: invalid JSON ({exc})") from exc


def _coerce(hint: Any, value: Any) -> Any:
    """JSON has lists where the dataclass has tuples; convert back."""
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    return value


MAX_MODEL_RATE = 192_000        # Hz: a model's own sample rate
MAX_SIZE = 4096                 # d, scenes, event and object slots, channels of a stage
MAX_WINDOW_SAMPLES = 1 << 25    # samples in one model window (about 17 min at 32 kHz)
MAX_WINDOW_MEL = 1 << 24        # log-mel values in one window (64 MB as float32)


@dataclass(frozen=True)
class FeatureConfig(JsonConfig):
    """Log-mel front end. Field names and meanings are librosa's.

    ``top_db=None`` means no clamp; the default keeps features independent of the rest of the
    window, which streaming needs (a clamp relative to the window maximum is not incremental).

    The defaults are librosa's ``power_to_db(melspectrogram(...))``. The remaining fields describe
    other published front ends (EfficientAT's ``AugmentMelSTFT`` in the ``edge`` preset):
    ``preemphasis`` c analyses ``y[i] = x[i+1] - c*x[i]`` (one sample shorter; 0 = none);
    ``periodic=False`` a symmetric window (``torch.hann_window(n, periodic=False)``);
    ``mel_scale="kaldi"`` torchaudio's ``compliance.kaldi.get_mel_banks`` (triangles on the
    1127 ln(1 + f/700) scale, unnormalised) instead of librosa's Slaney filters; ``log="ln"``
    ``ln(mel + log_offset)`` instead of ``10 log10(max(mel, 1e-10))``; the output is then
    ``(log + norm_shift) / norm_scale``.
    """

    sr: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    win_length: int | None = None
    window: str = "hann"
    center: bool = True
    pad_mode: str = "constant"
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float | None = None
    power: float = 2.0
    top_db: float | None = None
    preemphasis: float = 0.0
    periodic: bool = True
    mel_scale: str = "slaney"
    log: str = "db"
    log_offset: float = 1e-5
    norm_shift: float = 0.0
    norm_scale: float = 1.0

    def __post_init__(self) -> None:
        if not 1000 <= self.sr <= MAX_MODEL_RATE:
            raise ConfigError(f"FeatureConfig.sr must be in 1000..{MAX_MODEL_RATE} Hz, got {self.sr}")
        if not 16 <= self.n_fft <= 65536 or self.n_fft & (self.n_fft - 1):
            raise ConfigError(f"FeatureConfig.n_fft must be a power of two in 16..65536, got {self.n_fft}")
        if not 0 < self.hop_length <= 4 * self.n_fft:
            raise ConfigError(f"FeatureConfig.hop_length must be in 1..4*n_fft, got {self.hop_length}")
        if not 0 < self.effective_win_length <= self.n_fft:
            raise ConfigError(f"FeatureConfig.win_length must be in 1..n_fft, got {self.win_length}")
        if self.window not in {"hann", "hamming", "ones", "boxcar"}:
            raise ConfigError(f"FeatureConfig.window must be hann, hamming or ones, got {self.window!r}")
        if self.pad_mode not in {"constant", "reflect"}:
            raise ConfigError(f"FeatureConfig.pad_mode must be constant or reflect, got {self.pad_mode!r}")
        if not 0 < self.n_mels <= 512:
            raise ConfigError(f"FeatureConfig.n_mels must be in 1..512, got {self.n_mels}")
        if not 0 <= self.fmin < self.effective_fmax <= self.sr / 2:
            raise ConfigError(
                f"FeatureConfig needs 0 <= fmin < fmax <= sr/2, got fmin={self.fmin}, fmax={self.fmax}, sr={self.sr}"
            )
        if self.power not in (1.0, 2.0):
            raise ConfigError(f"FeatureConfig.power must be 1.0 or 2.0, got {self.power}")
        if self.top_db is not None and self.top_db < 0:
            raise ConfigError(f"FeatureConfig.top_db must be >= 0 or None, got {self.top_db}")
        if not -1.0 <= self.preemphasis <= 1.0:
            raise ConfigError(f"FeatureConfig.preemphasis must be in -1..1 (0: none), got {self.preemphasis}")
        if self.mel_scale not in ("slaney", "kaldi"):
            raise ConfigError(f"FeatureConfig.mel_scale must be slaney or kaldi, got {self.mel_scale!r}")
        if self.log not in ("db", "ln"):
            raise ConfigError(f"FeatureConfig.log must be db or ln, got {self.log!r}")
        if not self.log_offset > 0 or self.norm_scale == 0:
            raise ConfigError("FeatureConfig needs log_offset > 0 and norm_scale != 0")
        if self.top_db is not None and (self.log != "db" or (self.norm_shift, self.norm_scale) != (0.0, 1.0)):
            raise ConfigError("FeatureConfig.top_db clamps dB values: it needs log='db' without normalisation")

    @property
    def effective_win_length(self) -> int:
        return self.n_fft if self.win_length is None else self.win_length

    @property
    def effective_fmax(self) -> float:
        return self.sr / 2 if self.fmax is None else self.fmax

    def analysed_samples(self, num_samples: int) -> int:
        """Samples of the analysed signal: one fewer than the input with pre-emphasis."""
        return num_samples - 1 if self.preemphasis else num_samples

    def num_frames(self, num_samples: int) -> int:
        """Frames the front end produces for an input of ``num_samples`` samples (librosa's count)."""
        num_samples = max(0, self.analysed_samples(num_samples))
        if self.center:
            return 1 + num_samples // self.hop_length
        return max(0, 1 + (num_samples - self.n_fft) // self.hop_length)


FRAME_POLICIES = ("keyframe", "exact")
FRAME_GEOMETRIES = ("squash", "center_crop")
FRAME_NORMS = ("imagenet", "inception")


@dataclass(frozen=True)
class ClipConfig(JsonConfig):
    """How one model window is cut from a recording: its length, and the frames sampled from it.

    Frames are sampled at the centres of ``num_frames`` equal segments of the window. With
    ``frame_policy="keyframe"`` (default) a keyframe within ``keyframe_tolerance`` seconds of a
    sample time stands in for it (only keyframes are decoded: ~20x less decoding on camera video);
    ``"exact"`` decodes up to the frame nearest each time. ``frame_geometry`` brings a frame to
    ``frame_size``: ``"squash"`` scales the whole frame (any aspect ratio) to the square;
    ``"center_crop"`` is torchvision's ImageNet eval transform (short side to 256/224 of the size,
    centred square crop), the one pretrained ImageNet weights expect. ``frame_norm`` scales the
    pixels as the visual weights were trained: ``"imagenet"`` (torchvision: ImageNet mean and
    standard deviation) or ``"inception"`` (TensorFlow's MobileNets: ``(x - 128) / 128``).
    Training and inference use the same policy, geometry and scaling (they travel in the
    artifact; artifacts without the fields were made with ``"squash"`` and ``"imagenet"``)."""

    seconds: float = 10.0
    num_frames: int = 4
    frame_size: int = 64
    mono: bool = True
    frame_policy: str = "keyframe"
    keyframe_tolerance: float = 2.0
    frame_geometry: str = "squash"
    frame_norm: str = "imagenet"

    def __post_init__(self) -> None:
        if not 0.1 <= self.seconds <= 600:
            raise ConfigError(f"ClipConfig.seconds must be in 0.1..600, got {self.seconds}")
        if not 1 <= self.num_frames <= 64:
            raise ConfigError(f"ClipConfig.num_frames must be in 1..64, got {self.num_frames}")
        if not 16 <= self.frame_size <= 1024:
            raise ConfigError(f"ClipConfig.frame_size must be in 16..1024, got {self.frame_size}")
        if self.frame_policy not in FRAME_POLICIES:
            raise ConfigError(f"ClipConfig.frame_policy must be one of {FRAME_POLICIES}, got {self.frame_policy!r}")
        if not 0 <= self.keyframe_tolerance <= 60:
            raise ConfigError(f"ClipConfig.keyframe_tolerance must be in 0..60 s, got {self.keyframe_tolerance}")
        if self.frame_geometry not in FRAME_GEOMETRIES:
            raise ConfigError(f"ClipConfig.frame_geometry must be one of {FRAME_GEOMETRIES}, "
                              f"got {self.frame_geometry!r}")
        if self.frame_norm not in FRAME_NORMS:
            raise ConfigError(f"ClipConfig.frame_norm must be one of {FRAME_NORMS}, got {self.frame_norm!r}")


VARIANTS = ("audio", "visual", "av", "av_ceoa", "av_ceoa_sf", "fewshot")


@dataclass(frozen=True)
class ModelConfig(JsonConfig):
    """The CEOA + SF model. ``variant`` picks the ablation:

    * ``audio`` / ``visual``: one branch and its scene head;
    * ``av``: both branches, cross-attention, mean-pooled fusion, no CEOA loss;
    * ``av_ceoa``: ``av`` + the contrastive event-object alignment loss;
    * ``av_ceoa_sf``: ``av_ceoa`` with semantic-based fusion (presence-weighted pooling, plus the
      event-object pair features of :func:`~avsc_edge.model.fusion.pair_features`);
    * ``fewshot``: the genuine taggers' embeddings under a head fitted by ``avsc-edge adapt``
      (ONNX only: :mod:`avsc_edge.tagging.fewshot`); its events and objects are the taggers'
      AudioSet and ImageNet classes.
    """

    variant: str = "av_ceoa_sf"
    audio_backbone: str = "cnn"            # avsc_edge.backbones.BACKBONES
    visual_backbone: str = "resnet"
    audio_width: float = 1.0               # the mn backbone's width multiplier (mn04: 0.4, mn10: 1.0)
    n_scenes: int = 10
    n_events: int = 12
    n_objects: int = 12
    d: int = 64
    heads: int = 4
    audio_channels: tuple[int, ...] = (16, 32, 64)
    visual_channels: tuple[int, ...] = (16, 32, 64)
    visual_blocks: tuple[int, ...] = (1, 1, 1)
    dropout: float = 0.1
    ceoa_weight: float = 0.2
    ceoa_temperature: float = 0.2
    tag_weight: float = 1.0
    single_modality_weight: float = 0.3

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ConfigError(f"ModelConfig.variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.d % self.heads:
            raise ConfigError(f"ModelConfig.d ({self.d}) must be divisible by heads ({self.heads})")
        sizes = (self.n_scenes, self.n_events, self.n_objects, self.d, self.heads, *self.audio_channels,
                 *self.visual_channels)
        if min(sizes) < 1 or max(sizes) > MAX_SIZE or self.heads > 64:
            raise ConfigError(f"ModelConfig sizes (scenes, slots, d, channels) must be in 1..{MAX_SIZE} and heads "
                              "in 1..64; is the artifact corrupt?")
        if not 1 <= len(self.audio_channels) <= 8 or not 1 <= len(self.visual_channels) <= 8:
            raise ConfigError("ModelConfig needs 1..8 audio and visual channel stages")
        if max(self.visual_blocks, default=0) > 16:
            raise ConfigError("ModelConfig.visual_blocks must be 1..16 per stage")
        if len(self.visual_blocks) != len(self.visual_channels) or min(self.visual_blocks) < 1:
            raise ConfigError("ModelConfig.visual_blocks needs one count >= 1 per visual_channels stage")
        from .backbones import backbone

        backbone(self.audio_backbone, "audio")
        backbone(self.visual_backbone, "visual")
        if not 0.1 <= self.audio_width <= 4.0:
            raise ConfigError(f"ModelConfig.audio_width must be in 0.1..4.0, got {self.audio_width}")

    @property
    def uses_audio(self) -> bool:
        return self.variant != "visual"

    @property
    def uses_visual(self) -> bool:
        return self.variant != "audio"

    @property
    def uses_ceoa(self) -> bool:
        return self.variant in ("av_ceoa", "av_ceoa_sf")

    @property
    def uses_sf(self) -> bool:
        return self.variant == "av_ceoa_sf"

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "ModelConfig":
        """The model part of a preset (see :func:`preset`)."""
        return cls(**{**_preset(name)["model"], **overrides})


PRESETS: dict[str, dict[str, dict]] = {
    # small and fast: tests, the demo, CPU experiments (16-kHz features, 64-px frames)
    "tiny": {"features": {}, "clip": {}, "model": {}},
    # the paper's backbones with their own front ends, so that pretrained weights fit their inputs:
    # PANNs CNN14 (32 kHz, n_fft 1024, hop 320, 64 mels, 50-14000 Hz, reflect-padded STFT as
    # torchlibrosa's) and a torchvision ResNet-18 (224-px centre crops of the short side at 256,
    # ImageNet normalisation); 8 frames per 10-s window (one per 1.25 s)
    "base": {"features": dict(sr=32000, n_fft=1024, hop_length=320, n_mels=64, fmin=50.0, fmax=14000.0,
                              pad_mode="reflect"),
             "clip": dict(seconds=10.0, num_frames=8, frame_size=224, frame_geometry="center_crop"),
             "model": dict(d=256, heads=8, audio_channels=(64, 128, 256, 512, 1024, 2048),
                           visual_channels=(64, 128, 256, 512), visual_blocks=(2, 2, 2, 2))},
    # mobile-sized genuine pretrained backbones with their own front ends, shipped in the package
    # (avsc_edge/weights): EfficientAT's mn04_as (width 0.4; 1.0 = mn10_as) on its AugmentMelSTFT
    # features (32 kHz, pre-emphasis, 800-sample symmetric Hann in a 1024 FFT, hop 320, 128 Kaldi
    # mels up to 15 kHz, (ln(x + 1e-5) + 4.5) / 5) and Google's MobileNetV1 0.25/128 on 128-px
    # centre crops scaled (x - 128) / 128 (14 MFLOPs a frame, 21x less than MobileNetV2:
    # docs/genuine-weights.md); 3 frames per 10-s window
    "edge": {"features": dict(sr=32000, n_fft=1024, win_length=800, hop_length=320, n_mels=128, fmin=0.0,
                              fmax=15000.0, pad_mode="reflect", preemphasis=0.97, periodic=False, mel_scale="kaldi",
                              log="ln", log_offset=1e-5, norm_shift=4.5, norm_scale=5.0),
             "clip": dict(seconds=10.0, num_frames=3, frame_size=128, frame_geometry="center_crop",
                          frame_norm="inception"),
             "model": dict(d=128, heads=4, audio_backbone="mn", audio_width=0.4, visual_backbone="mobilenet_v1_025")},
}


def _preset(name: str) -> dict[str, dict]:
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]


def preset(name: str, *, clip: dict | None = None, model: dict | None = None,
           features: dict | None = None) -> tuple["FeatureConfig", "ClipConfig", "ModelConfig"]:
    """``tiny``, ``edge`` or ``base``: the (features, clip, model) configs that belong together, with overrides."""
    p = _preset(name)
    return (FeatureConfig(**{**p["features"], **(features or {})}), ClipConfig(**{**p["clip"], **(clip or {})}),
            ModelConfig(**{**p["model"], **(model or {})}))


@dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """Optimisation settings (AdamW + cosine schedule with warm-up)."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-2
    warmup_epochs: int = 1
    seed: int = 0
    amp: bool = True
    num_workers: int = 0
    grad_clip: float = 5.0
    freeze_epochs: int = 0          # pretrained backbones frozen (weights and BN statistics) this long
    backbone_lr_scale: float = 1.0  # then fine-tuned at lr * this
    # MobileNet blocks recompute their activations in the backward pass: the same gradients, the edge
    # preset's peak RSS 2.4 GB instead of 4.0 GB at batch 32, each epoch ~45 % longer on 2 cores
    recompute_activations: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("TrainConfig needs epochs >= 1, batch_size >= 1 and lr > 0")
        if not 0 <= self.freeze_epochs <= self.epochs or not 0 < self.backbone_lr_scale <= 10:
            raise ConfigError("TrainConfig needs 0 <= freeze_epochs <= epochs and 0 < backbone_lr_scale <= 10")


@dataclass(frozen=True)
class PretrainedConfig(JsonConfig):
    """Pretrained backbones and taggers: files the user has (nothing is downloaded), weights only.

    ``audio_weights``: a PANNs Cnn14 checkpoint (``Cnn14.pth`` or ``.safetensors``);
    ``visual_weights``: a torchvision ResNet checkpoint (ResNet-18 for the base preset). With their
    heads (``fc_audioset``, ``fc``) they are also the taggers whose predictions supervise presence
    on a dataset without tags; ``events`` / ``objects`` then choose the slot vocabulary: ``top:K``
    (the K classes most present on the training set), names separated by commas, or ``@FILE``."""

    audio_weights: str | None = None
    visual_weights: str | None = None
    events: str = "top:16"
    objects: str = "top:16"


@dataclass(frozen=True)
class ArtifactInfo(JsonConfig):
    """What travels with every model artifact: the configs it was trained and exported with."""

    sdk_version: str
    features: dict = field(default_factory=dict)
    clip: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    precision: str = "fp32"
    metrics: dict = field(default_factory=dict)
    graph: str = "full"          # "full", or the split graph this file holds (artifact.PARTS)
    export_id: str = ""          # shared by every graph (and engine) of one export: parts never mix

    # parsed once per artifact: the runtime reads them for every window (~0.3 ms a parse)
    @functools.cached_property
    def feature_config(self) -> FeatureConfig:
        return FeatureConfig.from_dict(self.features)

    @functools.cached_property
    def clip_config(self) -> ClipConfig:
        return ClipConfig.from_dict(self.clip)

    @functools.cached_property
    def model_config(self) -> ModelConfig:
        return ModelConfig.from_dict(self.model)

    def check(self) -> "ArtifactInfo":
        """The configs parse, their sizes fit one window in memory, and the label sets fit the heads
        (checked when an artifact is opened, before anything is allocated for it)."""
        f, c, m = self.feature_config, self.clip_config, self.model_config
        samples = int(round(c.seconds * f.sr))
        if samples > MAX_WINDOW_SAMPLES or f.num_frames(samples) * f.n_mels > MAX_WINDOW_MEL:
            raise ConfigError(f"a {c.seconds:g}-s window at {f.sr} Hz with {f.n_mels} mels is too large for one "
                              f"window ({samples} samples, at most {MAX_WINDOW_SAMPLES})")
        for name, names, size in (("labels", self.labels, m.n_scenes), ("events", self.events, m.n_events),
                                  ("objects", self.objects, m.n_objects)):
            if names and len(names) != size:
                raise ConfigError(f"{len(names)} {name} for a model with {size}; the metadata does not match the "
                                  "model")
        if not self.labels:
            raise ConfigError("no scene labels in the metadata")
        return self
