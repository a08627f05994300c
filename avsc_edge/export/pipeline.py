"""``avsc-edge export CHECKPOINT --recipe NAME [--calib DATASET] -o OUT``: every graph of the model
(the full graph and the split graphs the runtime runs) at the recipe's precision, then a parity and
accuracy report stored in the full graph's metadata; TensorRT recipes then build an engine per graph."""
from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..backbones import backbones_stay_fp32
from ..errors import ConfigError, DependencyError
from ..formats.artifact import install, part_paths, staging
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
                      calib: str | None = None, progress=None, parts_only: bool = False) -> ExportResult:
    """The ONNX side of a recipe (FP32, INT8 QDQ or FP16) for every graph, with its parity report.
    ``parts_only``: install only the split graphs the SDK runs (no full graph for other runtimes:
    the weights are stored once instead of twice); the report then travels in the ``heads`` graph."""
    from ..model import from_checkpoint
    from .calibration import calibration_inputs, graph_calibration
    from .onnx_export import export_graphs, graph_paths
    from .parity import parity_report, store_report
    from .quantize import DEFAULT_OPS, convert_fp16, quantize_int8

    say = progress or (lambda s: None)
    if recipe.precision == "int8" and calib is None:
        raise ConfigError(f"recipe {recipe.name} quantises to INT8: pass --calib DATASET (real clips for calibration)")
    reference, info = from_checkpoint(checkpoint)   # the graphs and the calibration inputs come from it
    out = Path(out)
    paths_of = part_paths if parts_only else graph_paths   # the files this export writes
    # every file is written into a staging folder beside the target and checked there, then all are
    # moved into place at once: an earlier artifact stays whole until then, whatever happens
    with staging(out) as stage:
        staged = paths_of(stage / out.name)
        say("exporting the FP32 graphs")
        (stage / "fp32").mkdir()
        fp32 = export_graphs(reference, info, stage / "fp32" / "model.onnx", parts_only=parts_only)
        if recipe.precision == "int8":
            c = recipe.calibration
            feeds_in = calibration_inputs(calib, info, c.get("split", "train"), int(c.get("clips", 64)))
            say(f"calibrating on {len(feeds_in['log_mel'])} clips of {calib}")
            feeds = graph_calibration(reference, info, feeds_in)
        del reference   # not held while quantising (the report loads it again): a copy of the weights fewer
        for name, src in fp32.items():
            if recipe.precision == "fp32":
                os.replace(src, staged[name])
            elif recipe.precision == "int8":
                say(f"quantising {name}")
                quantize_int8(src, staged[name], feeds[name], c.get("method", "minmax"), bool(c.get("per_channel", True)),
                              c.get("activations", "int8"), tuple(c.get("ops", DEFAULT_OPS)),
                              tuple(c.get("fp32_nodes", ())), bool(c.get("input_convs_fp32", True)),
                              bool(c.get("depthwise_fp32", False)),
                              recipe.target == "onnxruntime" and backbones_stay_fp32(info.model_config, name))
            else:
                convert_fp16(src, staged[name])
        say("parity report")
        report = parity_report(stage / out.name, checkpoint, calib)
        store_report(staged["heads" if parts_only else "full"], report)
        targets = paths_of(out)
        # the full graph (the file users point at) last
        install({staged[n]: targets[n] for n in sorted(staged, key=lambda n: n == "full")},
                remove=(out,) if parts_only else ())
    files = list(targets.values())
    return ExportResult(out, recipe.name, report, sum(p.stat().st_size for p in files), files)


def export_onnx_artifact(model: str | os.PathLike, recipe: ExportRecipe, out: str | os.PathLike,
                         progress=None) -> ExportResult:
    """The ONNX side of a recipe from an ONNX artifact without a PyTorch checkpoint (a few-shot
    model ``adapt`` wrote: its split graphs): FP32 as they are, or FP16-cast; with a parity report
    against the source on random inputs. INT8 needs the checkpoint's calibration path."""
    from ..runtime.onnx_backend import OnnxBackend
    from ..runtime.runner import ModelRunner
    from .parity import random_input_report, store_report
    from .quantize import convert_fp16

    say = progress or (lambda s: None)
    if recipe.precision == "int8":
        raise ConfigError(f"recipe {recipe.name} quantises to INT8, which needs the PyTorch checkpoint; {model} is an "
                          "ONNX model (few-shot models keep the tagger branches FP32 on the CPU, as the edge preset "
                          "does, and their head is one matrix product): export --recipe cpu-fp32 or gpu-fp16")
    source = OnnxBackend(model)
    out = Path(out)
    with staging(out) as stage:
        staged = {part: stage / target.name for part, target in part_paths(out).items()}
        for part, src in source.paths.items():
            if recipe.precision == "fp32":
                shutil.copyfile(src, staged[part])
            else:
                say(f"converting {part} to FP16")
                convert_fp16(src, staged[part])
        heads = staged["heads"]
        report = random_input_report(ModelRunner(OnnxBackend(stage / out.name)), ModelRunner(source))
        store_report(heads, report)
        targets = part_paths(out)
        install({staged[p]: targets[p] for p in staged}, remove=(out,))
    files = list(targets.values())
    return ExportResult(out, recipe.name, {"random_inputs": report}, sum(p.stat().st_size for p in files), files)


def run_recipe(checkpoint: str | os.PathLike, recipe: ExportRecipe, out: str | os.PathLike,
               calib: str | None = None, progress=None, parts_only: bool = False) -> ExportResult:
    """Run a whole recipe: ONNX graphs for ONNX Runtime targets; ONNX graphs then TensorRT plans
    (one per graph) for TensorRT ones. ``checkpoint``: a ``.safetensors`` PyTorch checkpoint, or an
    ONNX artifact without one (:func:`export_onnx_artifact`)."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    from_onnx = Path(checkpoint).suffix.lower() == ".onnx"
    if recipe.target == "onnxruntime":
        if from_onnx:
            return export_onnx_artifact(checkpoint, recipe, out, progress)
        return export_onnx_model(checkpoint, recipe, out, calib, progress, parts_only)
    from .tensorrt_build import EngineOptions, build_engines, require_tensorrt

    try:
        require_tensorrt()  # fail early, before the slow steps, when TensorRT is absent
    except DependencyError as exc:
        onnx_twin = {"fp16": "gpu-fp16", "int8": "cpu-int8"}.get(recipe.precision, "cpu-fp32")
        raise DependencyError(f"recipe {recipe.name} builds TensorRT engines and TensorRT is not installed here "
                              f"(JetPack on Jetson, `pip install tensorrt` on a GPU machine); for ONNX Runtime "
                              f"export `--recipe {onnx_twin} -o {Path(out).with_suffix('.onnx')}`") from exc
    out = Path(out)
    onnx_path = out.with_suffix(f".{recipe.precision}.onnx")
    result = export_onnx_artifact(checkpoint, recipe, onnx_path, progress) if from_onnx else \
        export_onnx_model(checkpoint, recipe, onnx_path, calib, progress)
    trt = recipe.tensorrt
    options = EngineOptions(batch=tuple(trt.get("batch", (1, 8, 32))), workspace_mb=int(trt.get("workspace_mb", 4096)),
                            dla_core=trt.get("dla_core"), timing_cache=f"{out}.timing.cache")
    with staging(out) as stage:
        built = build_engines(onnx_path, stage / out.name, options)
        plans = [out.with_name(p.name) for p in built]
        install({p: out.with_name(p.name) for p in sorted(built, key=lambda p: p.name == out.name)})
    return ExportResult(out, recipe.name, result.report, sum(p.stat().st_size for p in plans), plans)
