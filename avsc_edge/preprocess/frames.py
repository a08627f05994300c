"""Frames for the visual branch: checks, pixel scaling (ImageNet's or Inception's), exact-copy detection."""
from __future__ import annotations

import numpy as np

from ..config import ClipConfig
from ..errors import InputError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# per ClipConfig.frame_norm: (mean, std) of the pixels scaled to 0..1
NORMS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD),
         "inception": (np.full(3, 128 / 255, np.float32), np.full(3, 128 / 255, np.float32))}   # (x - 128) / 128


def normalize_frames(rgb: np.ndarray, norm: str = "imagenet") -> np.ndarray:
    """RGB uint8 ``[T, S, S, 3]`` (already at the model's size) -> float32 ``[T, 3, S, S]``,
    scaled as the visual weights expect (``ClipConfig.frame_norm``): ImageNet's mean and standard
    deviation (torchvision) or ``(x - 128) / 128`` (TensorFlow's MobileNets)."""
    if norm not in NORMS:
        raise InputError(f"frame normalisation must be one of {sorted(NORMS)}, got {norm!r}")
    mean, std = NORMS[norm]
    scale = (1.0 / (255.0 * std)).astype(np.float32)
    shift = (-mean / std).astype(np.float32)
    x = np.empty((len(rgb), 3, *np.shape(rgb)[1:3]), np.float32)
    for c in range(3):   # one fused pass per channel, written straight in [T, 3, S, S] order
        np.multiply(rgb[..., c], scale[c], out=x[:, c], dtype=np.float32)
        x[:, c] += shift[c]
    return x


def check_frames(frames: np.ndarray, name: str = "frames") -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] == 0:
        raise InputError(f"{name} must be RGB uint8 [T, H, W, 3] with T >= 1, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise InputError(f"{name} must be uint8 RGB, got dtype {arr.dtype}")
    return arr


def unique_frames(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the distinct frames, inverse map): frames that are exact copies (the keyframe
    policy hands the same keyframe to neighbouring sample times) are encoded once."""
    if len(flat) < 2:
        return np.arange(len(flat)), np.arange(len(flat))
    prints = flat.reshape(len(flat), -1)[:, ::997]          # a cheap fingerprint, confirmed below
    first: dict[bytes, list[int]] = {}
    inverse = np.empty(len(flat), np.int64)
    keep: list[int] = []
    for i, fp in enumerate(prints):
        for j in first.setdefault(fp.tobytes(), []):
            if np.array_equal(flat[keep[j]], flat[i]):
                inverse[i] = j
                break
        else:
            first[fp.tobytes()].append(len(keep))
            inverse[i] = len(keep)
            keep.append(i)
    return np.asarray(keep), inverse


def preprocess_frames(frames: np.ndarray, clip: ClipConfig) -> np.ndarray:
    """RGB uint8 ``[T, H, W, 3]`` of any size -> float32 ``[T, 3, S, S]``: brought to the model's
    size by the clip's frame geometry through libswscale (the path decoded files take) and
    scaled by its ``frame_norm``."""
    from ..media import resize_frames

    return normalize_frames(resize_frames(check_frames(frames), clip.frame_size, clip.frame_geometry),
                            clip.frame_norm)
