"""The public entry point: ``Classifier(path).predict(...)``."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from .config import ArtifactInfo
from .errors import ArtifactError, InputError
from .runtime.inputs import ModelInputs, from_arrays, from_files
from .runtime.prediction import Prediction, to_prediction


def open_backend(path: str | os.PathLike, device: str = "cpu", threads: int | None = None):
    """Pick the backend from the artifact's file type."""
    p = Path(path)
    if not p.is_file():
        raise ArtifactError(f"{p}: model artifact not found")
    suffix = p.suffix.lower()
    if suffix == ".safetensors":
        from .runtime.torch_backend import TorchBackend

        return TorchBackend(p, device, threads)
    if suffix == ".onnx":
        from .runtime.onnx_backend import OnnxBackend

        return OnnxBackend(p, device, threads)
    if suffix in (".plan", ".engine"):
        from .runtime.tensorrt_backend import TensorRTBackend

        return TensorRTBackend(p, device, threads)
    raise ArtifactError(f"{p}: unsupported artifact type {suffix!r}; expected .onnx, .plan/.engine or .safetensors")


class Classifier:
    """Audio-visual scene classifier over one artifact.

    >>> clf = Classifier("model.safetensors")            # doctest: +SKIP
    >>> p = clf.predict("clip.mp4"); p.label, p.confidence  # doctest: +SKIP

    ``strict=True`` makes a missing modality an error instead of a single-modality prediction.
    """

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None,
                 strict: bool = False) -> None:
        self.path = Path(path)
        self.backend = open_backend(path, device, threads)
        self.threads = threads
        self.strict = strict

    @property
    def info(self) -> ArtifactInfo:
        return self.backend.info

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.info.labels)

    def predict(self, path: str | os.PathLike | None = None, *, audio=None, video: str | os.PathLike | None = None,
                sample_rate: int | None = None, frames: np.ndarray | None = None, fps: float | None = None) -> Prediction:
        """Classify one recording: a container with both streams (``path``), a TAU-style pair
        (``audio=`` file, ``video=`` file), or arrays (``audio=`` waveform + ``sample_rate=``,
        ``frames=`` RGB uint8 ``[T, H, W, 3]`` + ``fps=``)."""
        t0 = time.perf_counter()
        features, clip = self.info.feature_config, self.info.clip_config
        if path is not None:
            if audio is not None or video is not None or frames is not None:
                raise InputError("pass either a path, or audio=/video=/frames=, not both")
            inputs = from_files(path, path, features, clip, self.threads)
            source = str(path)
        elif isinstance(audio, np.ndarray) or frames is not None:
            if video is not None:
                raise InputError("video= takes a file; pass frames= for arrays")
            inputs = from_arrays(audio, sample_rate, frames, fps, features, clip, self.threads)
            source = None
        else:
            if audio is None and video is None:
                raise InputError("nothing to classify: pass a path, audio=/video= files, or arrays")
            inputs = from_files(audio, video, features, clip, self.threads)
            source = str(video or audio)
        return self._classify(inputs, source, t0)

    def stream(self, source, hop: float = 1.0, realtime: bool = False, config=None,
               microphone: int | bool | None = None) -> Iterator[Prediction]:
        """Predictions every ``hop`` seconds over a rolling window of a live or recorded source: a
        file played as a stream, an ``rtsp://``/``http://``/``udp://`` URL (re-opened with back-off
        when lost), or a camera index (``None`` for none) with ``microphone=True`` (or a device
        index; needs ``sounddevice``). ``realtime`` paces a file to its timestamps.
        Incremental compute needs a ``.safetensors`` checkpoint or an ``.onnx`` model exported
        with ``--split``."""
        from .stream.sources import device_events, reconnecting_events
        from .stream.state import StreamConfig, StreamState
        from .stream.encoders import open_encoders

        cfg = config or StreamConfig(hop=hop)
        sr = self.info.feature_config.sr
        state = StreamState(open_encoders(self.path, self.threads), sr, cfg, str(source))
        rate = 2.0 * self.info.clip_config.num_frames / self.info.clip_config.seconds
        live = source is None or isinstance(source, int)
        events = (device_events(source, microphone, sr, rate) if live
                  else reconnecting_events(str(source), sr, rate, realtime))
        for kind, data, t in events:
            preds = state.add_audio(data, t) if kind == "audio" else state.add_frame(data, t)
            yield from preds

    def predict_batch(self, paths, workers: int = 2, progress: bool = False) -> list[Prediction]:
        """Classify many files (paths, globs, folders, a TAU dataset root); decoding runs on
        ``workers`` threads while the model runs. Raises on the first bad file."""
        from .runtime.batch import expand_inputs, predict_many

        pairs = expand_inputs([str(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)])
        return [p for _, p in predict_many(self, pairs, workers, progress, keep_going=False)]

    def classify_inputs(self, inputs: ModelInputs, source: str | None = None) -> Prediction:
        """Classify already-prepared model inputs (see :mod:`avsc_edge.runtime.inputs`)."""
        return self._classify(inputs, source, time.perf_counter() - sum(inputs.timings.values()) / 1e3)

    def _classify(self, inputs: ModelInputs, source: str | None, t0: float) -> Prediction:
        if self.strict and len(inputs.modalities) < 2:
            raise InputError(f"{source}: only {inputs.modalities} available and strict=True")
        t1 = time.perf_counter()
        out = self.backend.run(inputs.log_mel, inputs.frames)
        timings = dict(inputs.timings)
        timings["inference_ms"] = (time.perf_counter() - t1) * 1e3
        timings["total_ms"] = (time.perf_counter() - t0) * 1e3
        return to_prediction(out, self.info, timings, source)
