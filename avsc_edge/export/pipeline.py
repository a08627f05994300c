"""``avsc-edge export CHECKPOINT --recipe NAME [--calib DATASET] -o OUT``: every graph of the model
(the full graph and the split graphs the runtime runs) at the recipe's precision, then a parity and
accuracy report stored in the full graph's metadata; TensorRT recipes then build an engine per graph."""
from __future__ import annotations

import logging
import os
import shutil
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
    files: list[Path] = field(default_factory=list)


def export_onnx_model(checkpoint: str | os.PathLike, recipe: ExportRecipe, out: str | os.PathLike,
                      calib: str | None = None, progress=None) -> ExportResult:
    """The ONNX side of a recipe (FP32, INT8 QDQ or FP16) for every graph, with its parity report."""
    from .calibration import calibration_inputs, graph_calibration
    from .onnx_export import export_graphs, graph_paths, load_reference
    from .parity import parity_report, store_report
    from .quantize import DEFAULT_OPS, convert_fp16, quantize_int8

    say = progress or (lambda s: None)
    if recipe.precision == "int8" and calib is None:
        raise ConfigError(f"recipe {recipe.name} quantises to INT8: pass --calib DATASET (real clips for calibration)")
    reference, info = load_reference(checkpoint)
    out = Path(out)
    targets = graph_paths(out)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        say("exporting the FP32 graphs")
        fp32 = export_graphs(checkpoint, Path(tmp) / "model.onnx")
        if recipe.precision == "int8":
            c = recipe.calibration
            say(f"calibrating on {int(c.get('clips', 64))} clips of {calib}")
            feeds = graph_calibration(reference, calibration_inputs(calib, info, c.get("split", "train"),
                                                                    int(c.get("clips", 64))))
        # the full graph (the file users point at) last: an interrupted export leaves no model that looks whole
        for name, src in sorted(fp32.items(), key=lambda item: item[0] == "full"):
            if recipe.precision == "fp32":
                shutil.copyfile(src, targets[name])
            elif recipe.precision == "int8":
                say(f"quantising {name}")
                quantize_int8(src, targets[name], feeds[name], c.get("method", "minmax"), bool(c.get("per_channel", True)),
                              c.get("activations", "int8"), tuple(c.get("ops", DEFAULT_OPS)),
                              tuple(c.get("fp32_nodes", ())), bool(c.get("input_convs_fp32", True)))
            else:
                convert_fp16(src, targets[name])
    say("parity report")
    report = parity_report(out, checkpoint, calib)
    store_report(out, report)
    files = list(targets.values())
    return ExportResult(out, recipe.name, report, sum(p.stat().st_size for p in files), files)


def run_recipe(checkpoint: str | os.PathLike, recipe: ExportRecipe, out: str | os.PathLike,
               calib: str | None = None, progress=None) -> ExportResult:
    """Run a whole recipe: ONNX graphs for ONNX Runtime targets; ONNX graphs then TensorRT plans
    (one per graph) for TensorRT ones."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if recipe.target == "onnxruntime":
        return export_onnx_model(checkpoint, recipe, out, calib, progress)
    from .tensorrt_build import EngineOptions, build_engines, require_tensorrt

    require_tensorrt()  # fail early, before the slow steps, when TensorRT is absent
    out = Path(out)
    onnx_path = out.with_suffix(f".{recipe.precision}.onnx")
    result = export_onnx_model(checkpoint, recipe, onnx_path, calib, progress)
    trt = recipe.tensorrt
    options = EngineOptions(batch=tuple(trt.get("batch", (1, 8, 32))), workspace_mb=int(trt.get("workspace_mb", 4096)),
                            dla_core=trt.get("dla_core"))
    plans = build_engines(onnx_path, out, options)
    return ExportResult(out, recipe.name, result.report, sum(p.stat().st_size for p in plans), plans)
