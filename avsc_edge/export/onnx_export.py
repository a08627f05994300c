"""PyTorch checkpoint -> FP32 ONNX graphs, all from the model's parts (:mod:`avsc_edge.model.avsc`):

* ``NAME.onnx`` — the full model: both modalities in, every head out (dynamic batch), for
  ONNX Runtime, ``trtexec`` and other runtimes;
* ``NAME.<part>.onnx`` — the split graphs every avsc-edge backend runs (``audio_tokens`` with a
  dynamic time axis for incremental streaming, ``audio_slots``, per-frame ``frames``, ``heads``).

Opset 18, checked and shape-inferred, with the SDK metadata (``graph`` says which one) in
``metadata_props``.
"""
from __future__ import annotations

import dataclasses
import os
import uuid
import warnings
from pathlib import Path

import numpy as np

from ..config import ArtifactInfo
from ..errors import ArtifactError
from ..formats.artifact import (
    INPUT_NAMES,
    META_KEY,
    OUTPUT_NAMES,
    PARTS,
    atomic_write,
    dummy_inputs,
    input_specs,
    part_paths,
)

OPSET = 18
# dynamic axes of each graph's inputs and outputs (axis 0 is always the batch)
DYNAMIC = {"log_mel": {0: "batch", 3: "time"}, "tokens": {0: "batch", 1: "tokens"},
           "frame_emb": {0: "batch", 1: "frames"}, "frame_presence": {0: "batch", 1: "frames"}}


def graph_modules(model):
    """name -> torch module computing that graph with fixed tuple outputs."""
    import torch

    class Full(torch.nn.Module):
        def forward(self, log_mel, frames):
            o = model(log_mel, frames)
            return (o.scene_logits, o.audio_logits, o.visual_logits, o.event_logits, o.object_logits,
                    o.event_to_object)

    class AudioTokens(torch.nn.Module):
        def forward(self, log_mel):
            return model.audio_tokens(log_mel)

    class AudioSlots(torch.nn.Module):
        def forward(self, tokens):
            return model.audio_slots(tokens)

    class Frames(torch.nn.Module):
        def forward(self, frame):
            return model.encode_frames(frame)

    class Heads(torch.nn.Module):
        def forward(self, event_emb, event_logits, frame_emb, frame_logits):
            o = model.heads(event_emb, event_logits, frame_emb, frame_logits)
            return tuple(o[k] for k in OUTPUT_NAMES)

    modules = {"full": Full(), "audio_tokens": AudioTokens(), "audio_slots": AudioSlots(), "frames": Frames(),
               "heads": Heads()}
    for m in modules.values():
        m.model = model  # registers the weights with each wrapper
    return modules


