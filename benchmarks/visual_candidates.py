"""The genuine ImageNet weights that could be the edge preset's visual branch, measured side by side
in one run: each through its own reference runtime on the real photographs of tests/data/images
(top-1 class and ms per frame, medians after a warm-up), and the shipped conversion against its
reference (top-1 agreement, ms per frame through ONNX Runtime).

    python benchmarks/visual_candidates.py WEIGHTS_DIR [--repeats 30] [--json out.json]

WEIGHTS_DIR holds the published files (the same ones scripts/bundle_weights.py reads):
``mobilenet_v2_quantized_torchvision.torchscript.pt`` (torchvision's INT8 MobileNetV2, run by
``torch.jit`` with the qnnpack engine), ``mobilenet_v2_1.0_224_quant.tflite`` and
``mobilenet_v1_0.25_128_quant.tflite`` (Google's, run by the TFLite interpreter from ai-edge-litert).
Compute and parameters are the published figures (Howard et al. 2017, Sandler et al. 2018).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = {"torchvision INT8 MobileNetV2 1.0/224": (300, 3.4, 71.7),
             "Google INT8 MobileNetV2 1.0/224": (300, 3.4, 70.8),
             "Google INT8 MobileNetV1 0.25/128": (14, 0.47, 39.5)}   # M mult-adds, M parameters, ImageNet top-1 %


def photos() -> dict[str, np.ndarray]:
    import cv2

    return {p.name: cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
            for p in sorted((ROOT / "tests" / "data" / "images").glob("*.*")) if p.suffix in (".bmp", ".jpg")}


def timed(fn, x, repeats: int) -> float:
    fn(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def tflite_runner(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=2)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    scale, zero = out["quantization"]

    def run(rgb: np.ndarray) -> np.ndarray:
        it.set_tensor(inp["index"], rgb[None])
        it.invoke()
        return ((it.get_tensor(out["index"])[0].astype(np.float32) - zero) * scale)[1:]
    return run, int(inp["shape"][1])


def torchscript_runner(path: Path):
    import torch

    torch.backends.quantized.engine = "qnnpack"
    torch.set_num_threads(2)
    model = torch.jit.load(str(path)).eval()

    def run(rgb: np.ndarray) -> np.ndarray:
        from avsc_edge.preprocess.frames import normalize_frames

        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(normalize_frames(rgb[None], "imagenet"))), -1)[0].numpy()
    return run, 224


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from avsc_edge import media, vocab
    from avsc_edge.preprocess.frames import normalize_frames
    from avsc_edge.tagging.tagger import Tagger

    names, pics = vocab.load("imagenet"), photos()
    candidates = {"torchvision INT8 MobileNetV2 1.0/224": torchscript_runner(
                      args.weights / "mobilenet_v2_quantized_torchvision.torchscript.pt"),
                  "Google INT8 MobileNetV2 1.0/224": tflite_runner(args.weights / "mobilenet_v2_1.0_224_quant.tflite"),
                  "Google INT8 MobileNetV1 0.25/128": tflite_runner(args.weights / "mobilenet_v1_0.25_128_quant.tflite")}
    report = {}
    for name, (run, size) in candidates.items():
        frames = {k: media.resize_frames(v[None], size, "center_crop")[0] for k, v in pics.items()}
        top1 = {k: names[int(run(f).argmax())] for k, f in frames.items()}
        report[name] = {"top1": top1, "ms_per_frame": timed(run, next(iter(frames.values())), args.repeats),
                        "published": dict(zip(("mult_adds_M", "params_M", "imagenet_top1"), PUBLISHED[name]))}
    tagger = Tagger()
    v1 = report["Google INT8 MobileNetV1 0.25/128"]
    frames = {k: media.resize_frames(v[None], 128, "center_crop")[0] for k, v in pics.items()}
    ours = {k: names[int(tagger.frame_probabilities(normalize_frames(f[None], "inception"))[0].argmax())]
            for k, f in frames.items()}
    x = normalize_frames(next(iter(frames.values()))[None], "inception")
    report["shipped: MobileNetV1 0.25/128 (dequantised, ONNX Runtime FP32)"] = {
        "top1": ours, "agreement_with_reference": float(np.mean([ours[k] == v1["top1"][k] for k in ours])),
        "ms_per_frame": timed(tagger.frame_probabilities, x, args.repeats)}
    print("| candidate | M mult-adds | M params | ImageNet top-1 (published) | ms / frame (this CPU) | top-1 on the photos |")
    print("|---|---|---|---|---|---|")
    for name, r in report.items():
        p = r.get("published", {})
        print(f"| {name} | {p.get('mult_adds_M', '')} | {p.get('params_M', '')} | {p.get('imagenet_top1', '')} | "
              f"{r['ms_per_frame']:.2f} | " + "; ".join(f"{k.split('.')[0]}: {v.split(',')[0]}" for k, v in r["top1"].items())
              + " |")
    print(f"\nshipped conversion vs its reference: top-1 agreement "
          f"{report['shipped: MobileNetV1 0.25/128 (dequantised, ONNX Runtime FP32)']['agreement_with_reference']:.0%}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
