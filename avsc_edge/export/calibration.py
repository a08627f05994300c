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


def graph_calibration(model, info: ArtifactInfo, full: dict[str, np.ndarray],
                      max_frames: int = 256) -> dict[str, dict[str, np.ndarray]]:
    """The calibration inputs of every graph (computed by the FP32 model's parts from ``full``, see
    :func:`~avsc_edge.export.onnx_export.sample_inputs`), the frames graph's a fixed random subset
    of at most ``max_frames`` of the clips' frames."""
    from .onnx_export import sample_inputs

    feeds = sample_inputs(model, info, full=full)
    flat = full["frames"].reshape(-1, *full["frames"].shape[2:])
    pick = np.sort(np.random.default_rng(0).permutation(len(flat))[:max_frames])
    feeds["frames"] = {"frame": np.ascontiguousarray(flat[pick])}
    return feeds


class ArrayCalibrationReader:
    """onnxruntime.quantization.CalibrationDataReader over arrays, ``batch`` items per call. One by
    default: MinMax ranges are the same (per-item min/max, then the min/max over items; scales of
    the base preset equal to 2e-7 relative), and ONNX Runtime holds one item's activations instead
    of eight (base INT8 export: 5.25 -> 2.91 GB peak RSS, 74 -> 60 s; benchmarks/README.md R4.3)."""

    def __init__(self, inputs: dict[str, np.ndarray], batch: int = 1) -> None:
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
