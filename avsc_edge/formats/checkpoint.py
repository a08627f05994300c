"""Checkpoints as ``.safetensors`` with the artifact metadata (configs, labels, SDK version) in the
file's header. Never pickle: ``.pt`` files are read with ``torch.load(weights_only=True)`` only."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import ArtifactInfo
from ..errors import ArtifactError
from .artifact import META_KEY, atomic_write, info_from_json, parse_metadata

MAX_HEADER_BYTES = 64 * 1024 * 1024


def save_checkpoint(path: str | os.PathLike, state_dict: dict[str, Any], info: ArtifactInfo) -> Path:
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    return write_safetensors(path, tensors, {META_KEY: info.to_json()})


def write_safetensors(path: str | os.PathLike, tensors: dict[str, Any], metadata: dict[str, str]) -> Path:
    """Atomically; safetensors' own errors (a full disk is ``SafetensorError: ... StorageFull``)
    become one-line :class:`OSError`/:class:`ArtifactError` messages."""
    import errno

    from safetensors import SafetensorError
    from safetensors.torch import save_file

    path = Path(path)
    try:
        return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    except SafetensorError as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "StorageFull" in text or "No space left" in text:
            raise OSError(errno.ENOSPC, f"No space left on device while writing {path}") from exc
        raise ArtifactError(f"{path}: cannot write it ({text})") from exc


def read_header(path: str | os.PathLike) -> dict:
    """The JSON header of a ``.safetensors`` file, size- and depth-checked before parsing."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 2 <= size <= min(MAX_HEADER_BYTES, max(0, path.stat().st_size - 8)):
                raise ArtifactError(f"{path}: not a safetensors file (bad header length {size})")
            raw = f.read(size)
    except OSError as exc:
        raise ArtifactError(f"{path}: unreadable ({exc})") from exc
    header = parse_metadata(raw, str(path), max_bytes=MAX_HEADER_BYTES, max_depth=4)
    if not isinstance(header, dict):
        raise ArtifactError(f"{path}: not a safetensors file (header is not a JSON object)")
    return header


def read_info(path: str | os.PathLike) -> ArtifactInfo:
    """The metadata of a ``.safetensors`` checkpoint, without loading the weights."""
    meta = read_header(path).get("__metadata__") or {}
    if not isinstance(meta, dict) or META_KEY not in meta:
        raise ArtifactError(f"{path}: safetensors file without avsc-edge metadata; was it written by avsc-edge?")
    if not isinstance(meta[META_KEY], str):
        raise ArtifactError(f"{path}: avsc-edge metadata must be a JSON string")
    return info_from_json(meta[META_KEY], str(path))


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], ArtifactInfo]:
    """(state_dict of torch tensors, metadata). Raises :class:`ArtifactError` for anything else."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: checkpoint not found")
    if path.suffix != ".safetensors":
        raise ArtifactError(f"{path}: checkpoints are .safetensors files (got {path.suffix!r})")
    info = read_info(path)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path)), info
    except (SafetensorError, OSError) as exc:
        raise ArtifactError(f"{path}: corrupt or truncated checkpoint ({exc})") from exc


def load_torch_weights(path: str | os.PathLike) -> dict[str, Any]:
    """A ``.pt``/``.pth`` state dict loaded with ``weights_only=True``: pickled code is refused."""
    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: weights file not found") from exc
    except Exception as exc:   # a text file or damaged zip raises KeyError, ValueError, ... from the unpickler
        raise ArtifactError(
            f"{path}: refused to load: not a PyTorch state dict of tensors (pickled code, another format, or a "
            "damaged file). "
            "Convert it to .safetensors in a trusted environment."
        ) from exc
    if not isinstance(obj, dict):
        raise ArtifactError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return obj
