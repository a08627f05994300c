"""Calibration data for static INT8 quantisation: real clips from a TAU-layout dataset, turned into
model inputs with the same pre-processing the model was trained with (training's feature cache),
and the inputs of every split graph computed from them by the FP32 model."""
from __future__ import annotations

import numpy as np

from ..config import ArtifactInfo
from ..data import TauDataset
from ..data.featureset import load_featureset


def split_inputs(dataset: str, info: ArtifactInfo, split: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A dataset split as full-graph feeds ``{"log_mel", "frames"}`` (one window per clip) and labels."""
    fs = load_featureset(TauDataset(dataset), split, info.feature_config, info.clip_config, progress=False)
    return {"log_mel": fs.log_mel, "frames": fs.frames}, fs.labels


def calibration_inputs(dataset: str, info: ArtifactInfo, split: str = "train", limit: int = 64,
                       seed: int = 0) -> dict[str, np.ndarray]:
    """Up to ``limit`` clips of ``split`` (a fixed random subset), as ``{"log_mel", "frames"}`` arrays."""
    inputs, labels = split_inputs(dataset, info, split)
    idx = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
    return {k: v[idx] for k, v in inputs.items()}


def graph_calibration(model, full: dict[str, np.ndarray], max_frames: int = 256) -> dict[str, dict[str, np.ndarray]]:
    """The calibration inputs of every graph: the full graph's and, computed by the FP32 model's
    parts, those of ``audio_tokens``, ``audio_slots``, ``frames`` and ``heads``."""
    import torch

    mel, frames = torch.from_numpy(full["log_mel"]), torch.from_numpy(full["frames"])
    b, f = frames.shape[:2]
    with torch.no_grad():
        tokens = model.audio_tokens(mel)
        e, el = model.audio_slots(tokens)
        fe, fl = model.encode_frames(frames.flatten(0, 1))
    as_np = lambda t: np.ascontiguousarray(t.numpy(), np.float32)  # noqa: E731
    flat = full["frames"].reshape(b * f, *full["frames"].shape[2:])
    pick = np.sort(np.random.default_rng(0).permutation(len(flat))[:max_frames])
    return {"full": full, "audio_tokens": {"log_mel": full["log_mel"]}, "audio_slots": {"tokens": as_np(tokens)},
            "frames": {"frame": np.ascontiguousarray(flat[pick])},
            "heads": {"event_emb": as_np(e), "event_presence": as_np(el),
                      "frame_emb": as_np(fe.reshape(b, f, *fe.shape[1:])), "frame_presence": as_np(fl.reshape(b, f, -1))}}


class ArrayCalibrationReader:
    """onnxruntime.quantization.CalibrationDataReader over arrays, ``batch`` items per call."""

    def __init__(self, inputs: dict[str, np.ndarray], batch: int = 8) -> None:
        self.inputs, self.batch = inputs, batch
        self.count = len(next(iter(inputs.values())))
        self.pos = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.pos >= self.count:
            return None
        s = slice(self.pos, self.pos + self.batch)
        self.pos += self.batch
        return {k: v[s] for k, v in self.inputs.items()}

    def rewind(self) -> None:
        self.pos = 0
