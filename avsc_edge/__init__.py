"""avsc-edge: audio-visual scene classification (CEOA + SF) for the edge.

``import avsc_edge`` is light: torch and onnxruntime are imported only by the code that needs them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .config import ClipConfig, FeatureConfig, ModelConfig, TrainConfig
from .errors import ArtifactError, AVSCError, ConfigError, DatasetError, DependencyError, InputError, MediaError
from .version import __version__

if TYPE_CHECKING:
    from .classifier import Classifier
    from .runtime.prediction import Prediction
    from .stream import StreamClassifier, StreamConfig

__all__ = [
    "AVSCError", "ArtifactError", "Classifier", "ClipConfig", "ConfigError", "DatasetError", "DependencyError",
    "FeatureConfig", "InputError", "MediaError", "ModelConfig", "Prediction", "StreamClassifier", "StreamConfig",
    "TrainConfig", "__version__",
]

_LAZY = {"Classifier": ("classifier", "Classifier"), "Prediction": ("runtime.prediction", "Prediction"),
         "StreamClassifier": ("stream", "StreamClassifier"), "StreamConfig": ("stream", "StreamConfig")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    if name in ("preprocess", "kernels", "media", "stream"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'avsc_edge' has no attribute {name!r}")
