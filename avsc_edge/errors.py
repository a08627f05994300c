"""Typed exceptions. Every error the SDK raises on bad input derives from :class:`AVSCError`."""
from __future__ import annotations


class AVSCError(Exception):
    """Base class of all avsc-edge errors. Messages say what was wrong and what to do."""


class ConfigError(AVSCError, ValueError):
    """A configuration value or file is invalid (unknown key, wrong type, out of range)."""


class InputError(AVSCError, ValueError):
    """An array or argument passed by the caller is unusable (shape, dtype, NaN/inf, size)."""


class MediaError(AVSCError):
    """A media file could not be read: missing, corrupt, truncated, or without the needed stream."""


class SourceTimeoutError(MediaError):
    """A network source sent nothing for longer than its timeout (distinct from Ctrl-C, which stays
    ``KeyboardInterrupt``); streams re-open such a source within their retry budget."""


class DatasetError(AVSCError):
    """A dataset tree does not follow the TAU Urban Audio-Visual Scenes 2021 layout."""


class ArtifactError(AVSCError):
    """A model artifact (checkpoint, ONNX model, TensorRT plan) is unusable or incompatible."""


class CudaUnavailableError(AVSCError, RuntimeError):
    """A CUDA kernel was asked for where it cannot run: the extension was built without CUDA, or no
    CUDA device is visible. The CPU paths are unaffected."""


class DependencyError(AVSCError, ImportError):
    """An optional dependency is missing; the message names the package to install."""


def require(module: str, extra: str, purpose: str):
    """Import an optional dependency or raise a :class:`DependencyError` naming the install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DependencyError(
            f"{purpose} needs the '{module}' package: pip install 'avsc-edge[{extra}]'"
        ) from exc
