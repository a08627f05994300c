"""Per-modality encoders for streaming: the audio branch over one window's log-mel, and the visual
branch over single frames (so that frame embeddings can be cached). Backed by the PyTorch
checkpoint or by the split ONNX graphs of :mod:`avsc_edge.export.split`."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..config import ArtifactInfo
from ..errors import ArtifactError, require
from .heads import Heads


class TorchEncoders:
    name = "pytorch"

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        torch = require("torch", "train", "streaming from a .safetensors checkpoint")
        from safetensors.numpy import load_file

        from ..checkpoint import read_info
        from ..model import AVSCModel

        if threads:
            torch.set_num_threads(int(threads))
        self.info: ArtifactInfo = read_info(path)
        weights = load_file(str(path))
        self.model = AVSCModel(self.info.model_config, self.info.feature_config.n_mels)
        self.model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
        self.model.eval()
        self.heads = Heads(weights, self.info.model_config)
        self._torch = torch

    def audio(self, log_mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self._torch.no_grad():
            e, el = self.model.audio(self._torch.from_numpy(log_mel))
        return e.numpy(), el.numpy()

    def frames(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self._torch.no_grad():
            o, ol = self.model.visual.slots(self.model.visual.backbone(self._torch.from_numpy(frames)))
        return o.numpy(), ol.numpy()


class OnnxEncoders:
    name = "onnxruntime"

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        import onnxruntime as ort
        from safetensors.numpy import load_file

        from ..export.split import split_paths
        from ..runtime.artifact import info_from_metadata
        from ..runtime.onnx_backend import session_options

        paths = split_paths(path)
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise ArtifactError(f"{path}: streaming needs the split graphs {missing}; export with "
                                "`avsc-edge export ... --split`")
        opts = session_options(threads)
        self.audio_session = ort.InferenceSession(str(paths["audio"]), opts, providers=["CPUExecutionProvider"])
        self.visual_session = ort.InferenceSession(str(paths["visual"]), opts, providers=["CPUExecutionProvider"])
        self.info = info_from_metadata(self.audio_session.get_modelmeta().custom_metadata_map, str(paths["audio"]))
        self.heads = Heads(load_file(str(paths["heads"])), self.info.model_config)

    def audio(self, log_mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e, el = self.audio_session.run(None, {"log_mel": log_mel})
        return e, el

    def frames(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        o, ol = self.visual_session.run(None, {"frame": frames})
        return o, ol


def open_encoders(path: str | os.PathLike, threads: int | None = None):
    suffix = Path(path).suffix.lower()
    if suffix == ".safetensors":
        return TorchEncoders(path, threads)
    if suffix == ".onnx":
        return OnnxEncoders(path, threads)
    raise ArtifactError(f"{path}: streaming runs on .safetensors checkpoints or .onnx models with split graphs")
