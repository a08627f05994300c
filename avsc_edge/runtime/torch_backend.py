"""The PyTorch reference as a runtime backend (``.safetensors`` checkpoints; needs the [train]
extra). Runs the model's parts (:mod:`avsc_edge.runtime.backend`) on CPU or CUDA."""
from __future__ import annotations

import os

import numpy as np

from ..errors import InputError, require
from ..formats.artifact import OUTPUT_NAMES
from ..kernels import native as _native
from .backend import EngineInfo


def _check_device(torch, device: str) -> None:
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise InputError(f"the PyTorch backend runs on 'cpu' or 'cuda', got device={device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("device='cuda' but PyTorch sees no CUDA GPU; use device='cpu'")


class TorchBackend:
    name = "pytorch"

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> None:
        _check_device(require("torch", "train", "the PyTorch backend (.safetensors checkpoints)"), device)
        from ..model import from_checkpoint

        self._setup(*from_checkpoint(path), device, threads)

    @classmethod
    def from_model(cls, model, info, device: str = "cpu", threads: int | None = None) -> "TorchBackend":
        """A backend over a model already in memory (export checks its graphs against it)."""
        backend = cls.__new__(cls)
        backend._setup(model, info, device, threads)
        return backend

    def _setup(self, model, info, device: str, threads: int | None) -> None:
        import torch

        from ..threads import configure_torch

        _check_device(torch, device)
        n = configure_torch(torch, threads)
        self.info, self.precision, self.device = info, "fp32", device
        self.model = model.to(device).eval()
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
        from ..preprocess.cuda_features import LogMelCuda

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
        return {k: self._out(out[k]) for k in OUTPUT_NAMES if k in out}
