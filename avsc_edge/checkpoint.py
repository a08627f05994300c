"""Checkpoints as ``.safetensors`` with the artifact metadata (configs, labels, SDK version) in the
file's header. Never pickle: ``.pt`` files are read with ``torch.load(weights_only=True)`` only."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .config import ArtifactInfo
from .errors import ArtifactError, ConfigError
from .version import __version__

META_KEY = "avsc_edge"


def check_sdk_version(version: str, what: str) -> None:
    """Artifacts load when written by the same ``major.minor`` SDK version (0.x: minor bumps break)."""
    mine, theirs = __version__.split(".")[:2], str(version).split(".")[:2]
    if mine != theirs:
        raise ArtifactError(
            f"{what} was written by avsc-edge {version}; this is {__version__}. "
            f"Re-export it with this version, or install avsc-edge=={version}"
        )


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``: never a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_checkpoint(path: str | os.PathLike, state_dict: dict[str, Any], info: ArtifactInfo) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={META_KEY: info.to_json()}))
    return path


def read_info(path: str | os.PathLike) -> ArtifactInfo:
    """The metadata of a ``.safetensors`` checkpoint, without loading the weights."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 0 < size <= 100_000_000:
                raise ArtifactError(f"{path}: not a safetensors file (bad header length)")
            header = json.loads(f.read(size))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable safetensors header ({exc})") from exc
    meta = header.get("__metadata__", {})
    if META_KEY not in meta:
        raise ArtifactError(f"{path}: safetensors file without avsc-edge metadata; was it written by avsc-edge?")
    try:
        info = ArtifactInfo.from_json(meta[META_KEY])
    except ConfigError as exc:
        raise ArtifactError(f"{path}: invalid avsc-edge metadata ({exc})") from exc
    check_sdk_version(info.sdk_version, str(path))
    return info


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
    import pickle

    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        raise ArtifactError(
            f"{path}: refused to load: the file holds more than tensors (pickled code?) or is corrupt. "
            "Convert it to .safetensors in a trusted environment."
        ) from exc
    if not isinstance(obj, dict):
        raise ArtifactError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return obj
