"""The genuine weights and real recordings inside the package (``avsc_edge/weights``,
``avsc_edge/samples``): where they are, what they were checked against, and the configs their
front ends need. No torch here: the tagging and few-shot runtimes run their ONNX graphs.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ..config import ClipConfig, FeatureConfig, preset
from ..errors import ArtifactError

PACKAGE = Path(__file__).resolve().parent.parent
WEIGHTS = PACKAGE / "weights"
SAMPLES = PACKAGE / "samples"
PART_GRAPHS = ("audio_tokens", "audio_slots", "frames")


def weights_file(name: str) -> Path:
    """A file of the bundled weights (``audio_tagger.onnx``, ``parts/frames.onnx``, ...)."""
    path = WEIGHTS / name
    if not path.is_file():
        raise ArtifactError(f"{path}: a bundled weights file is missing; reinstall avsc-edge (the package ships it)")
    return path


def sample_file(name: str) -> Path:
    """A real recording shipped for the demo and examples (``animals/cat.mp3``, ...; credits in
    ``avsc_edge/samples/CREDITS.md``)."""
    path = SAMPLES / name
    if not path.is_file():
        raise ArtifactError(f"{path}: a bundled sample is missing; reinstall avsc-edge")
    return path


@lru_cache(maxsize=1)
def manifest() -> dict:
    """What ``scripts/bundle_weights.py`` wrote: every file's sha256, and the sources'."""
    return json.loads(weights_file("manifest.json").read_text())


def edge_weights() -> tuple[Path, Path]:
    """(audio, visual) checkpoints of the ``edge`` preset's backbones: EfficientAT ``mn04_as`` and
    MobileNetV1 0.25/128, with their tagger heads."""
    return weights_file("mn04_as.safetensors"), weights_file("mobilenet_v1_025.safetensors")


def genuine_configs() -> tuple[FeatureConfig, ClipConfig]:
    """The front ends the bundled taggers were trained on (the ``edge`` preset's)."""
    features, clip, _ = preset("edge")
    return features, clip
