"""Small ONNX models written without the ``onnx`` package (the runtime does not need it): a
protobuf encoder for the few messages a graph of standard operators needs, and metadata appended
to an existing model file.

Used by ``avsc-edge adapt`` for the heads it fits with NumPy; :mod:`.onnx_file` reads what this
writes. Field numbers are onnx.proto's.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .artifact import META_KEY

IR_VERSION = 8            # ONNX Runtime >= 1.10 reads it; opset 18 needs IR >= 8
OPSET = 18
FLOAT, INT64 = 1, 7       # TensorProto.DataType
ATTR_FLOAT, ATTR_INT, ATTR_INTS = 1, 2, 7


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _bytes(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def _string(number: int, text: str) -> bytes:
    return _bytes(number, text.encode("utf-8"))


def _int(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value)


def tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto with raw little-endian data (float32 or int64)."""
    array = np.asarray(array)
    kind = {np.dtype(np.float32): FLOAT, np.dtype(np.int64): INT64}[array.dtype]
    dims = b"".join(_int(1, d) for d in array.shape)
    return dims + _int(2, kind) + _string(8, name) + _bytes(9, np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())


def value_info(name: str, shape: Sequence[int | str]) -> bytes:
    """ValueInfoProto of a float32 tensor; a str dimension is symbolic (e.g. ``"batch"``)."""
    dims = b"".join(_bytes(1, _string(2, d) if isinstance(d, str) else _int(1, d)) for d in shape)
    tensor_type = _int(1, FLOAT) + _bytes(2, dims)
    return _string(1, name) + _bytes(2, _bytes(1, tensor_type))


def _attribute(name: str, value) -> bytes:
    if isinstance(value, float):
        return _string(1, name) + _key(2, 5) + struct.pack("<f", value) + _int(20, ATTR_FLOAT)
    if isinstance(value, int):
        return _string(1, name) + _int(3, value) + _int(20, ATTR_INT)
    return _string(1, name) + b"".join(_int(8, v) for v in value) + _int(20, ATTR_INTS)


@dataclass
class Graph:
    """Nodes, initializers, inputs and outputs of one graph, added in order."""

    name: str
    nodes: list[bytes] = field(default_factory=list)
    initializers: list[bytes] = field(default_factory=list)
    inputs: list[bytes] = field(default_factory=list)
    outputs: list[bytes] = field(default_factory=list)
    _count: int = 0

    def input(self, name: str, shape) -> str:
        self.inputs.append(value_info(name, shape))
        return name

    def output(self, name: str, shape) -> None:
        self.outputs.append(value_info(name, shape))

    def constant(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(tensor(name, array))
        return name

    def node(self, op: str, inputs: Sequence[str], output: str | None = None, **attributes) -> str:
        self._count += 1
        output = output or f"{op.lower()}_{self._count}"
        payload = b"".join(_string(1, i) for i in inputs) + _string(2, output) + _string(3, f"{op}_{self._count}") \
            + _string(4, op) + b"".join(_bytes(5, _attribute(k, v)) for k, v in attributes.items())
        self.nodes.append(payload)
        return output

    def proto(self) -> bytes:
        return (b"".join(_bytes(1, n) for n in self.nodes) + _string(2, self.name)
                + b"".join(_bytes(5, t) for t in self.initializers) + b"".join(_bytes(11, i) for i in self.inputs)
                + b"".join(_bytes(12, o) for o in self.outputs))


def model_bytes(graph: Graph, metadata: dict[str, str] | None = None, producer: str = "avsc-edge") -> bytes:
    """A ModelProto: IR version, producer, the graph, the default-domain opset, metadata."""
    opset = _bytes(8, _string(1, "") + _int(2, OPSET))
    return (_int(1, IR_VERSION) + _string(2, producer) + _bytes(7, graph.proto()) + opset
            + metadata_entries(metadata or {}))


def metadata_entries(metadata: dict[str, str]) -> bytes:
    """``metadata_props`` entries; appended to a serialised ModelProto they add to its metadata
    (protobuf merges repeated fields), which is how a shipped graph gets an artifact's metadata."""
    return b"".join(_bytes(14, _string(1, k) + _string(2, v)) for k, v in metadata.items())


def with_metadata(model: bytes, info_json: str) -> bytes:
    """A serialised model (without avsc-edge metadata) with the artifact's metadata added."""
    return model + metadata_entries({META_KEY: info_json})
