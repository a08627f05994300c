"""The PyTorch reference as a runtime backend (``.safetensors`` checkpoints; needs the [train]
extra). Runs the model's parts (:mod:`avsc_edge.runtime.backend`) on CPU or CUDA."""
from __future__ import annotations

import os

import numpy as np

from .. import _native
from ..checkpoint import load_checkpoint
from ..errors import ArtifactError, InputError, require
from .backend import EngineInfo


class TorchBackend:
    name = "pytorch"

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> None:
        torch = require("torch", "train", "the PyTorch backend (.safetensors checkpoints)")
        from ..model import AVSCModel
        from ..threads import configure_torch

        if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
            raise InputError(f"the PyTorch backend runs on 'cpu' or 'cuda', got device={device!r}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise InputError("device='cuda' but PyTorch sees no CUDA GPU; use device='cpu'")
        n = configure_torch(torch, threads)
        weights, self.info = load_checkpoint(path)
        self.precision = "fp32"
        self.device = device
        self.model = AVSCModel(self.info.model_config, self.info.feature_config.n_mels)
        try:
            self.model.load_state_dict(weights)
        except RuntimeError as exc:
            raise ArtifactError(f"{path}: weights do not match the model config they carry ({exc})") from exc
        self.model.to(device).eval()
        self.model.use_fused_attention(True)
        on_gpu = device.startswith("cuda")
        self.engine = EngineInfo(self.name, self.precision, "cuda" if on_gpu else "cpu", f"torch-{torch.__version__}", n)
        self._torch = torch
        # on a GPU, the fused CUDA log-mel computes each window's features on the device
        self.device_features = on_gpu and _native.cuda_available()
        self._mel = None

    def _in(self, a: np.ndarray | None):
        return None if a is None else self._torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(self.device)

    @staticmethod
    def _out(t) -> np.ndarray:
        return t.detach().float().cpu().numpy()

    def audio_tokens(self, log_mel: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self._out(self.model.audio_tokens(self._in(log_mel)))

    def audio_tokens_from_wave(self, waves: np.ndarray) -> np.ndarray:
        """Windows of samples ``[B, n]`` -> tokens, the log-mel computed on the GPU by the fused CUDA
        kernel (a cached plan) straight into the model's input tensor, on PyTorch's current stream."""
        from ..features import LogMelCuda

        torch, f = self._torch, self.info.feature_config
        if self._mel is None:
            self._mel = LogMelCuda(f)
        b, n = waves.shape
        x = torch.from_numpy(np.ascontiguousarray(waves, np.float32)).to(self.device)
        out = torch.empty((b, 1, f.n_mels, self._mel.frames(n)), dtype=torch.float32, device=self.device)
        self._mel(x, out.view(b, f.n_mels, -1), torch.cuda.current_stream(out.device).cuda_stream)
        with torch.inference_mode():
            return self._out(self.model.audio_tokens(out))

    def audio_slots(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self._torch.inference_mode():
            e, el = self.model.audio_slots(self._in(tokens))
        return self._out(e), self._out(el)

    def encode_frames(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self._torch.inference_mode():
            fe, fl = self.model.encode_frames(self._in(frames))
        return self._out(fe), self._out(fl)

    def heads(self, event_emb, event_logits, frame_emb, frame_logits) -> dict[str, np.ndarray]:
        with self._torch.inference_mode():
            out = self.model.heads(self._in(event_emb), self._in(event_logits), self._in(frame_emb),
                                   self._in(frame_logits))
        result = {k: self._out(v) for k, v in out.items() if k in ("audio_logits", "visual_logits", "event_logits",
                                                                   "object_logits", "event_to_object")}
        if "fused_logits" in out:
            result["scene_logits"] = self._out(out["fused_logits"])
        return result
