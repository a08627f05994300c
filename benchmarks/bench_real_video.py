"""Real video at real speed (issue 10): on a 1280x720 30-fps 10-s H.264 + AAC clip (keyframe every
2 s, B-frames, ~5 Mbit/s; `synth --profile tau`), 2-core CPU, all in one run:

1. decode + frames for one window: the SDK's input path against the previous one (decode every
   frame up to the last wanted one, convert the chosen ones at full resolution, resize with
   OpenCV, load the whole audio track), both at the base preset's front ends;
2. the frame policies (keyframe vs exact);
3. end to end `predict` of the base preset: PyTorch FP32, ONNX Runtime FP32 and INT8 through the
   new path, and PyTorch FP32 through the previous path; real-time factors.

    python benchmarks/bench_real_video.py --out out/real-video [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np

from avsc_edge.bench.timing import median_time


def previous_input_path(path: Path, features, clip) -> tuple[np.ndarray, np.ndarray]:
    """The input path before this change, as a reference: every frame decoded forward until the
    last wanted time, the nearest ones converted to full-resolution RGB, resized with OpenCV; the
    whole audio track decoded, resampled and cut."""
    import av
    import cv2

    from avsc_edge.preprocess.audio_features import fit_length, log_mel
    from avsc_edge.preprocess.frames import normalize_frames
    from avsc_edge.media import load_audio, window_frame_times

    want = window_frame_times(0.0, clip.seconds, clip.num_frames)
    best, chosen = np.full(len(want), np.inf), [None] * len(want)
    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.video[0]):
            t = float(frame.time)
            d = np.abs(want - t)
            closer = d < best
            for i in np.flatnonzero(closer):
                best[i], chosen[i] = d[i], frame
            if t > want[-1] and not closer.any():
                break
        rgb = [f.to_ndarray(format="rgb24") for f in chosen]
    frames = normalize_frames(np.stack([cv2.resize(f, (clip.frame_size,) * 2, interpolation=cv2.INTER_AREA) for f in rgb]))
    wave = load_audio(path, features.sr)[0]
    mel = log_mel(fit_length(wave, int(clip.seconds * features.sr)), features)[None]
    return mel, frames


def median_ms(fn, repeats: int) -> float:
    return median_time(fn, repeats, warmup=1) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out/real-video")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    import torch

    from avsc_edge import Classifier
    from avsc_edge.bench.defaults import exports, tau_dataset, untrained_checkpoint
    from avsc_edge.bench.pipeline import time_first_window, time_policies
    from avsc_edge.config import preset
    from avsc_edge.data import TauDataset
    from avsc_edge.media import window_frame_times

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = print
    data = tau_dataset(out, log)
    clip_path = TauDataset(data).clips("evaluate")[0].video
    features, clip, _ = preset("base")
    print(f"clip: {clip_path} (1280x720 30 fps H.264 + AAC, 10 s); base front ends: {features.sr} Hz, "
          f"n_fft {features.n_fft}, hop {features.hop_length}, {clip.num_frames} frames of {clip.frame_size} px\n")
    result = {}

    old = median_ms(lambda: previous_input_path(clip_path, features, clip), args.repeats)
    new = time_first_window(clip_path, features, clip, args.repeats) * 1e3
    result["decode_frames_ms"] = {"previous": old, "sdk": new, "speedup": old / new}
    print("1. decode + frames + features for one window (median ms)")
    print("| path | ms | speed-up |\n|---|---|---|")
    print(f"| previous (decode every frame, full-res RGB, OpenCV resize, whole audio) | {old:.1f} | 1.00x |")
    print(f"| SDK (keyframe policy, libswscale to 224 px, streamed audio, frames on a 2nd thread) | {new:.1f} | "
          f"{old / new:.2f}x |\n")

    times = window_frame_times(0.0, clip.seconds, clip.num_frames)
    pol = time_policies(clip_path, times, clip.frame_size, args.repeats)
    result["policies_ms"] = {k: v * 1e3 for k, v in pol.items()}
    print("2. frame policies, 8 frames of one 10-s window (median ms): " +
          ", ".join(f"{k} {v * 1e3:.1f}" for k, v in pol.items()) + f"; keyframe is {pol['exact'] / pol['keyframe']:.1f}x faster\n")

    ckpt = out / "base" / "model.safetensors"
    if not ckpt.is_file():
        untrained_checkpoint(ckpt)
    fp32, int8 = exports(ckpt, data, log)
    torch.set_num_threads(2)
    rows = {}
    for name, artifact in (("pytorch fp32", ckpt), ("onnxruntime fp32", fp32), ("onnxruntime int8", int8)):
        clf = Classifier(artifact)
        clf.predict(clip_path)
        runs = [clf.predict(clip_path) for _ in range(args.repeats)]
        rows[name] = {k: statistics.median(r.timings[k] for r in runs) for k in runs[0].timings}
    model = Classifier(ckpt).backend.model

    def previous_pytorch():
        mel, frames = previous_input_path(clip_path, features, clip)
        with torch.inference_mode():
            model(torch.from_numpy(mel[None]), torch.from_numpy(frames[None]))

    rows["pytorch fp32, previous input path"] = {"total_ms": median_ms(previous_pytorch, args.repeats)}
    result["predict_ms"] = rows
    ref = rows["pytorch fp32, previous input path"]["total_ms"]
    torch_new = rows["pytorch fp32"]["total_ms"]
    print("3. predict, base preset (untrained weights: latency only), median ms")
    print("| path | decode | frames | log-mel | inference | total | RTF | vs PyTorch FP32 (new path) | vs previous path |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        cells = " | ".join(f"{r[k]:.1f}" if k in r else "-" for k in ("decode_ms", "frames_ms", "features_ms", "inference_ms"))
        print(f"| {name} | {cells} | {r['total_ms']:.1f} | {r['total_ms'] / 1e3 / clip.seconds:.4f} | "
              f"{torch_new / r['total_ms']:.2f}x | {ref / r['total_ms']:.2f}x |")
    inf = rows["pytorch fp32"]["inference_ms"] / rows["onnxruntime int8"]["inference_ms"]
    print(f"\nINT8 inference alone vs PyTorch FP32: {inf:.2f}x")
    result["int8_inference_speedup"] = inf
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
