"""INT8 with the stem convolutions FP32 (the default) or quantised too, in one run: ONNX Runtime
latency of the two CNN graphs of the `base` preset (one 10-s log-mel, 8 frames of 224 px) against
PyTorch FP32 on the same inputs; and, with --demo, top-1 agreement and accuracy of the demo model
exported both ways (docs/decisions.md, "Stem convolutions stay FP32").

    python benchmarks/bench_int8_stems.py --out out/stems [--demo ~/.cache/avsc-edge/demo] [--repeats 7]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path



def export_both(checkpoint: Path, data: Path, out: Path) -> dict[str, Path]:
    from avsc_edge.export.pipeline import run_recipe
    from avsc_edge.export.recipes import ExportRecipe, load_recipe

    base = load_recipe("cpu-int8")
    paths = {}
    for name, fp32_stems in (("stems FP32 (default)", True), ("all convolutions INT8", False)):
        target = out / ("stems-fp32" if fp32_stems else "all-int8") / "model.int8.onnx"
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            recipe = ExportRecipe.from_dict({**base.to_dict(), "calibration": {**base.calibration,
                                                                               "input_convs_fp32": fp32_stems}})
            run_recipe(checkpoint, recipe, target, str(data))
        paths[name] = target
    return paths


def cnn_latency(models: dict[str, Path], repeats: int) -> dict[str, dict[str, float]]:
    from avsc_edge import Classifier
    from avsc_edge.formats.artifact import dummy_inputs

    clfs = {name: Classifier(p) for name, p in models.items()}
    inputs = dummy_inputs(next(iter(clfs.values())).info, batch=1)
    mel, frames = inputs["log_mel"], inputs["frames"][0]     # one window: its log-mel, its frames
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in clfs}
    for rep in range(repeats + 2):
        for name, clf in clfs.items():                      # interleaved: drifts hit every model alike
            t0 = time.perf_counter()
            clf.backend.audio_tokens(mel)
            t1 = time.perf_counter()
            clf.backend.encode_frames(frames)
            t2 = time.perf_counter()
            if rep >= 2:                                     # two warm-up rounds
                times[name].append((t1 - t0, t2 - t1))
    return {name: {"audio_tokens_ms": statistics.median(a for a, _ in v) * 1e3,
                   "frames_ms": statistics.median(f for _, f in v) * 1e3} for name, v in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out/stems")
    ap.add_argument("--demo", help="a demo folder (model.safetensors + data/): agreement both ways")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json")
    args = ap.parse_args()
    from avsc_edge.bench.defaults import tau_dataset, untrained_checkpoint

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = tau_dataset(out, print)
    ckpt = out / "base" / "model.safetensors"
    if not ckpt.is_file():
        untrained_checkpoint(ckpt, "base")
    models = {"PyTorch FP32": ckpt, **export_both(ckpt, data, out / "base")}
    lat = cnn_latency(models, args.repeats)
    ref = sum(lat["PyTorch FP32"].values())
    print(f"base preset (untrained weights), the CNN graphs on one window, median of {args.repeats} runs (ms)")
    print("| model | audio_tokens | frames | sum | vs PyTorch FP32 |\n|---|---|---|---|---|")
    for name, v in lat.items():
        total = sum(v.values())
        print(f"| {name} | {v['audio_tokens_ms']:.1f} | {v['frames_ms']:.1f} | {total:.1f} | {ref / total:.2f}x |")
    result = {"latency": lat}
    if args.demo:
        demo = Path(args.demo)
        exported = export_both(demo / "model.safetensors", demo / "data", out / "demo")
        result["demo"] = {}
        print("\ndemo model, evaluate split\n| INT8 export | top-1 agreement with PyTorch | accuracy | PyTorch FP32 accuracy "
              "| max logit diff |\n|---|---|---|---|---|")
        for name, path in exported.items():
            from avsc_edge.export.parity import parity_report

            v = parity_report(path, demo / "model.safetensors", str(demo / "data"))["validation"]
            result["demo"][name] = v
            print(f"| {name} | {v['top1_agreement']:.1%} | {v['exported_accuracy']:.3f} | "
                  f"{v['pytorch_fp32_accuracy']:.3f} | {v['max_abs_diff']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
