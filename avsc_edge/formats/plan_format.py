"""The ``.plan`` file: a small header around a serialised TensorRT engine. An engine built by
another TensorRT version or for another GPU fails obscurely (or crashes), so loading checks the
header first — and reads nothing beyond the header of a file that is not a plan.

Layout (little endian)::

    b"AVSCPLAN" | u32 format version | u64 JSON length | JSON metadata | engine bytes

The JSON holds ``sdk_version``, ``tensorrt_version``, ``compute_capability`` ("8.7"), ``precision``,
``onnx_sha256`` and ``artifact`` (the ArtifactInfo), each type-checked. The alternative for
``trtexec`` users is a raw plan with a sidecar ``NAME.plan.json`` holding the same JSON.
"""
from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import ArtifactError
from .artifact import atomic_write, check_sdk_version, parse_metadata

MAGIC = b"AVSCPLAN"
FORMAT_VERSION = 1
_HEAD = struct.Struct("<8sIQ")
MAX_JSON = 4 * 1024 * 1024
_VERSION = re.compile(r"\d+\.\d+(\.\d+)*")


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


def write_plan(path: str | os.PathLike, header: PlanHeader, engine: bytes) -> Path:
    meta = header.to_json().encode()
    return atomic_write(Path(path), lambda tmp: tmp.write_bytes(_HEAD.pack(MAGIC, FORMAT_VERSION, len(meta)) + meta
                                                               + bytes(engine)))


def write_raw_plan(path: str | os.PathLike, header: PlanHeader, engine: bytes) -> Path:
    """A bare engine (for trtexec and other tools) plus ``path + '.json'`` with the metadata."""
    path = Path(path)
    atomic_write(path, lambda tmp: tmp.write_bytes(bytes(engine)))
    atomic_write(Path(f"{path}.json"), lambda tmp: tmp.write_text(header.to_json()))
    return path


def _header_from(text: bytes, where: str) -> PlanHeader:
    data = parse_metadata(text, where, max_bytes=MAX_JSON)
    if not isinstance(data, dict):
        raise ArtifactError(f"{where}: corrupt plan metadata (not a JSON object)")
    names = {f.name for f in fields(PlanHeader)}
    if set(data) != names:
        raise ArtifactError(f"{where}: plan metadata has unexpected fields (got {sorted(data)}, expected {sorted(names)})")
    for name in names - {"artifact"}:
        if not isinstance(data[name], str):
            raise ArtifactError(f"{where}: plan metadata field {name!r} must be a string, got {data[name]!r}")
    if not isinstance(data["artifact"], dict):
        raise ArtifactError(f"{where}: plan metadata field 'artifact' must be an object")
    for name in ("tensorrt_version", "compute_capability"):
        if not _VERSION.fullmatch(data[name]):
            raise ArtifactError(f"{where}: plan metadata field {name!r} is not a version number: {data[name]!r}")
    return PlanHeader(**data)


def read_plan_header(path: str | os.PathLike) -> tuple[PlanHeader, int]:
    """(header, offset of the engine bytes) without reading the engine. Raw plans need their
    sidecar JSON. Raises :class:`ArtifactError` for truncated, foreign or corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: plan file not found")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(_HEAD.size)
        if not head.startswith(MAGIC):
            sidecar = Path(f"{path}.json")
            if sidecar.is_file() and sidecar.stat().st_size <= MAX_JSON:
                if size == 0:
                    raise ArtifactError(f"{path}: empty engine file")
                return _header_from(sidecar.read_bytes(), str(sidecar)), 0
            raise ArtifactError(f"{path}: not an avsc-edge plan (no {MAGIC.decode()} header) and no sidecar "
                                f"{sidecar.name}; build it with `avsc-edge export --recipe desktop-fp16`")
        if len(head) < _HEAD.size:
            raise ArtifactError(f"{path}: truncated plan header ({len(head)} bytes)")
        _, version, length = _HEAD.unpack(head)
        if version != FORMAT_VERSION:
            raise ArtifactError(f"{path}: plan format version {version}, this SDK reads {FORMAT_VERSION}")
        if length > MAX_JSON or _HEAD.size + length >= size:
            raise ArtifactError(f"{path}: truncated plan (header says {length} bytes of metadata, file has {size})")
        meta = f.read(length)
    try:
        return _header_from(meta, str(path)), _HEAD.size + length
    except ArtifactError as exc:
        raise ArtifactError(f"{path}: corrupt plan metadata ({exc})") from exc


def read_plan(path: str | os.PathLike) -> tuple[PlanHeader, bytes]:
    """(header, engine bytes); the engine is read only after the header checks out."""
    header, offset = read_plan_header(path)
    with Path(path).open("rb") as f:
        f.seek(offset)
        engine = f.read()
    if not engine:
        raise ArtifactError(f"{path}: plan holds no engine bytes (truncated?)")
    return header, engine


def check_compatible(header: PlanHeader, tensorrt_version: str, compute_capability: str, where: str) -> None:
    """Refuse, before deserialising, an engine built by another TensorRT release or for another GPU."""
    check_sdk_version(header.sdk_version, where)
    if header.tensorrt_version.split(".")[:2] != str(tensorrt_version).split(".")[:2]:
        raise ArtifactError(f"{where}: built with TensorRT {header.tensorrt_version}, this machine has "
                            f"{tensorrt_version}; rebuild the engine here (`avsc-edge export --recipe ...`)")
    if header.compute_capability != compute_capability:
        raise ArtifactError(f"{where}: built for GPU compute capability {header.compute_capability}, this GPU is "
                            f"{compute_capability}; engines are not portable across GPU architectures: rebuild it")
