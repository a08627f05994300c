"""Static INT8 post-training quantisation to QDQ ONNX (per-channel weights) and FP16 conversion,
one graph at a time.

Activations: ``int8`` symmetric is what TensorRT's explicit quantisation needs; ``uint8``
asymmetric is what ONNX Runtime's x86 kernels are fastest with (measured on the base model,
2-core AVX2 CPU: S8S8 left 11 of 32 convolutions unfused and ran 1.5x slower). Recipes choose.
The graph outputs stay FP32: a trailing quantise/dequantise pair at an output is removed, so
scores are not rounded to the INT8 grid (ties between classes).
Convolutions on the raw signal (at most 3 input channels: the log-mel, the RGB frames) stay FP32
by default: on the demo model the visual stem alone moved top-1 agreement with PyTorch from
94.4 % to 97.8 % (docs/decisions.md), for a few per cent of the convolution work.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ConfigError, require
from .calibration import ArrayCalibrationReader
from .onnx_export import read_onnx_info, write_onnx

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
ACTIVATIONS = ("int8", "uint8")
DEFAULT_OPS = ("Conv", "MatMul", "Gemm")


def float_outputs(proto):
    """Remove the Q -> DQ pair in front of each graph output (the output becomes the FP32 value)."""
    graph = proto.graph
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            consumers[i] = consumers.get(i, 0) + 1
    dropped = set()
    for out in graph.output:
        node = producer.get(out.name)
        while node is not None and node.op_type == "Identity":
            node = producer.get(node.input[0])
        if node is None or node.op_type != "DequantizeLinear":
            continue
        quant = producer.get(node.input[0])
        if quant is None or quant.op_type != "QuantizeLinear" or consumers.get(quant.output[0], 0) != 1:
            continue
        node.op_type, source = "Identity", quant.input[0]
        del node.input[:]
        node.input.append(source)
        dropped.add(id(quant))
    kept = [n for n in graph.node if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(kept)
    used = {i for n in graph.node for i in n.input}
    unused = [t for t in graph.initializer if t.name not in used]   # the removed pairs' scales
    for t in unused:
        graph.initializer.remove(t)
    return proto


def input_convs(proto) -> list[str]:
    """Names of the ungrouped Conv nodes whose weights see at most 3 input channels (a network's
    stem; a depthwise convolution's weights see one channel per group, but it is not a stem)."""
    shapes = {t.name: tuple(t.dims) for t in proto.graph.initializer}
    return [n.name for n in proto.graph.node
            if n.op_type == "Conv" and len(shapes.get(n.input[1], ())) == 4 and shapes[n.input[1]][1] <= 3
            and conv_groups(n) == 1]


def branch_node(name: str) -> bool:
    """A node of a backbone or of the slot pooling over its tokens (exported names)."""
    return "backbone/" in name or "slots/" in name


def conv_groups(node) -> int:
    return next((a.i for a in node.attribute if a.name == "group"), 1)


def depthwise_convs(proto) -> list[str]:
    """Names of the grouped (depthwise) Conv nodes."""
    return [n.name for n in proto.graph.node if n.op_type == "Conv" and conv_groups(n) > 1]


def quantize_int8(fp32_onnx: str | os.PathLike, out: str | os.PathLike, calibration: dict[str, np.ndarray],
                  method: str = "minmax", per_channel: bool = True, activations: str = "int8",
                  ops: tuple[str, ...] = DEFAULT_OPS, exclude_nodes: tuple[str, ...] = (),
                  input_convs_fp32: bool = True, depthwise_fp32: bool = False, backbone_fp32: bool = False) -> Path:
    """Write a QDQ INT8 version of one graph, calibrated on ``calibration`` (its input arrays).
    ``exclude_nodes`` (and, with ``input_convs_fp32``, the stem convolutions; with
    ``depthwise_fp32``, the depthwise convolutions; with ``backbone_fp32``, the branches up to their
    slot embeddings: the backbones and the slot pooling that reads their tokens) stay FP32."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in CALIBRATION_METHODS:
        raise ConfigError(f"calibration method must be one of {CALIBRATION_METHODS}, got {method!r}")
    if activations not in ACTIVATIONS:
        raise ConfigError(f"activations must be one of {ACTIVATIONS}, got {activations!r}")
    info = read_onnx_info(fp32_onnx)
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_onnx), str(pre), skip_symbolic_shape=True)
        model = onnx.load(str(pre))
        present = sorted({n.op_type for n in model.graph.node} & set(ops))
        kept = (input_convs(model) if input_convs_fp32 else []) + (depthwise_convs(model) if depthwise_fp32 else []) \
            + ([n.name for n in model.graph.node if branch_node(n.name)] if backbone_fp32 else [])
        exclude_nodes = tuple(exclude_nodes) + tuple(n for n in kept if n not in exclude_nodes)
        del model   # quantize_static loads its own copy: one copy of the weights fewer at the peak
        q = Path(tmp) / "q.onnx"
        symmetric = activations == "int8"
        quantize_static(
            str(pre), str(q), ArrayCalibrationReader(calibration),
            quant_format=QuantFormat.QDQ, per_channel=per_channel,
            activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
            weight_type=QuantType.QInt8, op_types_to_quantize=present, nodes_to_exclude=list(exclude_nodes),
            calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                              "percentile": CalibrationMethod.Percentile}[method],
            extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True},
        )
        proto = float_outputs(onnx.load(str(q)))
    new = dataclasses.replace(info, precision="int8", metrics={
        **info.metrics, "quantization": {"format": "QDQ", "per_channel": per_channel, "calibration": method,
                                         "activations": activations,
                                         "calibration_items": int(len(next(iter(calibration.values())))),
                                         "quantized_ops": present, "fp32_nodes": list(exclude_nodes)}})
    write_onnx(proto, new, Path(out))
    return Path(out)


def convert_fp16(fp32_onnx: str | os.PathLike, out: str | os.PathLike) -> Path:
    """FP16 weights and activations with FP32 inputs/outputs (``keep_io_types``): the FP16-cast graph
    a strongly typed TensorRT network is built from."""
    float16 = require("onnxconverter_common.float16", "train", "FP16 conversion")
    import onnx

    info = read_onnx_info(fp32_onnx)
    source = onnx.load(str(fp32_onnx))
    del source.graph.value_info[:]  # stale FP32 intermediate types would contradict the converted nodes
    proto = float16.convert_float_to_float16(source, keep_io_types=True)
    write_onnx(proto, dataclasses.replace(info, precision="fp16"), Path(out))
    return Path(out)
