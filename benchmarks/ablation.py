"""The paper's first two claims on the synthetic benchmark: AV+CEOA+SF > AV (no CEOA) >= max(A, V),
and CEOA's event-object alignment measured on the generator's ground truth, with and without CEOA.

    python benchmarks/ablation.py --clips 500 --seed 0 --duration 5 --epochs 30 --seeds 0 1 2

Prints a Markdown table (mean +- std over training seeds) and writes --json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from avsc_edge.config import ClipConfig, FeatureConfig, ModelConfig, TrainConfig
from avsc_edge.data import TauDataset
from avsc_edge.data.featureset import load_featureset
from avsc_edge.data.synth import SynthConfig, generate
from avsc_edge.evaluation import alignment_accuracy, evaluate_model
from avsc_edge.train import train

VARIANTS = ("audio", "visual", "av", "av_ceoa", "av_ceoa_sf")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="out/ablation-data", help="dataset folder (generated if missing)")
    ap.add_argument("--clips", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0, help="dataset seed")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    ap.add_argument("--json", default="out/ablation.json")
    args = ap.parse_args(argv)

    data = Path(args.data)
    if not (data / "meta.csv").exists():
        t0 = time.perf_counter()
        generate(data, SynthConfig(clips=args.clips, seed=args.seed, duration=args.duration))
        print(f"generated {args.clips} clips in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    ds = TauDataset(data)
    features, clip = FeatureConfig(), ClipConfig(seconds=args.duration)
    fs = (load_featureset(ds, "train", features, clip), load_featureset(ds, "evaluate", features, clip))
    truth = ds.ground_truth()
    rows = []
    for variant in VARIANTS:
        for seed in args.seeds:
            t0 = time.perf_counter()
            result = train(ds, Path("out/ablation-runs") / f"{variant}-{seed}", ModelConfig(variant=variant),
                           TrainConfig(epochs=args.epochs, seed=seed), features, clip, data=fs, progress=False)
            from avsc_edge.model import AVSCModel
            from avsc_edge.checkpoint import load_checkpoint

            weights, _ = load_checkpoint(result.checkpoint)
            model = AVSCModel(ModelConfig(variant=variant), features.n_mels)
            model.load_state_dict(weights)
            m, out = evaluate_model(model, fs[1])
            row = {"variant": variant, "seed": seed, "accuracy": m.accuracy, "log_loss": m.log_loss,
                   "train_s": time.perf_counter() - t0}
            if "event_emb" in out and "object_emb" in out:
                row["alignment"] = alignment_accuracy(out["event_emb"], out["object_emb"], fs[1].stems, truth)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(f"\nSynthetic benchmark: {args.clips} clips x {args.duration:g} s, dataset seed {args.seed}, "
          f"{len(fs[0])} train / {len(fs[1])} evaluate clips, {args.epochs} epochs, training seeds {args.seeds}\n")
    print("| variant | accuracy | log-loss | event->object alignment (chance) |")
    print("|---|---|---|---|")
    for variant in VARIANTS:
        mine = [r for r in rows if r["variant"] == variant]
        acc = np.array([r["accuracy"] for r in mine])
        ll = np.array([r["log_loss"] for r in mine])
        al = [r["alignment"] for r in mine if "alignment" in r]
        align = (f"{np.mean([a['accuracy'] for a in al]):.3f} ({np.mean([a['chance'] for a in al]):.3f})"
                 if al else "-")
        print(f"| {variant} | {acc.mean():.3f} ± {acc.std():.3f} | {ll.mean():.3f} ± {ll.std():.3f} | {align} |")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
