"""End-to-end `predict` on a 10-s clip, per stage, for the PyTorch reference and ONNX Runtime FP32
and INT8 (medians, same run); and frame sampling by seeking vs decoding every frame.

    python benchmarks/bench_predict.py --checkpoint out/ablation-runs/av_ceoa_sf-0/model.safetensors \
        --fp32 out/bench/model.onnx --int8 out/bench/model.int8.onnx --data out/ablation-data
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from avsc_edge.bench.pipeline import STAGES, time_frame_sampling, time_predict, write_long_video
from avsc_edge.data.synth import SynthConfig, generate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--fp32", required=True)
    ap.add_argument("--int8", required=True)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ds = generate(Path(tmp) / "d", SynthConfig(clips=20, seed=123, duration=10.0))
        clip = sorted((ds / "video").glob("*.mp4"))[1]
        rows = [time_predict(a, clip, args.repeats, threads=args.threads) for a in (args.checkpoint, args.fp32, args.int8)]
        print(f"predict({clip.name}): 10-s H.264+AAC clip, medians of {args.repeats} after warm-up, ms\n")
        print("| backend | precision | " + " | ".join(s.removesuffix("_ms") for s in STAGES) + " | speed-up (total) |")
        print("|---|---|" + "---|" * (len(STAGES) + 1))
        base = rows[0].stages["total_ms"]
        for r in rows:
            cells = " | ".join(f"{r.stages[s]:.1f}" for s in STAGES)
            print(f"| {r.backend} | {r.precision} | {cells} | {base / r.stages['total_ms']:.2f}x |")
        long = write_long_video(Path(tmp) / "long.mp4")
        times = np.concatenate([w * 5.0 + (np.arange(4) + 0.5) * 1.25 for w in range(12)])
        t = time_frame_sampling(long, times)
        print(f"\nframe sampling, 60-s 320x240 30-fps H.264 (keyframe every 2 s), {len(times)} frames:"
              f" seek {t['seek'] * 1e3:.0f} ms, decode-all {t['decode'] * 1e3:.0f} ms,"
              f" ratio {t['decode'] / t['seek']:.2f}x")
        sparse = np.arange(0.5, 60, 10.0)
        t = time_frame_sampling(long, sparse)
        print(f"sparse ({len(sparse)} frames, one per 10 s): seek {t['seek'] * 1e3:.0f} ms, "
              f"decode-all {t['decode'] * 1e3:.0f} ms, ratio {t['decode'] / t['seek']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
