"""ONNX Runtime backend (``.onnx``): CPU by default; CUDA / TensorRT execution providers when the
installed onnxruntime has them and ``device`` asks for them."""
from __future__ import annotations

import os

import numpy as np

from ..errors import ArtifactError, InputError
from .artifact import info_from_metadata, input_specs


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
        self._specs = input_specs(self.info)
        self._outputs = [o.name for o in self.session.get_outputs()]

    def run(self, log_mel: np.ndarray | None, frames: np.ndarray | None) -> dict[str, np.ndarray]:
        batch = (log_mel if log_mel is not None else frames).shape[0]
        feeds = {}
        for name, given in (("log_mel", log_mel), ("frames", frames)):
            shape = [batch, *self._specs[name][1:]]
            if given is not None and list(given.shape) != shape:
                raise InputError(f"{name} has shape {list(given.shape)}, the model expects {shape}")
            feeds[name] = np.ascontiguousarray(given, np.float32) if given is not None else np.zeros(shape, np.float32)
        out = dict(zip(self._outputs, self.session.run(self._outputs, feeds)))
        if log_mel is not None and frames is not None:
            result = {k: out[k] for k in ("scene_logits", "event_logits", "object_logits", "event_to_object")}
            result["modalities"] = ("audio", "visual")
        elif log_mel is not None:
            result = {"scene_logits": out["audio_logits"], "event_logits": out["event_logits"], "modalities": ("audio",)}
        else:
            result = {"scene_logits": out["visual_logits"], "object_logits": out["object_logits"],
                      "modalities": ("visual",)}
        return result
