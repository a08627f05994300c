"""Calibration data for static INT8 quantisation: real clips from a TAU-layout dataset, turned into
model inputs with the same pre-processing the model was trained with."""
from __future__ import annotations

import numpy as np

from ..config import ArtifactInfo
from ..data import TauDataset
from ..data.featureset import load_featureset


def split_inputs(dataset: str, info: ArtifactInfo, split: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A dataset split as graph feeds ``{"log_mel", "frames"}`` (pre-processed as ``info`` says) and labels."""
    fs = load_featureset(TauDataset(dataset), split, info.feature_config, info.clip_config, progress=False)
    return {"log_mel": fs.log_mel, "frames": fs.frames}, fs.labels


def calibration_inputs(dataset: str, info: ArtifactInfo, split: str = "train", limit: int = 64,
                       seed: int = 0) -> dict[str, np.ndarray]:
    """Up to ``limit`` clips of ``split`` (a fixed random subset), as ``{"log_mel", "frames"}`` arrays."""
    inputs, labels = split_inputs(dataset, info, split)
    idx = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
    return {k: v[idx] for k, v in inputs.items()}


class ArrayCalibrationReader:
    """onnxruntime.quantization.CalibrationDataReader over arrays, ``batch`` clips per call."""

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