def sample_inputs(model, info: ArtifactInfo, batch: int = 2,
                  full: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Example inputs of every graph (for tracing; intermediate ones computed by the model from
    ``full``, the full graph's inputs, random by default)."""
    import torch

    full = full if full is not None else dummy_inputs(info, batch)
    batch = full["log_mel"].shape[0]
    with torch.no_grad():
        mel, frames = torch.from_numpy(full["log_mel"]), torch.from_numpy(full["frames"])
        tokens = model.audio_tokens(mel)
        e, el = model.audio_slots(tokens)
        fe, fl = model.encode_window_frames(frames)
    as_np = lambda t: t.numpy().astype(np.float32)  # noqa: E731
    return {"full": full, "audio_tokens": {"log_mel": full["log_mel"]}, "audio_slots": {"tokens": as_np(tokens)},
            "frames": {"frame": full["frames"][:, 0]},
            "heads": {"event_emb": as_np(e), "event_presence": as_np(el), "frame_emb": as_np(fe),
                      "frame_presence": as_np(fl)}}


def graph_io(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (INPUT_NAMES, OUTPUT_NAMES) if name == "full" else PARTS[name]


def graph_paths(out: str | os.PathLike) -> dict[str, Path]:
    """Where each graph of a model exported to ``out`` goes."""
    return {"full": Path(out), **part_paths(out)}


def export_graphs(model, info: ArtifactInfo, out: str | os.PathLike, extra: dict | None = None,
                  parts_only: bool = False) -> dict[str, Path]:
    """Export every graph of the PyTorch ``model`` (with its checkpoint's ``info``) in FP32 beside
    ``out`` (see :func:`graph_paths`; ``parts_only``: not the full graph). ``extra`` is merged into
    the metrics stored with each graph."""
    if info.model_config.variant in ("audio", "visual"):
        raise ArtifactError(f"{out}: single-modality variants ({info.model_config.variant}) are for the "
                            "ablation; export an audio-visual model")
    info = dataclasses.replace(info, precision="fp32", export_id=uuid.uuid4().hex,
                               metrics={**info.metrics, **(extra or {}), "inputs": input_specs(info)})
    samples = sample_inputs(model, info)
    modules = graph_modules(model)
    paths = part_paths(out) if parts_only else graph_paths(out)
    for name, path in paths.items():
        inputs, outputs = graph_io(name)
        args = tuple(__import__("torch").from_numpy(samples[name][n]) for n in inputs)
        proto = trace_to_onnx(modules[name], args, list(inputs), list(outputs), path)
        write_onnx(isolate_outputs(proto), dataclasses.replace(info, graph=name), path)
    return paths


def trace_to_onnx(module, args: tuple, input_names: list[str], output_names: list[str], near: Path):
    """Export ``module`` (dynamic batch and the axes in ``DYNAMIC``, opset ``OPSET``) and return the
    ONNX proto; the temporary file lives beside ``near`` and is removed."""
    import onnx
    import torch

    tmp = near.with_name(f".{near.name}.export.onnx")
    axes = {n: DYNAMIC.get(n, {0: "batch"}) for n in (*input_names, *output_names)}
    try:
        with warnings.catch_warnings():  # the TorchScript exporter announces its own deprecation
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)   # SAME padding from static frame sizes
            torch.onnx.export(module.eval(), args, str(tmp), input_names=input_names, output_names=output_names,
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        return onnx.load(str(tmp))
    finally:
        if tmp.exists():
            tmp.unlink()
        module.eval()


def isolate_outputs(proto):
    """Graph outputs that other nodes also consume get an Identity of their own, so that
    conversions at the outputs (FP16 with FP32 I/O, dequantised INT8 outputs) cannot change what
    the inner nodes see."""
    from onnx import helper

    graph = proto.graph
    outputs = {o.name for o in graph.output}
    consumed = {i for n in graph.node for i in n.input} & outputs
    for node in graph.node:
        node.output[:] = [f"{o}__inner" if o in consumed else o for o in node.output]
        node.input[:] = [f"{i}__inner" if i in consumed else i for i in node.input]
    for name in sorted(consumed):
        graph.node.append(helper.make_node("Identity", [f"{name}__inner"], [name], name=f"{name}__output"))
    return proto


def write_onnx(proto, info: ArtifactInfo, out: Path) -> None:
    """Check, shape-infer, stamp metadata and write atomically."""
    import onnx

    proto = onnx.shape_inference.infer_shapes(proto)
    onnx.checker.check_model(proto)
    stamp_onnx(proto, info, out)


def stamp_onnx(proto, info: ArtifactInfo, out: Path) -> None:
    """Replace the SDK metadata of a checked graph and write it atomically."""
    import onnx

    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, info.to_json()
    atomic_write(Path(out), lambda tmp: onnx.save(proto, str(tmp)))


def read_onnx_info(path: str | os.PathLike) -> ArtifactInfo:
    """The metadata of an exported ONNX graph (read without loading its weights)."""
    from ..formats.artifact import info_from_metadata
    from ..formats.onnx_file import read_metadata_props

    return info_from_metadata(read_metadata_props(path), str(path))
