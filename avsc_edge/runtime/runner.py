"""The one place the model runs over windows: a backend, its artifact info and a batch size.

:class:`ModelRunner` turns windows into batches (one rule: consecutive windows with the same
modalities, at most ``batch_size``), runs the backend's parts on them (audio branch first, while
frames may still be decoding), picks the head the present modalities select, and accumulates the
windows' outputs into a :class:`~avsc_edge.runtime.prediction.Prediction` — for one recording
(:meth:`ModelRunner.classify`), many with decoding ahead on threads
(:meth:`ModelRunner.classify_many`), and, part by part, for the incremental stream
(:meth:`audio_slots`, :meth:`frame_slots`, :meth:`heads`).
"""
from __future__ import annotations

import time
from typing import Callable, Iterable, Iterator

import numpy as np

from ..errors import ArtifactError, InputError
from ..formats.artifact import SCENE_HEADS, modalities_of
from ..preprocess.frames import unique_frames
from .prediction import Prediction, WindowAccumulator, model_notes


def select_outputs(out: dict[str, np.ndarray], has_audio: bool, has_video: bool) -> dict:
    """The heads' outputs -> what a prediction reads: the scene logits of the head the present
    modalities select (fused with both), the presence logits of the present branches, the
    attention with both."""
    modalities = modalities_of(has_audio, has_video)
    if not modalities:
        raise InputError("no input modality")
    result = {"scene_logits": out[SCENE_HEADS[modalities]]}
    keep = {"audio": ("event_logits",), "visual": ("object_logits",)}
    for m in modalities:
        result.update({k: out[k] for k in keep[m]})
    if len(modalities) == 2 and "event_to_object" in out:   # few-shot heads have no cross-attention
        result["event_to_object"] = out["event_to_object"]
    result = {k: np.asarray(v, np.float32) for k, v in result.items()}
    if not np.isfinite(result["scene_logits"]).all():
        raise ArtifactError("the model produced non-finite scene scores (NaN or inf) from finite inputs: its weights "
                            "are damaged; re-train or re-export it")
    result["modalities"] = modalities
    return result


def joins_batch(batch: list, modalities: tuple[str, ...], size: int) -> bool:
    """The batching rule: a window joins the current batch while it has room and the same modalities."""
    return not batch or (len(batch) < size and modalities == batch[0].modalities)


def batches(windows: Iterable, size: int) -> Iterator[list]:
    """Consecutive windows grouped by :func:`joins_batch`."""
    group: list = []
    for w in windows:
        if not joins_batch(group, w.modalities, size):
            yield group
            group = []
        group.append(w)
    if group:
        yield group


# Windows per backend call when the caller does not say. On a CPU one window at a time is as fast
# and holds a third of the memory (20 10-s 720p clips, 2 cores, ONNX Runtime INT8, peak RSS:
# edge 181 MB at 1 vs 346 MB at 8, base 401 MB vs 1.12 GB; wall time no longer; benchmarks/README.md
# R4.3); a GPU fills its batch.
DEFAULT_BATCH = {"cpu": 1, "gpu": 8}


