"""The ``.plan`` container: a small header with the SDK metadata, then the serialised TensorRT
engine. A bare engine cannot hold our metadata, and deserialising an engine built by another
TensorRT version or for another GPU fails obscurely (or crashes), so loading checks the header first.

Layout (little endian)::

    b"AVSCPLAN" | u32 format version | u64 JSON length | JSON metadata | engine bytes

The JSON holds ``sdk_version``, ``tensorrt_version``, ``compute_capability`` ("8.7"), ``precision``,
``onnx_sha256`` and ``artifact`` (the ArtifactInfo). The alternative for ``trtexec`` users is a raw
plan with a sidecar ``NAME.plan.json`` holding the same JSON.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from ..checkpoint import atomic_write
from ..errors import ArtifactError

MAGIC = b"AVSCPLAN"
FORMAT_VERSION = 1
_HEAD = struct.Struct("<8sIQ")
MAX_JSON = 16 * 1024 * 1024


@dataclass(frozen=True)
class PlanHeader:
    sdk_version: str
    tensorrt_version: str
    compute_capability: str
    precision: str
    onnx_sha256: str
    artifact: dict

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_plan(path: str | os.PathLike, header: PlanHeader, engine: bytes) -> Path:
    meta = header.to_json().encode()
    path = Path(path)
    atomic_write(path, lambda tmp: tmp.write_bytes(_HEAD.pack(MAGIC, FORMAT_VERSION, len(meta)) + meta + bytes(engine)))
    return path


def write_raw_plan(path: str | os.PathLike, header: PlanHeader, engine: bytes) -> Path:
    """A bare engine (for trtexec and other tools) plus ``path + '.json'`` with the metadata."""
    path = Path(path)
    atomic_write(path, lambda tmp: tmp.write_bytes(bytes(engine)))
    atomic_write(Path(f"{path}.json"), lambda tmp: tmp.write_text(header.to_json()))
    return path


def _header_from(data: dict, where: str) -> PlanHeader:
    try:
        return PlanHeader(**data)
    except TypeError as exc:
        raise ArtifactError(f"{where}: plan metadata has unexpected fields ({exc})") from exc


def read_plan(path: str | os.PathLike) -> tuple[PlanHeader, bytes]:
    """(header, engine bytes). Raw plans need their sidecar JSON. Raises :class:`ArtifactError` for
    truncated, foreign or corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: plan file not found")
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        sidecar = Path(f"{path}.json")
        if sidecar.is_file():
            try:
                return _header_from(json.loads(sidecar.read_text()), str(sidecar)), data
            except json.JSONDecodeError as exc:
                raise ArtifactError(f"{sidecar}: invalid JSON ({exc})") from exc
        raise ArtifactError(f"{path}: not an avsc-edge plan (no {MAGIC.decode()} header) and no sidecar "
                            f"{sidecar.name}; build it with `avsc-edge export --recipe desktop-fp16`")
    if len(data) < _HEAD.size:
        raise ArtifactError(f"{path}: truncated plan header ({len(data)} bytes)")
    _, version, length = _HEAD.unpack_from(data)
    if version != FORMAT_VERSION:
        raise ArtifactError(f"{path}: plan format version {version}, this SDK reads {FORMAT_VERSION}")
    if length > MAX_JSON or _HEAD.size + length > len(data):
        raise ArtifactError(f"{path}: truncated plan (header says {length} bytes of metadata)")
    try:
        meta = json.loads(data[_HEAD.size:_HEAD.size + length])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: corrupt plan metadata ({exc})") from exc
    engine = data[_HEAD.size + length:]
    if not engine:
        raise ArtifactError(f"{path}: plan holds no engine bytes (truncated?)")
    return _header_from(meta, str(path)), engine


def check_compatible(header: PlanHeader, tensorrt_version: str, compute_capability: str, where: str) -> None:
    """Refuse, before deserialising, an engine built by another TensorRT release or for another GPU."""
    from ..checkpoint import check_sdk_version

    check_sdk_version(header.sdk_version, where)
    if header.tensorrt_version.split(".")[:2] != tensorrt_version.split(".")[:2]:
        raise ArtifactError(f"{where}: built with TensorRT {header.tensorrt_version}, this machine has "
                            f"{tensorrt_version}; rebuild the engine here (`avsc-edge export --recipe ...`)")
    if header.compute_capability != compute_capability:
        raise ArtifactError(f"{where}: built for GPU compute capability {header.compute_capability}, this GPU is "
                            f"{compute_capability}; engines are not portable across GPU architectures: rebuild it")
