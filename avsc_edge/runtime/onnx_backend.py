"""ONNX Runtime backend (``NAME.onnx`` and its split graphs ``NAME.<part>.onnx`` beside it): CPU by
default; CUDA / TensorRT execution providers when the installed onnxruntime has them and
``device`` asks for them.

The metadata is read from ``NAME.onnx`` without loading its weights; the parts are what runs (see
:mod:`avsc_edge.runtime.backend`). Every file's external-data locations are checked by the SDK
before ONNX Runtime opens it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..artifact import PARTS, info_from_metadata, part_paths
from ..errors import ArtifactError, InputError
from .backend import EngineInfo, GraphParts
from ..threads import default_threads
from .onnx_file import check_external_data, read_metadata_props

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
        self.info = info_from_metadata(read_metadata_props(path), str(path))
        if self.info.graph != "full":
            raise ArtifactError(f"{path} is the {self.info.graph!r} split graph of a model; pass the model itself "
                                f"({path.name.replace('.' + self.info.graph, '')})")
        self.precision = self.info.precision
        paths = part_paths(path)
        missing = [p.name for p in paths.values() if not p.is_file()]
        if missing:
            raise ArtifactError(f"{path}: its split graphs {missing} are missing; every export writes them beside "
                                "the model: copy them along, or re-export with `avsc-edge export`")
        self.sessions = {part: open_session(p, device, threads) for part, p in paths.items()}
        for part, session in self.sessions.items():
            other = info_from_metadata(session.get_modelmeta().custom_metadata_map, str(paths[part]))
            if other.graph != part or other.model != self.info.model or other.precision != self.precision:
                raise ArtifactError(f"{paths[part]}: does not belong to {path.name} (another export?); re-export")
        provider = self.sessions["frames"].get_providers()[0]
        self.engine = EngineInfo(self.name, self.precision, "cpu" if provider == "CPUExecutionProvider" else "cuda",
                                 provider, int(threads or default_threads()))

    def _run(self, part: str, *arrays: np.ndarray) -> list[np.ndarray]:
        names, outputs = PARTS[part]
        feeds = {n: np.ascontiguousarray(a, np.float32) for n, a in zip(names, arrays)}
        return self.sessions[part].run(list(outputs), feeds)
