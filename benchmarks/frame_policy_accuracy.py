"""Does the keyframe frame policy cost accuracy? The demo's recipe (300 synthetic 4-s clips, tiny
preset, 30 epochs, seed 0) trained and evaluated once per policy, on the same data with the same
seed; each model is evaluated with the policy it was trained with (train/serve parity).

    python benchmarks/frame_policy_accuracy.py --out out/frame-policy [--clips 300 --epochs 30]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out/frame-policy")
    ap.add_argument("--clips", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
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
