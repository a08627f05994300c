"""The parity and accuracy report of an exported model against the PyTorch FP32 reference: logit
differences on fresh random inputs and on real clips, top-1 agreement, accuracy and log-loss."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from ..labels import SCENES
from ..metrics import scene_metrics, softmax
from ..runtime.artifact import dummy_inputs


def _torch_logits(model, inputs: dict[str, np.ndarray]) -> np.ndarray:
    from ..evaluation import predict_outputs

    return predict_outputs(model, inputs["log_mel"], inputs["frames"])["scene_logits"]


def _ort_logits(session, inputs: dict[str, np.ndarray], batch: int = 32) -> np.ndarray:
    outs = []
    for s in range(0, len(inputs["log_mel"]), batch):
        outs.append(session.run(["scene_logits"], {k: v[s:s + batch] for k, v in inputs.items()})[0])
    return np.concatenate(outs)


def _diff(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    return {"max_abs_diff": float(np.abs(a - b).max()), "mean_abs_diff": float(np.abs(a - b).mean()),
            "top1_agreement": float((a.argmax(1) == b.argmax(1)).mean())}


def parity_report(onnx_path: str | os.PathLike, reference, validation: dict[str, np.ndarray] | None = None,
                  labels: np.ndarray | None = None) -> dict:
    """Compare an ONNX model with the PyTorch reference ``model``; returns a JSON-ready report."""
    import onnxruntime as ort

    from ..runtime.onnx_backend import OnnxBackend

    backend = OnnxBackend(onnx_path)
    session = backend.session
    random = dummy_inputs(backend.info, 8, np.random.default_rng())
    report = {"precision": backend.precision, "onnxruntime": ort.__version__,
              "random_inputs": _diff(_ort_logits(session, random), _torch_logits(reference, random))}
    if validation is not None:
        ours, ref = _ort_logits(session, validation), _torch_logits(reference, validation)
        report["validation"] = _diff(ours, ref)
        if labels is not None:
            for name, logits in (("exported", ours), ("pytorch_fp32", ref)):
                m = scene_metrics(softmax(logits.astype(np.float64)), labels, SCENES)
                report["validation"][f"{name}_accuracy"] = m.accuracy
                report["validation"][f"{name}_log_loss"] = m.log_loss
            report["validation"]["clips"] = int(len(labels))
    return report


def store_report(onnx_path: str | os.PathLike, report: dict) -> None:
    """Write the report into the model's metadata (``metrics.parity``)."""
    import onnx

    from .onnx_export import read_onnx_info, write_onnx

    info = read_onnx_info(onnx_path)
    info = dataclasses.replace(info, metrics={**info.metrics, "parity": report})
    write_onnx(onnx.load(str(onnx_path)), info, Path(onnx_path))
