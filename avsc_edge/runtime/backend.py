"""The one interface every runtime implements (PyTorch, ONNX Runtime, TensorRT).

A backend provides the model's parts (see :mod:`avsc_edge.model.avsc`):

* ``audio_tokens(log_mel [B, 1, n_mels, T]) -> tokens [B, L, C]``
* ``audio_slots(tokens) -> (event_emb [B, N_e, d], event_logits [B, N_e])``
* ``encode_frames(frames [N, 3, S, S]) -> (frame_emb [N, N_o, d], frame_logits [N, N_o])``
* ``heads(event_emb, event_logits, frame_emb [B, F, N_o, d], frame_logits [B, F, N_o])`` -> the
  graph outputs (``OUTPUT_NAMES``); a missing modality is passed as ``None``.

:class:`~avsc_edge.runtime.runner.ModelRunner` composes these parts for every path (predict,
batch, stream, eval, bench); streaming calls them one by one (cached per-frame embeddings,
incremental audio tokens). Predict and stream thus run the same graphs at the same precision and
agree exactly on the same window.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..config import ArtifactInfo
from ..formats.artifact import OUTPUT_NAMES, PARTS


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

    def output_names(self, part: str) -> tuple[str, ...]:
        """The outputs ``_run`` returns for ``part`` (a few-shot heads graph has no attention)."""
        return PARTS[part][1]

    def heads(self, event_emb, event_logits, frame_emb, frame_logits) -> dict[str, np.ndarray]:
        return outputs_dict(self._run("heads", *heads_inputs(self.info, event_emb, event_logits, frame_emb, frame_logits)),
                            self.output_names("heads"))


def zeros_for_missing(info: ArtifactInfo, batch: int, num_frames: int | None = None) -> dict[str, np.ndarray]:
    """Stand-ins for a missing modality's slots: graphs need every input, and the single-modality
    head that is read does not depend on them."""
    from ..backbones import slot_shapes

    m = info.model_config
    f = num_frames or info.clip_config.num_frames
    slots = slot_shapes(m)
    return {"event_emb": np.zeros((batch, *slots["event"]), np.float32),
            "event_logits": np.zeros((batch, m.n_events), np.float32),
            "frame_emb": np.zeros((batch, f, *slots["object"]), np.float32),
            "frame_logits": np.zeros((batch, f, m.n_objects), np.float32)}


def heads_inputs(info: ArtifactInfo, event_emb, event_logits, frame_emb, frame_logits) -> list[np.ndarray]:
    """The heads graph's four inputs, with zeros standing in for a missing modality."""
    batch = (event_emb if event_emb is not None else frame_emb).shape[0]
    zeros = zeros_for_missing(info, batch, frame_emb.shape[1] if frame_emb is not None else None)
    return [x if x is not None else zeros[k] for k, x in (("event_emb", event_emb), ("event_logits", event_logits),
                                                        ("frame_emb", frame_emb), ("frame_logits", frame_logits))]


def outputs_dict(values, names=OUTPUT_NAMES) -> dict[str, np.ndarray]:
    return {n: np.asarray(v, np.float32) for n, v in zip(names, values)}
