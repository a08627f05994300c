"""Static INT8 post-training quantisation to a QDQ ONNX model (per-channel weights), one model for
ONNX Runtime on CPU and for TensorRT's explicit quantisation; FP16 conversion for GPUs."""
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


def quantize_int8(fp32_onnx: str | os.PathLike, out: str | os.PathLike, calibration: dict[str, np.ndarray],
                  method: str = "minmax", per_channel: bool = True, exclude_ops: tuple[str, ...] = (),
                  exclude_nodes: tuple[str, ...] = ()) -> Path:
    """Write a QDQ INT8 model. ``exclude_ops`` / ``exclude_nodes`` stay in FP32 (sensitive layers)."""
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in CALIBRATION_METHODS:
        raise ConfigError(f"calibration method must be one of {CALIBRATION_METHODS}, got {method!r}")
    info = read_onnx_info(fp32_onnx)
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_onnx), str(pre), skip_symbolic_shape=True)
        model = onnx.load(str(pre))
        ops = sorted({n.op_type for n in model.graph.node} & {"Conv", "MatMul", "Gemm"} - set(exclude_ops))
        q = Path(tmp) / "q.onnx"
        quantize_static(
            str(pre), str(q), ArrayCalibrationReader(calibration),
            quant_format=QuantFormat.QDQ, per_channel=per_channel, activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8, op_types_to_quantize=ops, nodes_to_exclude=list(exclude_nodes),
            calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                              "percentile": CalibrationMethod.Percentile}[method],
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
        )
        proto = onnx.load(str(q))
    new = dataclasses.replace(info, precision="int8", metrics={
        **info.metrics, "quantization": {"format": "QDQ", "per_channel": per_channel, "calibration": method,
                                         "calibration_clips": int(len(next(iter(calibration.values())))),
                                         "quantized_ops": ops, "fp32_nodes": list(exclude_nodes)}})
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
