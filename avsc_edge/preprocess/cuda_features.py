"""The fused CUDA log-mel (GPU backends compute each window's features on the device)."""
from __future__ import annotations

import numpy as np

from ..config import FeatureConfig
from ..kernels import native as _native
from .audio_features import analysis_window, mel_filterbank


def log_mel_cuda(waveform, cfg: FeatureConfig, out=None, stream: int = 0):
    """CUDA log-mel of a float32 device array ``[N, samples]`` (PyTorch CUDA tensor or CuPy array)
    into ``out`` ``[N, n_mels, frames]`` (allocated when None). One-shot: uploads the tables for this
    call; a backend keeps a :class:`LogMelCuda` instead."""
    _native.require_cuda("the CUDA log-mel")
    return _native.log_mel_cuda(waveform, cfg, mel_filterbank(cfg), analysis_window(cfg), out, stream)


class LogMelCuda:
    """The fused CUDA log-mel as a plan: tables uploaded to the GPU once, then each call writes the
    log-mel of a batch of windows straight into a device buffer (a GPU engine's input) on the
    caller's stream, with no allocation per call (host waveforms go through a grow-only device
    staging buffer). ``scripts/gpu_check.sh`` checks it on a GPU (docs/design.md: where it has run)."""

    def __init__(self, cfg: FeatureConfig) -> None:
        _native.require_cuda("the CUDA log-mel")
        self.cfg = cfg
        self.plan = _native.module().LogMelCudaPlan(analysis_window(cfg), mel_filterbank(cfg),
                                                    *_native.log_mel_params(cfg))

    def frames(self, samples: int) -> int:
        return self.plan.frames(samples)

    def __call__(self, waveform, out, stream: int = 0):
        """Device ``waveform [N, samples]`` -> device ``out [N, n_mels, frames]`` (returned)."""
        self.plan(waveform, out, int(stream))
        return out

    def run_host(self, waves: np.ndarray, out_ptr: int, stream: int = 0, capacity: int | None = None) -> None:
        """Host windows ``[N, samples]`` -> the device buffer at ``out_ptr`` (``[N, n_mels, frames]``)."""
        x = np.ascontiguousarray(waves, np.float32)
        need = x.shape[0] * self.cfg.n_mels * self.frames(x.shape[1])
        self.plan.run_host(x, int(out_ptr), int(capacity if capacity is not None else need), int(stream))
