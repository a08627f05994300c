"""FP32 vs INT8 (QDQ) in ONNX Runtime on the synthetic benchmark: accuracy and log-loss on the
evaluate split, top-1 agreement, file size, and latency at batch 1 and 8 (medians, same run).
Also the file-size ratio of the `base` preset (random weights; size does not depend on training).

    python benchmarks/bench_export.py --checkpoint out/ablation-runs/av_ceoa_sf-0/model.safetensors \
        --data out/ablation-data --out out/bench
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from avsc_edge.bench.timing import median_time
from avsc_edge.export.pipeline import run_recipe
from avsc_edge.export.recipes import load_recipe
from avsc_edge.runtime.artifact import dummy_inputs


def base_preset_sizes(tmp: Path) -> tuple[int, int]:
    import torch

    from avsc_edge.checkpoint import save_checkpoint
    from avsc_edge.config import ClipConfig, FeatureConfig, ModelConfig
    from avsc_edge.export.onnx_export import export_onnx, read_onnx_info
    from avsc_edge.export.quantize import quantize_int8
    from avsc_edge.model import AVSCModel
    from avsc_edge.train import artifact_info

    cfg, clip = ModelConfig.preset("base"), ClipConfig(seconds=5.0, frame_size=128)
    torch.manual_seed(0)
    model = AVSCModel(cfg, FeatureConfig().n_mels).eval()
    ckpt = save_checkpoint(tmp / "base.safetensors", model.state_dict(), artifact_info(FeatureConfig(), clip, cfg))
    fp32 = export_onnx(ckpt, tmp / "base.onnx")
    calib = dummy_inputs(read_onnx_info(fp32), 8)
    int8 = quantize_int8(fp32, tmp / "base.int8.onnx", calib)
    return fp32.stat().st_size, int8.stat().st_size


def main() -> int:
    import onnxruntime as ort

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default="out/bench")
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {n: run_recipe(args.checkpoint, load_recipe(n), out / f, args.data)
               for n, f in (("cpu-fp32", "model.onnx"), ("cpu-int8", "model.int8.onnx"))}
    fp32, int8 = results["cpu-fp32"], results["cpu-int8"]
    v32, v8 = fp32.report["validation"], int8.report["validation"]
    print(f"evaluate split: {v8['clips']} clips")
    print("| precision | accuracy | log-loss | top-1 agreement with PyTorch | max abs logit diff | file (MB) |")
    print("|---|---|---|---|---|---|")
    for name, r, v in (("fp32", fp32, v32), ("int8", int8, v8)):
        print(f"| {name} | {v['exported_accuracy']:.3f} | {v['exported_log_loss']:.3f} | {v['top1_agreement']:.1%} | "
              f"{v['max_abs_diff']:.2e} | {r.size_bytes / 1e6:.2f} |")
    print(f"\nINT8 - FP32 accuracy: {100 * (v8['exported_accuracy'] - v32['exported_accuracy']):+.1f} points; "
          f"file size ratio {fp32.size_bytes / int8.size_bytes:.2f}x (tiny preset)")
    with tempfile.TemporaryDirectory() as tmp:
        b32, b8 = base_preset_sizes(Path(tmp))
    print(f"base preset: FP32 {b32 / 1e6:.1f} MB, INT8 {b8 / 1e6:.1f} MB, ratio {b32 / b8:.2f}x")
    print("\nONNX Runtime latency per call (ms, median of %d after warm-up):" % args.repeats)
    print("| batch | threads | fp32 | int8 | speed-up |")
    print("|---|---|---|---|---|")
    rows = []
    for batch in (1, 8):
        for threads in (1, 2):
            times = {}
            for name, r in (("fp32", fp32), ("int8", int8)):
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = threads
                sess = ort.InferenceSession(str(r.artifact), opts, providers=["CPUExecutionProvider"])
                from avsc_edge.export.onnx_export import read_onnx_info

                feeds = dummy_inputs(read_onnx_info(r.artifact), batch, np.random.default_rng())
                times[name] = median_time(lambda: sess.run(["scene_logits"], feeds), args.repeats, warmup=5)
            rows.append({"batch": batch, "threads": threads, **{k: v * 1e3 for k, v in times.items()}})
            print(f"| {batch} | {threads} | {times['fp32'] * 1e3:.2f} | {times['int8'] * 1e3:.2f} | "
                  f"{times['fp32'] / times['int8']:.2f}x |")
    (out / "bench_export.json").write_text(json.dumps({"fp32": v32, "int8": v8, "latency": rows,
                                                       "sizes": [fp32.size_bytes, int8.size_bytes, b32, b8]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
