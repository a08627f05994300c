"""Fused kernels with their references: cross-attention here, log-mel in :mod:`avsc_edge.preprocess.audio_features`."""
from __future__ import annotations

import math
import os

import numpy as np

from ..errors import InputError
from . import native as _native


def cross_attention_reference(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                              key_padding_mask: np.ndarray | None = None, scale: float | None = None) -> np.ndarray:
    """NumPy reference: ``softmax(q k^T * scale, masked) v`` over ``[B, H, L, D]`` arrays."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = np.einsum("bhqd,bhkd->bhqk", q.astype(np.float64), k.astype(np.float64)) * scale
    if key_padding_mask is not None:
        s = np.where(key_padding_mask[:, None, None, :], -np.inf, s)
    s -= s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    return np.einsum("bhqk,bhkd->bhqd", p, v.astype(np.float64)).astype(np.float32)


def _check(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 4:
        raise InputError(f"{name} must be [B, H, L, D], got shape {a.shape}")
    if a.dtype != np.float32:
        raise InputError(f"{name} must be float32, got {a.dtype}")
    if 0 in a.shape:
        raise InputError(f"{name} has an empty dimension: {a.shape}")
    if not np.isfinite(a).all():
        raise InputError(f"{name} contains NaN or inf")
    return np.ascontiguousarray(a)


def _prepare(q, k, v, key_padding_mask, scale):
    """Shape/dtype/mask/scale checks shared by the reference path; returns the resolved scale."""
    q, k, v = _check("q", q), _check("k", k), _check("v", v)
    if k.shape != v.shape or k.shape[:2] != q.shape[:2] or k.shape[3] != q.shape[3]:
        raise InputError(f"shapes do not match: q {q.shape}, k {k.shape}, v {v.shape}; expected q [B,H,Lq,D], k=v [B,H,Lk,D]")
    mask = None
    if key_padding_mask is not None:
        mask = np.ascontiguousarray(key_padding_mask, dtype=bool)
        if mask.shape != (q.shape[0], k.shape[2]):
            raise InputError(f"key_padding_mask must be [B, Lk] = {(q.shape[0], k.shape[2])}, got {mask.shape}")
        if mask.all(axis=1).any():
            raise InputError("key_padding_mask ignores every key of some batch item; attention over no keys is undefined")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    if not (math.isfinite(scale) and scale > 0):
        raise InputError(f"scale must be positive and finite, got {scale}")
    return q, k, v, mask, scale


def _native_args(q, k, v, mask):
    c = np.ascontiguousarray
    return c(q), c(k), c(v), None if mask is None else c(mask, dtype=bool)


def cross_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, key_padding_mask: np.ndarray | None = None,
                    scale: float | None = None, threads: int | None = None) -> np.ndarray:
    """``softmax(q k^T * scale) v``: q ``[B,H,Lq,D]``, k/v ``[B,H,Lk,D]`` float32 -> ``[B,H,Lq,D]``.

    ``key_padding_mask`` ``[B, Lk]`` bool, True = ignore that key (every row must keep one key).
    ``scale`` defaults to ``1/sqrt(D)``. Equal to ``torch.nn.functional.scaled_dot_product_attention``.
    """
    if not _native.available():
        q, k, v, mask, scale = _prepare(q, k, v, key_padding_mask, scale)
        return cross_attention_reference(q, k, v, mask, scale)
    scale = 1.0 / math.sqrt(np.shape(q)[-1]) if scale is None and np.ndim(q) == 4 else scale
    try:  # the extension validates everything (dtype, shapes, mask, NaN/inf) with named messages
        return _native.cross_attention(*_native_args(q, k, v, key_padding_mask), -1.0 if scale is None else scale,
                                       threads)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from exc


def bidirectional_attention(first: tuple, second: tuple, scale: float | None = None,
                            threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Events->objects and objects->events at once. Each problem is ``(q, k, v, key_padding_mask)``;
    returns both outputs. One native call (one parallel region) when the extension is built."""
    d = np.shape(first[0])[-1]
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    if not _native.available():
        return cross_attention(*first, scale=scale), cross_attention(*second, scale=scale)
    try:
        return _native.module().cross_attention_pair(_native_args(*first), _native_args(*second), float(scale),
                                                     int(threads or 0))
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from exc


def info() -> dict:
    """Which implementation is active for each kernel, and the thread count."""
    native = _native.available()
    d = {"log_mel": "c++" if native else "reference (numpy)",
         "cross_attention": "c++" if native else "reference (numpy)",
         "extension_built": _native.module() is not None,
         "forced_reference": os.environ.get("AVSC_EDGE_KERNELS") == "reference"}
    if _native.module() is not None:
        d.update(_native.module().info())
        d["cuda_devices"] = _native.module().cuda_device_count() if d.get("cuda_compiled") else 0
    else:
        d["import_error"] = _native.import_error()
    return d


def cross_attention_cuda(q, k, v, key_padding_mask=None, scale: float | None = None, out=None, stream: int = 0):
    """CUDA version of :func:`cross_attention` on device arrays (PyTorch CUDA tensors or CuPy)."""
    return bidirectional_attention_cuda((q, k, v, key_padding_mask, out), None, scale, stream)[0]


def bidirectional_attention_cuda(first: tuple, second: tuple | None = None, scale: float | None = None,
                                 stream: int = 0) -> list:
    """Events->objects and objects->events in one CUDA launch. Each problem is
    ``(q, k, v, key_padding_mask_or_None, out_or_None)``; returns the outputs."""
    _native.require_cuda("the CUDA attention")
    problems = [first] + ([second] if second is not None else [])
    d = first[0].shape[-1]
    try:
        return _native.cross_attention_cuda(problems, 1.0 / math.sqrt(d) if scale is None else scale, stream)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from exc
