"""Presets from scratch on one synthetic benchmark: the same data, seed and epochs for each, the
evaluate split's accuracy (PyTorch) and the INT8 export's top-1 agreement with PyTorch over the
same clips through the public Classifier.

    python benchmarks/preset_accuracy.py --data ~/.cache/avsc-edge/demo/data --presets edge base \
        --epochs 20 --window 4 --json results.json

Trainings use the CLI's defaults (``avsc-edge train --preset P --window W --epochs E``); the
from-scratch tiny, edge and base models are not their pretrained selves: on synthetic data they
say what each architecture learns at equal effort, not what TAU accuracy it reaches.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ablation import int8_export, predict_split  # benchmarks/ablation.py: the same export and predictions

from avsc_edge.config import TrainConfig, preset
from avsc_edge.data import TauDataset
from avsc_edge.training.train import train


def agreement(checkpoint: Path, int8: Path, data: Path) -> dict:
    """Top-1 agreement of the INT8 export with PyTorch over the evaluate clips (``predict`` each)."""
    ds = TauDataset(data)
    ref, q = predict_split(checkpoint, ds), predict_split(int8, ds)
    same = [ref[k].label == q[k].label for k in ref]
    return {"top1_agreement": sum(same) / len(same), "clips": len(same)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--presets", nargs="+", default=["tiny", "edge", "base"])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=float, default=4.0)
    ap.add_argument("--runs", default="runs/preset_accuracy")
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = []
    for name in args.presets:
        features, clip, model = preset(name, clip={"seconds": args.window})
        out = Path(args.runs) / name
        t0 = time.perf_counter()
        result = train(args.data, out, model, TrainConfig(epochs=args.epochs, seed=args.seed), features, clip,
                       progress=False)
        minutes = (time.perf_counter() - t0) / 60
        int8 = int8_export(result.checkpoint, Path(args.data))
        row = {"preset": name, **result.metrics["evaluate"],
               "train_minutes": round(minutes, 1), "int8": agreement(result.checkpoint, int8, Path(args.data)),
               "int8_bytes": sum(p.stat().st_size for p in int8.parent.glob("model.int8*.onnx"))}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("| preset | accuracy | log-loss | INT8 top-1 agreement | train (min) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['preset']} | {r['accuracy']:.3f} | {r['log_loss']:.3f} | {r['int8']['top1_agreement']:.3f} "
              f"({r['int8']['clips']} clips) | {r['train_minutes']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
