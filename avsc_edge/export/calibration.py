"""Calibration data for static INT8 quantisation: real clips from a TAU-layout dataset, turned into
model inputs with the same pre-processing the model was trained with."""
from __future__ import annotations

import numpy as np

from ..config import ArtifactInfo
from ..data import TauDataset
from ..data.featureset import load_featureset


def calibration_inputs(dataset: str, info: ArtifactInfo, split: str = "train", limit: int = 64,
                       seed: int = 0) -> dict[str, np.ndarray]:
    """Up to ``limit`` clips of ``split`` (a fixed random subset), as ``{"log_mel", "frames"}`` arrays."""
    fs = load_featureset(TauDataset(dataset), split, info.feature_config, info.clip_config, progress=False)
    idx = np.sort(np.random.default_rng(seed).permutation(len(fs))[:limit])
    return {"log_mel": fs.log_mel[idx], "frames": fs.frames[idx]}


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
