"""Split graphs for the streaming runtime, from the same checkpoint: an audio encoder
(log-mel -> event slots), a per-frame visual encoder (frame -> object slots) and the heads' weights
(NumPy, run through the fused cross-attention kernel). Written beside the exported model:
``NAME.audio.onnx``, ``NAME.visual.onnx``, ``NAME.heads.safetensors`` (FP32)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..runtime.artifact import dummy_inputs


def split_paths(model_path: str | os.PathLike) -> dict[str, Path]:
    p = Path(model_path)
    stem = p.with_suffix("")
    return {"audio": Path(f"{stem}.audio.onnx"), "visual": Path(f"{stem}.visual.onnx"),
            "heads": Path(f"{stem}.heads.safetensors")}


def export_split(checkpoint: str | os.PathLike, model_path: str | os.PathLike) -> dict[str, Path]:
    import dataclasses

    import torch
    from safetensors.numpy import save_file

    from ..checkpoint import META_KEY, atomic_write
    from .onnx_export import load_reference, trace_to_onnx, write_onnx

    model, info = load_reference(checkpoint)
    paths = split_paths(model_path)
    sample = dummy_inputs(info, 2)

    class AudioEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.audio = model.audio

        def forward(self, log_mel):
            return self.audio(log_mel)

    class FrameEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = model.visual

        def forward(self, frames):
            return self.visual.slots(self.visual.backbone(frames))

    graphs = (("audio", AudioEncoder(), torch.from_numpy(sample["log_mel"]), "log_mel", ["event_emb", "event_logits"]),
              ("visual", FrameEncoder(), torch.from_numpy(sample["frames"][:, 0]), "frame", ["object_emb", "object_logits"]))
    for key, module, x, in_name, out_names in graphs:
        proto = trace_to_onnx(module, (x,), [in_name], out_names, paths[key])
        write_onnx(proto, dataclasses.replace(info, precision="fp32"), paths[key])
    heads = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()
             if k.startswith(("cross.", "fusion_head.", "audio_head.", "visual_head."))}
    atomic_write(paths["heads"], lambda tmp: save_file(heads, str(tmp), metadata={META_KEY: info.to_json()}))
    return paths