class ModelRunner:
    """A backend (:class:`~avsc_edge.runtime.backend.Backend`) run over windows in batches
    (``batch_size`` None: :data:`DEFAULT_BATCH` for the backend's device)."""

    def __init__(self, backend, batch_size: int | None = None) -> None:
        # per window on the frame thread only where the work is small and parallel (a CPU backend);
        # a GPU backend batches frames of many windows in one call instead
        engine = getattr(backend, "engine", None)
        self.backend_is_cpu = engine is not None and engine.device == "cpu"
        batch_size = DEFAULT_BATCH["cpu" if self.backend_is_cpu else "gpu"] if batch_size is None else batch_size
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        self.backend, self.batch_size = backend, batch_size
        self.info = backend.info

    # -- the model's parts ---------------------------------------------------------------------
    def check_inputs(self, log_mel: np.ndarray | None, frames: np.ndarray | None) -> None:
        from ..formats.artifact import input_specs

        specs = input_specs(self.info)
        for name, arr in (("log_mel", log_mel), ("frames", frames)):
            if arr is None:
                continue
            shape = [arr.shape[0], *specs[name][1:]]
            if list(arr.shape) != shape or arr.dtype != np.float32:
                raise InputError(f"{name} has shape {list(arr.shape)} {arr.dtype}, the model expects {shape} float32")

    def audio_slots(self, log_mel: np.ndarray | None = None, wave: np.ndarray | None = None):
        """Event slots of windows given as log-mel ``[B, 1, n_mels, T]`` or, on a backend with
        ``device_features``, as samples ``[B, n]``."""
        if log_mel is None:
            return self.backend.audio_slots(self.backend.audio_tokens_from_wave(np.ascontiguousarray(wave, np.float32)))
        self.check_inputs(log_mel, None)
        return self.backend.audio_slots(self.backend.audio_tokens(log_mel))

    def frame_slots(self, frames) -> tuple[np.ndarray, np.ndarray]:
        """``[B, F, 3, S, S]`` -> per-frame slots ``[B, F, N_o, d]`` / ``[B, F, N_o]``: one batched
        call over the distinct frames (windows already encoded on the frame thread pass through)."""
        from ..preprocess.windows import EncodedFrames

        if isinstance(frames, EncodedFrames):
            return frames[0], frames[1]
        self.check_inputs(None, frames)
        b, f = frames.shape[:2]
        emb, logits = self.encode_window_frames(frames.reshape(b * f, *frames.shape[2:]))
        return emb.reshape(b, f, *emb.shape[1:]), logits.reshape(b, f, -1)

    def encode_window_frames(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frames ``[N, 3, S, S]`` -> (embeddings ``[N, ...]``, logits ``[N, ...]``), each distinct
        frame once (keyframes repeat across sample times)."""
        keep, inverse = unique_frames(flat)
        emb, logits = self.backend.encode_frames(np.ascontiguousarray(flat[keep]))
        return emb[inverse], logits[inverse]

    def heads(self, audio_slots, frame_slots) -> dict:
        """Slots (either may be None) -> :func:`select_outputs` of the heads."""
        e, el = audio_slots if audio_slots is not None else (None, None)
        fe, fl = frame_slots if frame_slots is not None else (None, None)
        return select_outputs(self.backend.heads(e, el, fe, fl), audio_slots is not None, frame_slots is not None)

    def run(self, log_mel: np.ndarray | None, frames, wave: np.ndarray | None = None) -> dict:
        """The model on one batch of windows. ``frames`` may be a callable returning them: it is
        called after the audio branch has run (frames still decoding meanwhile)."""
        audio = log_mel if log_mel is not None else wave
        slots = self.audio_slots(log_mel, wave) if audio is not None else None
        if callable(frames):
            frames = frames()
        if frames is not None and audio is not None and len(frames if not isinstance(frames, tuple) else frames[0]) \
                != len(audio):
            raise InputError(f"{len(audio)} audio windows but {len(frames)} frame windows")
        return self.heads(slots, self.frame_slots(frames) if frames is not None else None)

    def run_timed(self, inputs) -> tuple[dict, float]:
        """:meth:`run` on a :class:`~avsc_edge.preprocess.windows.ModelInputs`; returns (outputs,
        seconds in the backend, not counting the wait for frames still decoding)."""
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
        out = self.run(inputs.log_mel, frames, inputs.wave)
        return out, time.perf_counter() - t0 - waited

    def run_windows(self, log_mel: np.ndarray | None = None, frames: np.ndarray | None = None,
                    batch_size: int | None = None) -> dict:
        """The model on prepared windows (``log_mel [W, 1, n_mels, T]``, ``frames [W, F, 3, S, S]``,
        either may be None), ``batch_size`` (default: the runner's) at a time; outputs concatenated
        over the windows."""
        given = log_mel if log_mel is not None else frames
        if given is None:
            raise InputError("run_windows needs log_mel and/or frames")
        size = batch_size or self.batch_size
        pick = lambda a, s: None if a is None else a[s:s + size]  # noqa: E731
        parts = [self.run(pick(log_mel, s), pick(frames, s)) for s in range(0, given.shape[0], size)]
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "modalities"}
        out["modalities"] = parts[0]["modalities"]
        return out

    # -- recordings ----------------------------------------------------------------------------
    def classify(self, recording, source: str | None, check: Callable = lambda modalities, source: None,
                 t0: float | None = None) -> Prediction:
        """One :class:`~avsc_edge.preprocess.windows.Recording`, window batch by window batch;
        ``check(modalities, source)`` may refuse a batch (strict mode)."""
        from ..preprocess.windows import ModelInputs

        t0 = time.perf_counter() if t0 is None else t0
        acc, inference = WindowAccumulator(self.info), 0.0
        if self.backend_is_cpu:   # the visual branch on the frame thread, beside the audio branch
            recording.frame_encoder = self.encode_window_frames
        for group in batches(recording.windows(), self.batch_size):
            check(group[0].modalities, source)
            inputs = ModelInputs.stack(group)
            out, seconds = self.run_timed(inputs)
            inference += seconds
            acc.add(out, inputs.starts)
        inference += recording.encode_seconds
        timings = {**recording.timings, "inference_ms": inference * 1e3, "total_ms": (time.perf_counter() - t0) * 1e3}
        return self.result(acc, timings, source, recording.notes)

    def result(self, acc: WindowAccumulator, timings: dict, source: str | None, notes: list[str]) -> Prediction:
        return acc.result(timings, source, notes + model_notes(self.info), self.backend.engine)

    def classify_many(self, pairs: list, open_recording: Callable, workers: int = 2, progress: bool = False,
                      keep_going: bool = True, check: Callable = lambda modalities, source: None) -> Iterator:
        """Many recordings, decoded ahead on ``workers`` threads; yields ``(name, Prediction or
        AVSCError)`` in input order (see :mod:`avsc_edge.runtime.many`)."""
        from .many import ManyRecordings

        yield from ManyRecordings(self, open_recording, check, workers, keep_going).run(pairs, progress)


def as_runner(model) -> ModelRunner:
    """A :class:`ModelRunner`, a :class:`~avsc_edge.Classifier` (its runner) or a bare backend."""
    runner = getattr(model, "runner", model)
    return runner if isinstance(runner, ModelRunner) else ModelRunner(runner)
