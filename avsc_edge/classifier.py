"""The public entry point: ``Classifier(path).predict(...)``, batches, streams.

Every path — predict, predict_batch, stream, eval, parity, bench — runs the model through the
classifier's :attr:`Classifier.backend` (the :class:`~avsc_edge.runtime.backend.Backend`
interface: the model's parts), with the pre-processing the artifact carries.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from .config import ArtifactInfo
from .errors import InputError
from .runtime import backend as _backend
from .runtime.loader import open_backend
from .runtime.prediction import Prediction, WindowAccumulator, model_notes
from .windows import ModelInputs, Recording, batches


class Classifier:
    """Audio-visual scene classifier over one artifact (``.safetensors``, ``.onnx``, ``.plan``).

    >>> clf = Classifier("model.int8.onnx")                  # doctest: +SKIP
    >>> p = clf.predict("clip.mp4"); p.label, p.confidence   # doctest: +SKIP

    ``device``: ``cpu``, ``cuda`` (PyTorch, ONNX Runtime) or ``tensorrt`` (ONNX Runtime's provider).
    ``threads``: intra-op threads of the runtime (default: the usable cores, see
    :mod:`avsc_edge.threads`). ``strict=True`` makes a missing modality an error instead of a
    single-modality prediction. ``decoder``: ``auto``/``cpu``/``nvdec`` video decoding.
    ``batch_size``: windows per backend call.
    """

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None,
                 strict: bool = False, decoder: str | None = None, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        self.path = Path(path)
        self.backend = open_backend(path, device, threads)
        self.threads = threads
        self.strict = strict
        self.decoder = decoder
        self.batch_size = batch_size

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

    # -- inputs ------------------------------------------------------------------------------
    def open_recording(self, pair: tuple) -> Recording:
        """A (audio file, video file) pair -> its :class:`~avsc_edge.windows.Recording`."""
        audio, video = pair
        return Recording.from_files(audio, video, self.info.feature_config, self.info.clip_config,
                                    threads=1, decoder=self.decoder, host_features=self.host_features)

    def check_modalities(self, modalities: tuple[str, ...], source: str | None) -> None:
        if self.strict and len(modalities) < 2:
            raise InputError(f"{source}: only {modalities} available and strict=True")

    # -- the model ---------------------------------------------------------------------------
    def run_windows(self, log_mel: np.ndarray | None = None, frames: np.ndarray | None = None,
                    batch_size: int | None = None) -> dict:
        """The model on prepared windows (``log_mel [W, 1, n_mels, T]``, ``frames [W, F, 3, S, S]``,
        either may be None), in batches: ``scene_logits [W, n_scenes]`` from the head the present
        modalities select, presence logits, attention, and ``modalities``."""
        given = log_mel if log_mel is not None else frames
        if given is None:
            raise InputError("run_windows needs log_mel and/or frames")
        size = batch_size or max(self.batch_size, 32)
        parts = []
        for s in range(0, given.shape[0], size):
            sl = slice(s, s + size)
            parts.append(_backend.run(self.backend, None if log_mel is None else log_mel[sl],
                                      None if frames is None else frames[sl]))
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "modalities"}
        out["modalities"] = parts[0]["modalities"]
        return out

    def run_batch(self, inputs: ModelInputs) -> tuple[dict, float]:
        """The model on one batch of windows (the batch call). Frames may still be decoding: the
        audio branch runs first. Returns (outputs, seconds spent in the backend)."""
        waited = 0.0
        frames = inputs.frames
        if callable(frames):
            pending = frames

            def frames():
                nonlocal waited
                t = time.perf_counter()
                ready = pending()
                waited += time.perf_counter() - t
                return ready

        t0 = time.perf_counter()
        out = _backend.run(self.backend, inputs.log_mel, frames, inputs.wave)
        return out, time.perf_counter() - t0 - waited

    def _classify(self, rec: Recording, source: str | None, t0: float) -> Prediction:
        acc = WindowAccumulator(self.info)
        inference = 0.0
        for group in batches(rec.windows(), self.batch_size):
            self.check_modalities(group[0].modalities, source)
            inputs = ModelInputs.stack(group)
            out, seconds = self.run_batch(inputs)
            inference += seconds
            acc.add(out, inputs.starts)
        timings = dict(rec.timings)
        timings["inference_ms"] = inference * 1e3
        timings["total_ms"] = (time.perf_counter() - t0) * 1e3
        return acc.result(timings, source, rec.notes + model_notes(self.info), self.engine)

    # -- public calls ------------------------------------------------------------------------
    def predict(self, path: str | os.PathLike | None = None, *, audio=None, video: str | os.PathLike | None = None,
                sample_rate: int | None = None, frames: np.ndarray | None = None, fps: float | None = None) -> Prediction:
        """Classify one recording: a container with both streams (``path``), a TAU-style pair
        (``audio=`` file, ``video=`` file), or arrays (``audio=`` waveform + ``sample_rate=``,
        ``frames=`` RGB uint8 ``[T, H, W, 3]`` + ``fps=``). A recording longer than the model's
        window is classified window by window (memory independent of its length) and the window
        scores averaged; ``p.windows`` holds the timeline."""
        t0 = time.perf_counter()
        features, clip = self.info.feature_config, self.info.clip_config
        if path is not None:
            if audio is not None or video is not None or frames is not None:
                raise InputError("pass either a path, or audio=/video=/frames=, not both")
            rec = Recording.from_files(path, path, features, clip, self.threads, decoder=self.decoder,
                                       host_features=self.host_features)
            source = str(path)
        elif isinstance(audio, np.ndarray) or frames is not None:
            if video is not None:
                raise InputError("video= takes a file; pass frames= for arrays")
            rec = Recording.from_arrays(audio, sample_rate, frames, fps, features, clip, self.threads,
                                        host_features=self.host_features)
            source = None
        else:
            if audio is None and video is None:
                raise InputError("nothing to classify: pass a path, audio=/video= files, or arrays")
            rec = Recording.from_files(audio, video, features, clip, self.threads, decoder=self.decoder,
                                       host_features=self.host_features)
            source = str(video or audio)
        return self._classify(rec, source, t0)

    def predict_many(self, paths, workers: int = 2, progress: bool = False,
                     keep_going: bool = True) -> Iterator[tuple[str, Prediction | Exception]]:
        """Classify many files (paths, globs, folders, a TAU dataset root), yielding
        ``(name, Prediction or AVSCError)`` in input order as each is done; decoding runs on
        ``workers`` threads while the model runs, memory bounded whatever the number of files."""
        from .runtime.batch import expand_inputs, predict_many

        items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        yield from predict_many(self, expand_inputs([str(p) for p in items]), workers, progress, keep_going)

    def predict_batch(self, paths, workers: int = 2, progress: bool = False) -> list[Prediction]:
        """Classify many files (see :meth:`predict_many`); raises on the first bad file."""
        return [p for _, p in self.predict_many(paths, workers, progress, keep_going=False)]

    def stream(self, source, hop: float = 1.0, realtime: bool = False, config=None,
               microphone: int | bool | None = None) -> Iterator[Prediction]:
        """Predictions every ``hop`` seconds over a rolling window of a live or recorded source: a
        file played as a stream, an ``rtsp://``/``http://``/``udp://`` URL (re-opened with back-off
        when lost), or a camera index (``None`` for none) with ``microphone=True`` (or a device
        index; needs ``sounddevice``). ``realtime`` paces a file to its timestamps. The end of a
        file flushes the last window by the same half-window rule as :meth:`predict`."""
        from .stream.runner import stream_source

        yield from stream_source(self.backend, source, hop, realtime, config, microphone)
