"""ONNX Runtime backend (``.onnx``): CPU by default; CUDA / TensorRT execution providers when the
installed onnxruntime has them and ``device`` asks for them."""
from __future__ import annotations

import os

import numpy as np

from ..errors import ArtifactError, InputError
from .artifact import info_from_metadata, make_feeds, select_outputs


def session_options(threads: int | None):
    """ONNX Runtime options for a pipeline: idle intra-op threads sleep instead of spin-waiting,
    so they do not steal the cores that decoding and the log-mel kernel need between calls."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


class OnnxBackend:
    name = "onnxruntime"

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = session_options(threads)
        available = ort.get_available_providers()
        wanted = {"cpu": ["CPUExecutionProvider"],
                  "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
                  "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]}
        if device not in wanted:
            raise InputError(f"device must be one of {sorted(wanted)}, got {device!r}")
        if wanted[device][0] not in available:
            raise InputError(f"device={device!r} needs {wanted[device][0]}, which this onnxruntime lacks "
                             f"(available: {available}); install onnxruntime-gpu or use device='cpu'")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=[p for p in wanted[device] if p in available])
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise ArtifactError(f"{path}: ONNX Runtime cannot load it ({type(exc).__name__}: {exc})") from exc
        self.info = info_from_metadata(self.session.get_modelmeta().custom_metadata_map, str(path))
        self.precision = self.info.precision
        self.providers = self.session.get_providers()
        self._outputs = [o.name for o in self.session.get_outputs()]

    def run(self, log_mel: np.ndarray | None, frames: np.ndarray | None) -> dict:
        feeds = make_feeds(self.info, log_mel, frames)
        out = dict(zip(self._outputs, self.session.run(self._outputs, feeds)))
        return select_outputs(out, log_mel is not None, frames is not None)
