"""What an ``.onnx`` file says about itself, read without ONNX Runtime or the ``onnx`` package:
its ``metadata_props`` (so a model's metadata is read without loading its weights) and every
tensor stored as *external data*, whose location the SDK checks itself: inside the model's
folder, relative, not through a link out — whatever the installed ONNX Runtime would allow.

A minimal protobuf walker over ModelProto -> GraphProto (nodes, attributes, subgraphs,
initializers) and FunctionProto, with limits on nesting depth.
"""
from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import Iterator

from ..errors import ArtifactError

MAX_DEPTH = 64
MAX_FIELDS = 2_000_000   # fields walked in one file (a real model: some thousands of nodes, attributes, initializers)

# field numbers (onnx.proto)
MODEL_GRAPH, MODEL_METADATA, MODEL_FUNCTIONS = 7, 14, 25
GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_SPARSE_INITIALIZER = 1, 5, 15
NODE_ATTRIBUTE = 5
ATTR_T, ATTR_G, ATTR_TENSORS, ATTR_GRAPHS, ATTR_SPARSE, ATTR_SPARSES = 5, 6, 10, 11, 22, 23
SPARSE_VALUES, SPARSE_INDICES = 1, 2
FUNCTION_NODE = 7
TENSOR_NAME, TENSOR_EXTERNAL_DATA, TENSOR_DATA_LOCATION = 8, 13, 14
ENTRY_KEY, ENTRY_VALUE = 1, 2


class _Corrupt(Exception):
    pass


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Corrupt("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value start, value end or varint value) of one message."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:   # no protobuf message has a field 0: zeros, or not protobuf at all
            raise _Corrupt("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield field, wire, value, value
        elif wire == 1:
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise _Corrupt("length past the end of its message")
            yield field, wire, pos, pos + length
            pos += length
        elif wire == 5:
            pos += 4
        else:
            raise _Corrupt(f"unsupported wire type {wire}")
        if pos > end:
            raise _Corrupt("field past the end of its message")


def _entries(buf, start: int, end: int) -> tuple[str, str]:
    key = value = ""
    for f, w, a, b in _fields(buf, start, end):
        if w == 2 and f == ENTRY_KEY:
            key = bytes(buf[a:b]).decode("utf-8", "replace")
        elif w == 2 and f == ENTRY_VALUE:
            value = bytes(buf[a:b]).decode("utf-8", "replace")
    return key, value


class _Walker:
    def __init__(self, buf) -> None:
        self.buf = buf
        self.metadata: dict[str, str] = {}
        self.external: list[tuple[str, str]] = []    # (tensor name, location)
        self.walked = 0

    def fields(self, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
        """:func:`_fields`, counted against :data:`MAX_FIELDS` for the whole file."""
        for item in _fields(self.buf, start, end):
            self.walked += 1
            if self.walked > MAX_FIELDS:
                raise _Corrupt(f"more than {MAX_FIELDS} fields")
            yield item

    def model(self, start: int, end: int) -> None:
        for f, w, a, b in self.fields(start, end):
            if w != 2:
                continue
            if f == MODEL_METADATA:
                k, v = _entries(self.buf, a, b)
                self.metadata[k] = v
            elif f == MODEL_GRAPH:
                self.graph(a, b, 1)
            elif f == MODEL_FUNCTIONS:
                for ff, fw, fa, fb in self.fields(a, b):
                    if fw == 2 and ff == FUNCTION_NODE:
                        self.node(fa, fb, 2)

    def graph(self, start: int, end: int, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _Corrupt("graphs nested too deeply")
        for f, w, a, b in self.fields(start, end):
            if w != 2:
                continue
            if f == GRAPH_NODE:
                self.node(a, b, depth + 1)
            elif f == GRAPH_INITIALIZER:
                self.tensor(a, b)
            elif f == GRAPH_SPARSE_INITIALIZER:
                self.sparse(a, b)

    def node(self, start: int, end: int, depth: int) -> None:
        for f, w, a, b in self.fields(start, end):
            if w != 2 or f != NODE_ATTRIBUTE:
                continue
            for af, aw, aa, ab in self.fields(a, b):
                if aw != 2:
                    continue
                if af in (ATTR_T, ATTR_TENSORS):
                    self.tensor(aa, ab)
                elif af in (ATTR_G, ATTR_GRAPHS):
                    self.graph(aa, ab, depth + 1)
                elif af in (ATTR_SPARSE, ATTR_SPARSES):
                    self.sparse(aa, ab)

    def sparse(self, start: int, end: int) -> None:
        for f, w, a, b in self.fields(start, end):
            if w == 2 and f in (SPARSE_VALUES, SPARSE_INDICES):
                self.tensor(a, b)

    def tensor(self, start: int, end: int) -> None:
        name, external, location = "", False, None
        for f, w, a, b in self.fields(start, end):
            if f == TENSOR_DATA_LOCATION and w == 0:
                external = a == 1
            elif f == TENSOR_NAME and w == 2:
                name = bytes(self.buf[a:b]).decode("utf-8", "replace")
            elif f == TENSOR_EXTERNAL_DATA and w == 2:
                k, v = _entries(self.buf, a, b)
                if k == "location":
                    location = v
        if external or location is not None:
            self.external.append((name, location or ""))


def _walk(path: str | os.PathLike) -> _Walker:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise ArtifactError(f"{path}: empty file, not an ONNX model")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                walker = _Walker(buf)
                walker.model(0, size)
                return walker
    except _Corrupt as exc:
        raise ArtifactError(f"{path}: not a valid ONNX model ({exc})") from exc
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: unreadable ({exc})") from exc


def read_metadata_props(path: str | os.PathLike) -> dict[str, str]:
    """The model's ``metadata_props`` (key -> value)."""
    return _walk(path).metadata


def check_external_data(path: str | os.PathLike) -> list[Path]:
    """Every external-data file the model references, verified to lie inside the model's folder
    (relative path, no ``..`` out of it, no symlink pointing out). Raises :class:`ArtifactError`."""
    path = Path(path)
    folder = path.resolve().parent
    found = []
    for name, location in _walk(path).external:
        rel = Path(location)
        if not location or rel.is_absolute() or location.startswith(("\\", "/")) or ":" in location:
            raise ArtifactError(f"{path}: tensor {name!r} keeps its data at {location!r}; external data must be a "
                                "relative path inside the model's folder")
        target = (folder / rel).resolve()
        if folder not in target.parents:
            raise ArtifactError(f"{path}: tensor {name!r} points outside the model's folder ({location!r}); refused")
        found.append(target)
    return found
