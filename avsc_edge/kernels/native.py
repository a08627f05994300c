"""The one Python wrapper around the private extension ``avsc_edge._C``.

Everything else imports kernels from here, never ``_C`` directly, so that a build without the
extension falls back cleanly to the NumPy/PyTorch references.
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

try:
    from .. import _C  # type: ignore[attr-defined]
except ImportError as _exc:  # extension not built (e.g. running from a source tree)
    _C = None
    _IMPORT_ERROR: str | None = str(_exc)
else:
    _IMPORT_ERROR = None


def available() -> bool:
    """True when the compiled extension is importable and not disabled by ``AVSC_EDGE_KERNELS=reference``."""
    return _C is not None and os.environ.get("AVSC_EDGE_KERNELS", "native") != "reference"


def module() -> Any:
    return _C


def import_error() -> str | None:
    return _IMPORT_ERROR


def log_mel_params(cfg: Any) -> tuple:
    """FeatureConfig -> the extension's (hop_length, center, pad_mode, power, top_db, preemphasis,
    log_mode, log_offset, norm_shift, norm_scale) arguments."""
    top_db = math.nan if cfg.top_db is None else float(cfg.top_db)
    return (cfg.hop_length, cfg.center, {"constant": 0, "reflect": 1}[cfg.pad_mode], float(cfg.power), top_db,
            float(cfg.preemphasis), {"db": 0, "ln": 1}[cfg.log], float(cfg.log_offset), float(cfg.norm_shift),
            float(cfg.norm_scale))


def log_mel(x2d: np.ndarray, cfg: Any, mel_basis: np.ndarray, window: np.ndarray, threads: int | None) -> np.ndarray:
    return _C.log_mel(x2d, window, mel_basis, *log_mel_params(cfg), int(threads or 0))


def cross_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None,
                    scale: float, threads: int | None) -> np.ndarray:
    return _C.cross_attention(q, k, v, mask, float(scale), int(threads or 0))


def cuda_available() -> bool:
    """True when the extension was built with CUDA and a GPU is visible."""
    return available() and hasattr(_C, "cuda_device_count") and _C.cuda_device_count() > 0


def require_cuda(what: str) -> None:
    """Raise a CudaUnavailableError saying why when the CUDA kernels cannot run here."""
    if cuda_available():
        return
    from ..errors import CudaUnavailableError

    if _C is not None and not available():
        raise CudaUnavailableError(f"{what} is off: AVSC_EDGE_KERNELS=reference forces the NumPy kernels")
    if not hasattr(_C, "cuda_device_count"):
        raise CudaUnavailableError(f"{what} needs avsc_edge built with CUDA: this build is CPU-only "
                                   "(rebuild with AVSC_EDGE_CUDA=1 and nvcc on PATH; README: CUDA build)")
    raise CudaUnavailableError(f"{what}: no CUDA device visible (avsc_edge is built with CUDA for "
                               f"{_C.info().get('cuda_archs', '?')}; check the driver and CUDA_VISIBLE_DEVICES)")


def _empty_like_device(x: Any, shape: tuple[int, ...]) -> Any:
    """A float32 device array of ``shape`` from the same library as ``x`` (PyTorch or CuPy)."""
    module = type(x).__module__.split(".")[0]
    if module == "torch":
        import torch

        return torch.empty(shape, dtype=torch.float32, device=x.device)
    if module == "cupy":
        import cupy

        return cupy.empty(shape, dtype=cupy.float32)
    raise TypeError("pass out= for device arrays that are neither PyTorch tensors nor CuPy arrays")


def log_mel_cuda(x: Any, cfg: Any, mel_basis: np.ndarray, window: np.ndarray, out: Any, stream: int) -> Any:
    n, samples = x.shape
    frames = cfg.num_frames(samples)
    out = _empty_like_device(x, (n, cfg.n_mels, frames)) if out is None else out
    _C.log_mel_cuda(x, out, window, mel_basis, *log_mel_params(cfg), int(stream))
    return out


def cross_attention_cuda(problems: list[tuple], scale: float, stream: int) -> list[Any]:
    filled = []
    for q, k, v, mask, out in problems:
        out = _empty_like_device(q, tuple(q.shape)) if out is None else out
        filled.append((q, k, v, out, mask))
    _C.cross_attention_cuda(filled, float(scale), int(stream))
    return [p[3] for p in filled]
