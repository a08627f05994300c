"""Artifact metadata shared by every backend: what an exported model carries and how it is fed.

ONNX models keep it in ``metadata_props`` under the key ``avsc_edge``; TensorRT plans in the plan
header (:mod:`avsc_edge.runtime.plan_format`); checkpoints in the safetensors header.
"""
from __future__ import annotations

import json

import numpy as np

from ..config import ArtifactInfo
from ..errors import ArtifactError, ConfigError

META_KEY = "avsc_edge"
INPUT_NAMES = ("log_mel", "frames")
OUTPUT_NAMES = ("scene_logits", "audio_logits", "visual_logits", "event_logits", "object_logits", "event_to_object")


def input_specs(info: ArtifactInfo) -> dict[str, list]:
    """Input names -> shapes (``"batch"`` for the dynamic axis), derived from the configs."""
    f, c = info.feature_config, info.clip_config
    frames = f.num_frames(int(round(c.seconds * f.sr)))
    return {"log_mel": ["batch", 1, f.n_mels, frames],
            "frames": ["batch", c.num_frames, 3, c.frame_size, c.frame_size]}


def dummy_inputs(info: ArtifactInfo, batch: int, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    rng = rng or np.random.default_rng(0)
    return {name: rng.standard_normal([batch, *shape[1:]]).astype(np.float32)
            for name, shape in input_specs(info).items()}


def info_from_metadata(meta: dict[str, str], where: str) -> ArtifactInfo:
    from ..checkpoint import check_sdk_version

    if META_KEY not in meta:
        raise ArtifactError(f"{where}: no avsc-edge metadata; export the model with `avsc-edge export`")
    try:
        info = ArtifactInfo.from_dict(json.loads(meta[META_KEY]))
    except (ValueError, ConfigError) as exc:
        raise ArtifactError(f"{where}: invalid avsc-edge metadata ({exc})") from exc
    check_sdk_version(info.sdk_version, where)
    return info


def make_feeds(info: ArtifactInfo, log_mel: np.ndarray | None, frames: np.ndarray | None) -> dict[str, np.ndarray]:
    """Both graph inputs for a batch: the given arrays (shape-checked), zeros for a missing
    modality (its single-modality head does not depend on them)."""
    from ..errors import InputError

    given = log_mel if log_mel is not None else frames
    if given is None:
        raise InputError("no input modality")
    batch = given.shape[0]
    feeds = {}
    for name, arr in (("log_mel", log_mel), ("frames", frames)):
        shape = [batch, *input_specs(info)[name][1:]]
        if arr is not None and list(arr.shape) != shape:
            raise InputError(f"{name} has shape {list(arr.shape)}, the model expects {shape}")
        feeds[name] = np.ascontiguousarray(arr, np.float32) if arr is not None else np.zeros(shape, np.float32)
    return feeds


def select_outputs(out: dict[str, np.ndarray], has_audio: bool, has_video: bool) -> dict:
    """The graph's outputs -> what the classifier reads: the fused head with both modalities,
    the single-modality head otherwise."""
    if has_audio and has_video:
        result = {k: out[k] for k in ("scene_logits", "event_logits", "object_logits", "event_to_object")}
        result["modalities"] = ("audio", "visual")
    elif has_audio:
        result = {"scene_logits": out["audio_logits"], "event_logits": out["event_logits"], "modalities": ("audio",)}
    else:
        result = {"scene_logits": out["visual_logits"], "object_logits": out["object_logits"], "modalities": ("visual",)}
    return result
