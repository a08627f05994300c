"""``avsc-edge export CHECKPOINT --recipe NAME [--calib DATASET] -o OUT``: one function per step,
driven by a recipe; every export ends with a parity and accuracy report stored in its metadata."""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from .recipes import ExportRecipe

log = logging.getLogger("avsc_edge")


@dataclass
class ExportResult:
    artifact: Path
    recipe: str
    report: dict = field(default_factory=dict)
    size_bytes: int = 0


def export_onnx_model(checkpoint: str | os.PathLike, recipe: ExportRecipe, out: str | os.PathLike,
                      calib: str | None = None, fp32_onnx: str | os.PathLike | None = None) -> ExportResult:
    """The ONNX side of a recipe (FP32, INT8 QDQ or FP16), with its parity report."""
    from .calibration import calibration_inputs, split_inputs
    from .onnx_export import export_onnx, load_reference
    from .parity import parity_report, store_report
    from .quantize import convert_fp16, quantize_int8

    reference, info = load_reference(checkpoint)
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(fp32_onnx) if fp32_onnx else export_onnx(checkpoint, Path(tmp) / "fp32.onnx")
        if recipe.precision == "fp32":
            if fp32 != out:
                out.write_bytes(fp32.read_bytes())
        elif recipe.precision == "int8":
            if calib is None:
                raise ConfigError(f"recipe {recipe.name} quantises to INT8: pass --calib DATASET (real clips for calibration)")
            c = recipe.calibration
            inputs = calibration_inputs(calib, info, c.get("split", "train"), int(c.get("clips", 64)))
            quantize_int8(fp32, out, inputs, c.get("method", "minmax"), bool(c.get("per_channel", True)),
                          exclude_nodes=tuple(c.get("fp32_nodes", ())))
        else:
            convert_fp16(fp32, out)
    validation, labels = split_inputs(calib, info, "evaluate") if calib is not None else (None, None)
    report = parity_report(out, reference, validation, labels)
    store_report(out, report)
    return ExportResult(out, recipe.name, report, out.stat().st_size)


def run_recipe(checkpoint: str | os.PathLike, recipe: ExportRecipe, out: str | os.PathLike,
               calib: str | None = None) -> ExportResult:
    """Run a whole recipe: ONNX for ONNX Runtime targets; ONNX then a TensorRT plan for TensorRT ones."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if recipe.target == "onnxruntime":
        return export_onnx_model(checkpoint, recipe, out, calib)
    from .tensorrt_build import EngineOptions, _tensorrt, build_engine

    _tensorrt()  # fail early, before the slow steps, when TensorRT is absent
    out = Path(out)
    onnx_path = out.with_suffix(f".{recipe.precision}.onnx")
    result = export_onnx_model(checkpoint, recipe, onnx_path, calib)
    trt = recipe.tensorrt
    options = EngineOptions(batch=tuple(trt.get("batch", (1, 8, 32))), workspace_mb=int(trt.get("workspace_mb", 4096)),
                            dla_core=trt.get("dla_core"))
    build_engine(onnx_path, out, options)
    return ExportResult(out, recipe.name, result.report, out.stat().st_size)
