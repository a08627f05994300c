"""The PyTorch reference as a runtime backend (``.safetensors`` checkpoints; needs the [train] extra)."""
from __future__ import annotations

import os

import numpy as np

from ..checkpoint import load_checkpoint
from ..errors import ArtifactError, require


class TorchBackend:
    name = "pytorch"

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> None:
        torch = require("torch", "train", "the PyTorch backend (.safetensors checkpoints)")
        from ..model import AVSCModel

        if threads:
            torch.set_num_threads(int(threads))
        weights, self.info = load_checkpoint(path)
        self.precision = "fp32"
        self.device = device
        self.model = AVSCModel(self.info.model_config, self.info.feature_config.n_mels)
        try:
            self.model.load_state_dict(weights)
        except RuntimeError as exc:
            raise ArtifactError(f"{path}: weights do not match the model config they carry ({exc})") from exc
        self.model.to(device).eval()
        self._torch = torch

    def run(self, log_mel: np.ndarray | None, frames: np.ndarray | None) -> dict[str, np.ndarray]:
        torch = self._torch
        t = lambda a: None if a is None else torch.from_numpy(np.ascontiguousarray(a)).to(self.device)  # noqa: E731
        with torch.no_grad():
            out = self.model(t(log_mel), t(frames))
        keys = ("scene_logits", "event_logits", "object_logits", "event_to_object")
        result = {k: getattr(out, k).float().cpu().numpy() for k in keys if getattr(out, k) is not None}
        result["modalities"] = out.modalities
        return result

