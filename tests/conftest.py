"""Shared fixtures: tiny synthetic datasets and a tiny trained checkpoint, made once per session."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")

# librosa.load asks audioread for its backends, and audioread imports GStreamer whenever PyGObject
# is installed: its libunwind then answers the next C++ exception (matplotlib's ft2font aborted on
# import). What avsc-edge's own gst: sources do first, the tests do before anything loads.
from avsc_edge.stream.gst import keep_gcc_unwinder  # noqa: E402

keep_gcc_unwinder()

TINY_SECONDS = 1.5


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """20 clips of 1.5 s (2 per scene) in the TAU layout."""
    from avsc_edge.data.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("tiny-data")
    return generate(root, SynthConfig(clips=20, seed=7, duration=TINY_SECONDS, width=64, height=48))


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_dataset, tmp_path_factory):
    """A tiny model trained for 2 epochs on ``tiny_dataset`` (weights are not meaningful)."""
    pytest.importorskip("torch")
    from avsc_edge.config import ClipConfig, FeatureConfig, ModelConfig, TrainConfig
    from avsc_edge.training.train import train

    out = tmp_path_factory.mktemp("tiny-run")
    cfg = ModelConfig(d=32, heads=4, audio_channels=(8, 16), visual_channels=(8, 16), visual_blocks=(1, 1))
    result = train(tiny_dataset, out, cfg, TrainConfig(epochs=2, batch_size=8), FeatureConfig(),
                   ClipConfig(seconds=TINY_SECONDS, frame_size=32), progress=False)
    return result.checkpoint


@pytest.fixture
def rng():
    """A fresh, unseeded generator: parity tests run on new random inputs every time."""
    return np.random.default_rng()
