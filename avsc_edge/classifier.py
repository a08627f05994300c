"""The public entry point: ``Classifier(path).predict(...)``, batches, streams.

A thin front door: it opens the artifact's backend, turns what the user passes into a
:class:`~avsc_edge.preprocess.windows.Recording`, and hands it to the
:class:`~avsc_edge.runtime.runner.ModelRunner` that every path (predict, many files, stream,
eval, parity, bench) runs the model through.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from .config import ArtifactInfo
from .errors import InputError
from .preprocess.windows import Recording
from .runtime.loader import open_backend
from .runtime.prediction import Prediction
from .runtime.runner import ModelRunner


class Classifier:
    """Audio-visual scene classifier over one artifact (``.safetensors``, ``.onnx``, ``.plan``).

    >>> clf = Classifier("model.int8.onnx")                  # doctest: +SKIP
    >>> p = clf.predict("clip.mp4"); p.label, p.confidence   # doctest: +SKIP

    ``device``: ``cpu``, ``cuda`` (PyTorch, ONNX Runtime) or ``tensorrt`` (ONNX Runtime's provider).
    ``threads``: intra-op threads of the runtime (default: the usable cores, see
    :mod:`avsc_edge.threads`). ``strict=True`` makes a missing modality an error instead of a
    single-modality prediction. ``decoder``: ``auto``/``cpu``/``nvdec`` video decoding.
    ``batch_size``: windows per backend call (default: 1 on a CPU, where batching saves no time and
    costs memory; 8 on a GPU).
    """

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None,
                 strict: bool = False, decoder: str | None = None, batch_size: int | None = None) -> None:
        self.path = Path(path)
        self.runner = ModelRunner(open_backend(path, device, threads), batch_size)
        self.threads, self.strict, self.decoder = threads, strict, decoder

    @property
    def backend(self):
        """The :class:`~avsc_edge.runtime.backend.Backend` (the model's parts) of the artifact."""
        return self.runner.backend

    @property
    def batch_size(self) -> int:
        return self.runner.batch_size

    @property
    def info(self) -> ArtifactInfo:
        return self.backend.info

    @property
    def engine(self):
        """:class:`~avsc_edge.runtime.backend.EngineInfo`: backend, precision, device, provider."""
        return self.backend.engine

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.info.labels)

    @property
    def host_features(self) -> bool:
        """False when the backend computes the log-mel on its GPU (fused CUDA kernel)."""
        return not getattr(self.backend, "device_features", False)

    def open_recording(self, pair: tuple) -> Recording:
        """A (audio file, video file) pair -> its :class:`~avsc_edge.preprocess.windows.Recording`."""
        audio, video = pair
        return Recording.from_files(audio, video, self.info.feature_config, self.info.clip_config,
                                    threads=1, decoder=self.decoder, host_features=self.host_features)

    def check_modalities(self, modalities: tuple[str, ...], source: str | None) -> None:
        if self.strict and len(modalities) < 2:
            raise InputError(f"{source}: only {modalities} available and strict=True")

    # -- public calls ------------------------------------------------------------------------
    def predict(self, path: str | os.PathLike | None = None, *, audio=None, video: str | os.PathLike | None = None,
                sample_rate: int | None = None, frames: np.ndarray | None = None, fps: float | None = None) -> Prediction:
        """Classify one recording: a container with both streams (``path``), a TAU-style pair
        (``audio=`` file, ``video=`` file), or arrays (``audio=`` waveform + ``sample_rate=``,
        ``frames=`` RGB uint8 ``[T, H, W, 3]`` + ``fps=``). A recording longer than the model's
        window is classified window by window (memory independent of its length) and the window
        scores averaged; ``p.windows`` holds the timeline."""
        t0 = time.perf_counter()
        rec, source = Recording.from_user(path, audio, video, sample_rate, frames, fps, self.info, self.threads,
                                          self.decoder, self.host_features)
        return self.runner.classify(rec, source, self.check_modalities, t0)

    def predict_many(self, paths, workers: int = 2, progress: bool = False,
                     keep_going: bool = True) -> Iterator[tuple[str, Prediction | Exception]]:
        """Classify many files (paths, globs, folders, a TAU dataset root, (audio, video) pairs), yielding
        ``(name, Prediction or AVSCError)`` in input order as each is done; decoding runs on
        ``workers`` threads while the model runs, memory bounded whatever the number of files."""
        from .runtime.inputs import expand_inputs

        items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        pairs = [p for item in items for p in (expand_inputs([str(item)]) if not isinstance(item, tuple) else [item])]
        yield from self.runner.classify_many(pairs, self.open_recording, workers, progress, keep_going,
                                             self.check_modalities)

    def predict_batch(self, paths, workers: int = 2, progress: bool = False) -> list[Prediction]:
        """Classify many files (see :meth:`predict_many`); raises on the first bad file."""
        return [p for _, p in self.predict_many(paths, workers, progress, keep_going=False)]

    def stream(self, source, hop: float = 1.0, realtime: bool = False, config=None,
               microphone: int | bool | None = None) -> Iterator[Prediction]:
        """Predictions every ``hop`` seconds over a rolling window of a live or recorded source: a
        file played as a stream, an ``rtsp://``/``http://``/``udp://`` URL (re-opened with back-off
        when lost), a GStreamer URI, path or camera (``"gst:..."``) or a trusted pipeline description
        (``"gst-pipeline:..."``, :mod:`avsc_edge.stream.gst`), or a
        camera index (``None`` for none) with ``microphone=True`` (or a device index; needs
        ``sounddevice``). ``realtime`` paces a file to its timestamps. The end of a file flushes the
        last window by the same half-window rule as :meth:`predict`."""
        from .stream.runner import stream_source

        yield from stream_source(self.runner, source, hop, realtime, config, microphone, self.decoder)
