"""Which backend runs an artifact: picked from the file type."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import ArtifactError
from ..formats.artifact import part_paths


def open_backend(path: str | os.PathLike, device: str = "cpu", threads: int | None = None):
    """Pick the backend from the artifact's file type."""
    p = Path(path)
    parts_only = p.suffix.lower() == ".onnx" and not p.exists() and part_paths(p)["heads"].is_file()
    if not p.is_file() and not parts_only:
        raise ArtifactError(f"{p}: model artifact not found")
    suffix = p.suffix.lower()
    if suffix == ".safetensors":
        from .torch_backend import TorchBackend

        return TorchBackend(p, device, threads)
    if suffix == ".onnx":
        from .onnx_backend import OnnxBackend

        return OnnxBackend(p, device, threads)
    if suffix in (".plan", ".engine"):
        from .tensorrt_backend import TensorRTBackend

        return TensorRTBackend(p, "cuda" if device == "cpu" else device, threads)
    raise ArtifactError(f"{p}: unsupported artifact type {suffix!r}; expected .onnx, .plan/.engine or .safetensors")
