"""The parity and accuracy report of an exported model against the PyTorch FP32 reference, through
the runner every prediction goes through (:class:`~avsc_edge.runtime.runner.ModelRunner`) on both sides: logit differences on fresh random
inputs and on real clips, top-1 agreement, accuracy and log-loss; and the full graph
(``NAME.onnx``, for other runtimes) against the split graphs the SDK runs."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from ..formats.artifact import dummy_inputs, part_paths
from ..labels import SCENES
from ..metrics import scene_metrics
from ..runtime.prediction import softmax


def _diff(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    return {"max_abs_diff": float(np.abs(a - b).max()), "mean_abs_diff": float(np.abs(a - b).mean()),
            "top1_agreement": float((a.argmax(1) == b.argmax(1)).mean())}


def _full_graph_logits(onnx_path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(["scene_logits"], feeds)[0]


def random_input_report(exported, reference, windows: int = 8) -> dict[str, float]:
    """Scene logits of two runners on the same fresh random windows (both modalities)."""
    random = dummy_inputs(exported.info, windows, np.random.default_rng())
    ours = exported.run_windows(random["log_mel"], random["frames"])["scene_logits"]
    ref = reference.run_windows(random["log_mel"], random["frames"])["scene_logits"]
    return _diff(ours, ref)


def parity_report(onnx_path: str | os.PathLike, reference, dataset: str | None = None) -> dict:
    """Compare an exported model with the PyTorch FP32 model it came from (a checkpoint path, or a
    :class:`~avsc_edge.runtime.runner.ModelRunner` over it); JSON-ready. Given a path, one model is
    in memory at a time: the reference's logits first, then the split graphs', then the full
    graph's (when there is one: not after ``--parts-only``)."""
    import onnxruntime as ort

    from ..classifier import Classifier
    from .onnx_export import read_onnx_info

    full_graph = Path(onnx_path).is_file()   # not exported --parts-only
    info = read_onnx_info(onnx_path if full_graph else part_paths(onnx_path)["heads"])
    feeds = {"random_inputs": dummy_inputs(info, 8, np.random.default_rng())}
    if dataset is not None:
        from .calibration import split_inputs

        feeds["validation"], labels = split_inputs(dataset, info, "evaluate")

    def scene_logits(runner) -> dict[str, np.ndarray]:
        return {k: runner.run_windows(f["log_mel"], f["frames"])["scene_logits"] for k, f in feeds.items()}

    ref = scene_logits(Classifier(reference).runner if isinstance(reference, (str, os.PathLike)) else reference)
    exported = Classifier(onnx_path).runner
    precision, ours = exported.backend.engine.precision, scene_logits(exported)
    del exported
    report = {"precision": precision, "onnxruntime": ort.__version__,
              "random_inputs": _diff(ours["random_inputs"], ref["random_inputs"])}
    if full_graph:
        full = _full_graph_logits(Path(onnx_path), feeds["random_inputs"])
        report["full_graph_vs_parts"] = _diff(full, ours["random_inputs"])
    if dataset is not None:
        report["validation"] = _diff(ours["validation"], ref["validation"])
        for name, logits in (("exported", ours["validation"]), ("pytorch_fp32", ref["validation"])):
            m = scene_metrics(softmax(logits.astype(np.float64)), labels, SCENES)
            report["validation"][f"{name}_accuracy"] = m.accuracy
            report["validation"][f"{name}_log_loss"] = m.log_loss
        report["validation"]["clips"] = int(len(labels))
    return report


def store_report(onnx_path: str | os.PathLike, report: dict) -> None:
    """Write the report into a graph's metadata (``metrics.parity``): the full graph's, or the
    ``heads`` graph's when the full graph is not kept."""
    import onnx

    from .onnx_export import read_onnx_info, stamp_onnx

    info = read_onnx_info(onnx_path)
    info = dataclasses.replace(info, metrics={**info.metrics, "parity": report})
    stamp_onnx(onnx.load(str(onnx_path)), info, Path(onnx_path))   # the graph was checked when written
