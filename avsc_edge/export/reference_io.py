"""Reference inputs and ONNX Runtime outputs saved in Polygraphy's formats, so that a TensorRT engine
built elsewhere (a Jetson, a GPU server) can be checked against the CPU result later::

    polygraphy run model.int8.onnx --trt --strongly-typed \\
        --load-inputs ref_inputs.json --load-outputs ref_outputs.json --atol 0.05 --rtol 0.05

(``polygraphy`` is pure Python: ``pip install polygraphy``.)
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import require


def save_reference_io(onnx_path: str | os.PathLike, inputs: dict[str, np.ndarray], out_dir: str | os.PathLike,
                      batch: int = 1) -> tuple[Path, Path]:
    """Run ``onnx_path`` in ONNX Runtime on ``inputs`` (split into batches of ``batch``); write
    ``ref_inputs.json`` (a list of feed dicts) and ``ref_outputs.json`` (Polygraphy RunResults)."""
    require("polygraphy", "train", "saving Polygraphy reference inputs/outputs")
    import onnxruntime as ort
    from polygraphy.comparator import IterationResult, RunResults
    from polygraphy.json import save_json

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    n = len(next(iter(inputs.values())))
    feeds = [{k: np.ascontiguousarray(v[s:s + batch]) for k, v in inputs.items()} for s in range(0, n, batch)]
    iterations = [IterationResult(outputs=dict(zip(names, session.run(names, f))), runner_name="onnxrt-runner")
                  for f in feeds]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = RunResults()
    results.append(("onnxrt-runner", iterations))
    save_json(feeds, str(out_dir / "ref_inputs.json"))
    results.save(str(out_dir / "ref_outputs.json"))
    return out_dir / "ref_inputs.json", out_dir / "ref_outputs.json"
