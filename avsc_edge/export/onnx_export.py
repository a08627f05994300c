"""PyTorch checkpoint -> ONNX (FP32): both modalities in, scene/single-modality/event/object logits
and event->object attention out, dynamic batch, opset 18, checked and shape-inferred, with the
SDK metadata in ``metadata_props``."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..checkpoint import atomic_write, load_checkpoint
from ..config import ArtifactInfo
from ..runtime.artifact import INPUT_NAMES, META_KEY, OUTPUT_NAMES, dummy_inputs, input_specs

OPSET = 18


def _wrapper(model):
    import torch

    class ExportGraph(torch.nn.Module):
        """Fixed tuple outputs for ONNX. ``audio_logits`` depends only on ``log_mel`` and
        ``visual_logits`` only on ``frames``: the runtime feeds zeros for a missing modality and
        reads the single-modality head."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, log_mel, frames):
            o = self.inner(log_mel, frames)
            return (o.scene_logits, o.audio_logits, o.visual_logits, o.event_logits, o.object_logits,
                    o.event_to_object)

    return ExportGraph(model).eval()


def load_reference(checkpoint: str | os.PathLike):
    """(PyTorch model in eval mode, its metadata) from a ``.safetensors`` checkpoint."""
    from ..model import AVSCModel

    weights, info = load_checkpoint(checkpoint)
    model = AVSCModel(info.model_config, info.feature_config.n_mels)
    model.load_state_dict(weights)
    return model.eval(), info


def export_onnx(checkpoint: str | os.PathLike, out: str | os.PathLike, extra: dict | None = None) -> Path:
    """Export ``checkpoint`` to ``out`` (FP32 ONNX). ``extra`` is merged into the stored metrics."""
    import torch

    model, info = load_reference(checkpoint)
    if info.model_config.variant in ("audio", "visual"):
        from ..errors import ArtifactError

        raise ArtifactError(f"{checkpoint}: single-modality variants ({info.model_config.variant}) are for the "
                            "ablation; export an audio-visual model")
    info = dataclasses.replace(info, precision="fp32", metrics={**info.metrics, **(extra or {}),
                                                                  "inputs": input_specs(info)})
    sample = {k: torch.from_numpy(v) for k, v in dummy_inputs(info, 2).items()}
    out = Path(out)
    proto = trace_to_onnx(_wrapper(model), (sample["log_mel"], sample["frames"]), list(INPUT_NAMES),
                          list(OUTPUT_NAMES), out)
    write_onnx(_isolate_outputs(proto), info, out)
    return out


def trace_to_onnx(module, args: tuple, input_names: list[str], output_names: list[str], near: Path):
    """Export ``module`` (dynamic batch, opset ``OPSET``) and return the ONNX proto; the temporary
    file lives beside ``near`` and is removed. Leaves ``module`` in eval mode (torch.onnx.export
    leaves it in training mode)."""
    import onnx
    import torch

    tmp = near.with_name(f".{near.name}.export.onnx")
    try:
        torch.onnx.export(module.eval(), args, str(tmp), input_names=input_names, output_names=output_names,
                          dynamic_axes={n: {0: "batch"} for n in (*input_names, *output_names)},
                          opset_version=OPSET, dynamo=False)
        return onnx.load(str(tmp))
    finally:
        if tmp.exists():
            tmp.unlink()
        module.eval()


def _isolate_outputs(proto):
    """Graph outputs that other nodes also consume get an Identity of their own, so that type
    conversions at the outputs (FP16 with FP32 I/O) cannot change what the inner nodes see."""
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
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, info.to_json()
    atomic_write(Path(out), lambda tmp: onnx.save(proto, str(tmp)))


def read_onnx_info(path: str | os.PathLike) -> ArtifactInfo:
    """The metadata of an exported ONNX model (needs the ``onnx`` package; the runtime reads it
    through ONNX Runtime instead)."""
    import onnx

    from ..runtime.artifact import info_from_metadata

    proto = onnx.load(str(path), load_external_data=False)
    return info_from_metadata({p.key: p.value for p in proto.metadata_props}, str(path))
