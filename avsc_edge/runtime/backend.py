"""The one interface every runtime implements (PyTorch, ONNX Runtime, TensorRT), and the one
composition of the model's parts that every path (predict, batch, stream, eval, bench) runs.

A backend provides the model's parts (see :mod:`avsc_edge.model.avsc`):

* ``audio_tokens(log_mel [B, 1, n_mels, T]) -> tokens [B, L, C]``
* ``audio_slots(tokens) -> (event_emb [B, N_e, d], event_logits [B, N_e])``
* ``encode_frames(frames [N, 3, S, S]) -> (frame_emb [N, N_o, d], frame_logits [N, N_o])``
* ``heads(event_emb, event_logits, frame_emb [B, F, N_o, d], frame_logits [B, F, N_o])`` -> the
  graph outputs (``OUTPUT_NAMES``); a missing modality is passed as ``None``.

:func:`run` (the full call, on a batch of windows) is these parts in sequence. Streaming calls the
parts directly (cached per-frame embeddings, incremental audio tokens). Predict and stream thus run
the same graphs at the same precision and agree exactly on the same window.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..artifact import OUTPUT_NAMES
from ..config import ArtifactInfo
from ..errors import InputError
from ..features import unique_frames


@dataclass(frozen=True)
class EngineInfo:
    """What actually ran a prediction: backend, precision, device and execution provider."""

    backend: str
    precision: str
    device: str
    provider: str
    threads: int | None = None

    def __str__(self) -> str:
        return f"{self.backend} {self.precision} on {self.device} ({self.provider})"


class Backend(Protocol):
    """The runtime interface (structural: implementations do not inherit from it)."""

    name: str
    precision: str
    info: ArtifactInfo
    engine: EngineInfo

    def audio_tokens(self, log_mel: np.ndarray) -> np.ndarray: ...

    def audio_slots(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def encode_frames(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def heads(self, event_emb: np.ndarray | None, event_logits: np.ndarray | None,
              frame_emb: np.ndarray | None, frame_logits: np.ndarray | None) -> dict[str, np.ndarray]: ...


class GraphParts:
    """The parts of a backend that runs one graph per part (ONNX Runtime sessions, TensorRT engines):
    subclasses provide ``_run(part, *inputs) -> list of outputs`` in the order of ``PARTS``."""

    info: ArtifactInfo

    def _run(self, part: str, *arrays: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def audio_tokens(self, log_mel: np.ndarray) -> np.ndarray:
        return self._run("audio_tokens", log_mel)[0]

    def audio_slots(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e, el = self._run("audio_slots", tokens)
        return e, el

    def encode_frames(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fe, fl = self._run("frames", frames)
        return fe, fl

    def heads(self, event_emb, event_logits, frame_emb, frame_logits) -> dict[str, np.ndarray]:
        return outputs_dict(self._run("heads", *heads_inputs(self.info, event_emb, event_logits, frame_emb, frame_logits)))


def zeros_for_missing(info: ArtifactInfo, batch: int, num_frames: int | None = None) -> dict[str, np.ndarray]:
    """Stand-ins for a missing modality's slots: graphs need every input, and the single-modality
    head that is read does not depend on them."""
    m = info.model_config
    f = num_frames or info.clip_config.num_frames
    return {"event_emb": np.zeros((batch, m.n_events, m.d), np.float32),
            "event_logits": np.zeros((batch, m.n_events), np.float32),
            "frame_emb": np.zeros((batch, f, m.n_objects, m.d), np.float32),
            "frame_logits": np.zeros((batch, f, m.n_objects), np.float32)}


def heads_inputs(info: ArtifactInfo, event_emb, event_logits, frame_emb, frame_logits) -> list[np.ndarray]:
    """The heads graph's four inputs, with zeros standing in for a missing modality."""
    batch = (event_emb if event_emb is not None else frame_emb).shape[0]
    zeros = zeros_for_missing(info, batch, frame_emb.shape[1] if frame_emb is not None else None)
    return [x if x is not None else zeros[k] for k, x in (("event_emb", event_emb), ("event_logits", event_logits),
                                                        ("frame_emb", frame_emb), ("frame_logits", frame_logits))]


def encode_window_frames(backend: Backend, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[B, F, 3, S, S]`` -> per-frame slots ``[B, F, N_o, d]`` / ``[B, F, N_o]``: one batched call
    over the distinct frames."""
    b, f = frames.shape[:2]
    flat = frames.reshape(b * f, *frames.shape[2:])
    keep, inverse = unique_frames(flat)
    emb, logits = backend.encode_frames(np.ascontiguousarray(flat[keep]))
    emb, logits = emb[inverse], logits[inverse]
    return emb.reshape(b, f, *emb.shape[1:]), logits.reshape(b, f, -1)


def check_inputs(info: ArtifactInfo, log_mel: np.ndarray | None, frames: np.ndarray | None) -> None:
    from ..artifact import input_specs

    if log_mel is None and frames is None:
        raise InputError("no input modality")
    specs = input_specs(info)
    batch = (log_mel if log_mel is not None else frames).shape[0]
    for name, arr in (("log_mel", log_mel), ("frames", frames)):
        if arr is None:
            continue
        shape = [batch, *specs[name][1:]]
        if list(arr.shape) != shape or arr.dtype != np.float32:
            raise InputError(f"{name} has shape {list(arr.shape)} {arr.dtype}, the model expects {shape} float32")


def run(backend: Backend, log_mel: np.ndarray | None, frames, wave: np.ndarray | None = None) -> dict:
    """The full model on a batch of windows, through the backend's parts; returns what the
    classifier reads (see :func:`select_outputs`). ``frames`` may be a callable returning them:
    it is called after the audio branch has run (frames still decoding meanwhile). A backend with
    ``device_features`` takes the windows' samples (``wave [W, n]``) instead of their log-mel and
    computes the features on its device."""
    e = el = fe = fl = None
    if log_mel is None and wave is not None:
        e, el = backend.audio_slots(backend.audio_tokens_from_wave(np.ascontiguousarray(wave, np.float32)))
        log_mel = wave
    elif log_mel is not None:
        check_inputs(backend.info, log_mel, None)
        e, el = backend.audio_slots(backend.audio_tokens(log_mel))
    if callable(frames):
        frames = frames()
    if frames is not None:
        check_inputs(backend.info, None, frames)
        if log_mel is not None and len(frames) != len(log_mel):
            raise InputError(f"{len(log_mel)} log-mel windows but {len(frames)} frame windows")
        fe, fl = encode_window_frames(backend, frames)
    if log_mel is None and frames is None:
        raise InputError("no input modality")
    return select_outputs(backend.heads(e, el, fe, fl), log_mel is not None, frames is not None)


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
    return {k: (np.asarray(v, np.float32) if k != "modalities" else v) for k, v in result.items()}


def outputs_dict(values, names=OUTPUT_NAMES) -> dict[str, np.ndarray]:
    return {n: np.asarray(v, np.float32) for n, v in zip(names, values)}
