"""Does the keyframe frame policy cost accuracy? The demo's recipe (300 synthetic 4-s clips, tiny
preset, 30 epochs, seed 0) trained and evaluated once per policy, on the same data with the same
seed; each model is evaluated with the policy it was trained with (train/serve parity).

    python benchmarks/frame_policy_accuracy.py --out out/frame-policy [--clips 300 --epochs 30]

``--frames DATA [--preset edge]``: no training; for every clip of a TAU-layout folder, the frames the
keyframe policy gives (a keyframe within the tolerance, else the I- and P-frames decoded forward
from the keyframe before, B-frames skipped) against decoding every frame up to each grid time
(the ``exact`` policy), at the model's size: how many are bit-exact, the mean and max absolute
difference (0..255), and the time of each, medians per clip.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def compare_frames(data: str, preset_name: str) -> dict:
    import time

    import numpy as np

    from avsc_edge.config import preset
    from avsc_edge.data import TauDataset
    from avsc_edge.media.video import window_frame_times
    from avsc_edge.preprocess.windows import FileFrames, num_windows

    clip = preset(preset_name)[1]
    exact = preset(preset_name, clip={"frame_policy": "exact"})[1]
    rows = []
    for c in TauDataset(data).clips("evaluate") + TauDataset(data).clips("train"):
        out, ms = {}, {}
        for name, cfg in (("policy", clip), ("exact", exact)):
            t0 = time.perf_counter()
            frames = FileFrames(c.video, cfg)
            times = np.concatenate([window_frame_times(i * cfg.seconds, cfg.seconds, cfg.num_frames)
                                    for i in range(num_windows(frames.duration, cfg))])
            out[name] = frames.at(np.minimum(times, frames.duration - 1e-3)).astype(np.int16)
            frames.close()
            ms[name] = (time.perf_counter() - t0) * 1e3
        diff = np.abs(out["policy"] - out["exact"])
        rows.append({"clip": str(c.video), "frames": len(diff), "bit_exact": int((diff.reshape(len(diff), -1).max(1) == 0).sum()),
                     "mean_abs": float(diff.mean()), "max_abs": int(diff.max()), "policy_ms": ms["policy"],
                     "exact_ms": ms["exact"]})
    total = sum(r["frames"] for r in rows)
    summary = {"clips": len(rows), "frames": total, "bit_exact": sum(r["bit_exact"] for r in rows),
               "mean_abs": float(np.mean([r["mean_abs"] for r in rows])), "max_abs": max(r["max_abs"] for r in rows),
               "policy_ms_median": float(np.median([r["policy_ms"] for r in rows])),
               "exact_ms_median": float(np.median([r["exact_ms"] for r in rows]))}
    print(f"{data} ({preset_name}, {clip.frame_size} px, tolerance {clip.keyframe_tolerance} s): "
          f"{summary['bit_exact']}/{total} frames bit-exact, mean |diff| {summary['mean_abs']:.3f}, max {summary['max_abs']} "
          f"(0..255); per clip {summary['policy_ms_median']:.0f} ms vs every frame {summary['exact_ms_median']:.0f} ms "
          f"({summary['exact_ms_median'] / summary['policy_ms_median']:.2f}x)")
    return {"summary": summary, "clips": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", nargs="+", help="compare the frames of these TAU-layout folders instead of training")
    ap.add_argument("--preset", default="edge")
    ap.add_argument("--json")
    ap.add_argument("--out", default="out/frame-policy")
    ap.add_argument("--clips", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.frames:
        report = {d: compare_frames(d, args.preset) for d in args.frames}
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1))
        return 0
    from avsc_edge.config import TrainConfig, preset
    from avsc_edge.data.synth import SynthConfig, generate
    from avsc_edge.training.demo import DEMO_SECONDS
    from avsc_edge.training.evaluation import evaluate_artifact
    from avsc_edge.training.train import train

    out = Path(args.out)
    data = out / "data"
    if not (data / "meta.csv").is_file():
        generate(data, SynthConfig(clips=args.clips, seed=0, duration=DEMO_SECONDS))
    rows = {}
    for policy in ("exact", "keyframe"):
        features, clip, model = preset("tiny", clip={"seconds": DEMO_SECONDS, "frame_policy": policy})
        result = train(data, out / policy, model, TrainConfig(epochs=args.epochs, batch_size=32, seed=args.seed),
                       features, clip, progress=False)
        m = evaluate_artifact(result.checkpoint, data, "evaluate", progress=False)
        rows[policy] = {"accuracy": m.accuracy, "log_loss": m.log_loss, "clips": m.count}
        print(f"{policy:9s} accuracy {m.accuracy:.3f}  log-loss {m.log_loss:.3f}  ({m.count} clips)", flush=True)
    (out / "frame_policy.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
