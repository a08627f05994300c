"""ONNX Runtime backend (``NAME.onnx`` and its split graphs ``NAME.<part>.onnx`` beside it): CPU by
default; CUDA / TensorRT execution providers when the installed onnxruntime has them and
``device`` asks for them.

The metadata is read from ``NAME.onnx`` without loading its weights; the parts are what runs (see
:mod:`avsc_edge.runtime.backend`). Every file's external-data locations are checked by the SDK
before ONNX Runtime opens it.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from ..errors import ArtifactError, InputError
from ..formats.artifact import PARTS, check_same_export, info_from_metadata, model_parts, part_paths
from ..formats.onnx_file import check_external_data, read_metadata_props
from ..threads import default_threads
from .backend import EngineInfo, GraphParts

PROVIDERS = {"cpu": ["CPUExecutionProvider"],
             "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
             "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]}


def session_options(threads: int | None):
    """ONNX Runtime options for a pipeline: ``threads`` intra-op threads (default: the cores this
    process may use), one inter-op thread, and idle threads that sleep instead of spin-waiting, so
    they do not steal the cores that decoding and the log-mel kernel need between calls."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads or default_threads())
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return opts


def open_session(path: Path, device: str, threads: int | None):
    import onnxruntime as ort

    if device not in PROVIDERS:
        raise InputError(f"device must be one of {sorted(PROVIDERS)}, got {device!r}")
    available = ort.get_available_providers()
    if PROVIDERS[device][0] not in available:
        raise InputError(f"device={device!r} needs {PROVIDERS[device][0]}, which this onnxruntime lacks "
                         f"(available: {available}); install onnxruntime-gpu or use device='cpu'")
    check_external_data(path)
    try:
        return ort.InferenceSession(str(path), session_options(threads),
                                    providers=[p for p in PROVIDERS[device] if p in available])
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        raise ArtifactError(f"{path}: ONNX Runtime cannot load it ({type(exc).__name__}: {exc})") from exc


class OnnxBackend(GraphParts):
    name = "onnxruntime"

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> None:
        path = Path(path)
        if path.exists():
            self.info = info_from_metadata(read_metadata_props(path), str(path))
        else:   # exported with --parts-only: the split graphs carry the model's metadata
            heads = part_paths(path)["heads"]
            self.info = dataclasses.replace(info_from_metadata(read_metadata_props(heads), str(heads)), graph="full")
        if self.info.graph != "full":
            raise ArtifactError(f"{path} is the {self.info.graph!r} split graph of a model; pass the model itself "
                                f"({path.name.replace('.' + self.info.graph, '')})")
        self.precision = self.info.precision
        paths = model_parts(path, "every export writes them beside the model: copy them along, or re-export with "
                                  "`avsc-edge export`")
        for part, p in paths.items():   # checked before any graph is loaded
            check_same_export(self.info, info_from_metadata(read_metadata_props(p), str(p)), part, str(p), path.name)
        self.sessions = {part: open_session(p, device, threads) for part, p in paths.items()}
        self.paths = paths
        for part, session in self.sessions.items():
            _check_inputs(session, PARTS[part][0], self.info, paths[part])
        self._outputs = {part: tuple(o for o in PARTS[part][1] if o in {x.name for x in session.get_outputs()})
                         for part, session in self.sessions.items()}
        for part, names in self._outputs.items():
            missing = [o for o in PARTS[part][1] if o not in names and o != "event_to_object"]
            if missing:
                raise ArtifactError(f"{paths[part]}: the graph lacks the outputs {missing}; it was not written by "
                                    "avsc-edge for this model: re-export")
        provider = self.sessions["frames"].get_providers()[0]
        self.engine = EngineInfo(self.name, self.precision, "cpu" if provider == "CPUExecutionProvider" else "cuda",
                                 provider, int(threads or default_threads()))

    def output_names(self, part: str) -> tuple[str, ...]:
        return self._outputs[part]

    def _run(self, part: str, *arrays: np.ndarray) -> list[np.ndarray]:
        names = PARTS[part][0]
        feeds = {n: np.ascontiguousarray(a, np.float32) for n, a in zip(names, arrays)}
        try:
            return self.sessions[part].run(list(self._outputs[part]), feeds)
        except Exception as exc:  # onnxruntime's own untyped errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArtifactError(f"{self.paths[part]}: ONNX Runtime could not run it on inputs "
                                f"{ {n: a.shape for n, a in feeds.items()} } ({first})") from exc


def _check_inputs(session, names: tuple[str, ...], info, path) -> None:
    """The graph takes the inputs its metadata describes (names; the fixed sizes of frames and log-mel)."""
    f, c = info.feature_config, info.clip_config
    fixed = {"log_mel": (1, f.n_mels, None), "frames": (c.num_frames, 3, c.frame_size, c.frame_size),
             "frame": (3, c.frame_size, c.frame_size)}
    inputs = {i.name: i.shape for i in session.get_inputs()}
    if tuple(inputs) != names:
        raise ArtifactError(f"{path}: the graph's inputs {list(inputs)} are not {list(names)}; it was not written "
                            "by `avsc-edge export` for this model: re-export")
    for name, shape in inputs.items():
        want = fixed.get(name)
        got = tuple(shape[1:])
        if want and (len(got) != len(want) or any(isinstance(g, int) and w is not None and g != w
                                                   for g, w in zip(got, want))):
            raise ArtifactError(f"{path}: input {name!r} has shape {list(shape)}, the model's metadata says "
                                f"[batch, {', '.join('?' if w is None else str(w) for w in want)}]; re-export")
    m = info.model_config
    widths = {"scene_logits": m.n_scenes, "audio_logits": m.n_scenes, "visual_logits": m.n_scenes,
              "event_logits": m.n_events, "object_logits": m.n_objects}
    for output in session.get_outputs():
        width = output.shape[-1] if output.shape else None
        if output.name in widths and isinstance(width, int) and width != widths[output.name]:
            raise ArtifactError(f"{path}: output {output.name!r} has {width} values, the model's metadata says "
                                f"{widths[output.name]} (labels: {len(info.labels)}); the metadata does not belong to "
                                "this graph: re-export")
