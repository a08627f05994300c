"""Which layers of a MobileNet-style model to quantise: the cpu-int8 recipe as it is, with the
depthwise convolutions kept FP32, and with the activations (hardswish, the squeeze-excitation's
sigmoid and multiply) quantised too; each against the FP32 export in the same run.

    python benchmarks/int8_variants.py CHECKPOINT --calib DATA [--repeats 15]

Per variant: model inference per window (median ms over repeats, one warm-up; random inputs),
top-1 agreement and max |score difference| with PyTorch over the calib set's evaluate clips, size.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from avsc_edge import Classifier
from avsc_edge.bench.e2e import model_alone_ms
from avsc_edge.export.pipeline import export_onnx_model
from avsc_edge.export.recipes import load_recipe

ACTIVATION_OPS = ["HardSwish", "HardSigmoid", "Sigmoid", "Mul"]


def recipe(tmp: Path, name: str, **calibration) -> str:
    base = load_recipe("cpu-int8").to_dict()
    base["calibration"] = {**base["calibration"], **calibration}
    base["name"] = name
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(base))
    return str(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--calib", required=True)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--out", default="runs/int8_variants")
    args = ap.parse_args()
    from avsc_edge.data import TauDataset

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ops = load_recipe("cpu-int8").calibration["ops"]
    variants = {"fp32": "cpu-fp32",
                "cpu-int8": "cpu-int8",
                "depthwise-fp32": recipe(out, "depthwise-fp32", depthwise_fp32=True),
                "activations-int8": recipe(out, "activations-int8", ops=[*ops, *ACTIVATION_OPS])}
    reference = Classifier(args.checkpoint)
    clips = [c.video for c in TauDataset(args.calib).clips("evaluate")]
    ref = [reference.predict(c) for c in clips]
    print("| variant | inference ms | top-1 agreement | max score diff | MB |\n|---|---|---|---|---|")
    for name, rec in variants.items():
        target = out / name / "model.onnx"
        target.parent.mkdir(exist_ok=True)
        result = export_onnx_model(args.checkpoint, load_recipe(rec), target, args.calib)
        clf = Classifier(result.artifact)
        got = [clf.predict(c) for c in clips]
        agree = sum(a.label == b.label for a, b in zip(ref, got)) / len(ref)
        diff = max(abs(a.scores[k] - b.scores[k]) for a, b in zip(ref, got) for k in a.scores)
        mb = sum(p.stat().st_size for p in result.files) / 1e6
        print(f"| {name} | {model_alone_ms(clf, args.repeats):.1f} | {agree:.3f} ({len(ref)}) | "
              f"{diff:.4f} | {mb:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
