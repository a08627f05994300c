"""How far a trained model's own tagging lets a linear head go: the dataset's ceilings
(``avsc_edge.data.ceilings``: a perfect tagger with a linear head) recomputed with the model's
presence probabilities in place of the generator's tags.

    python benchmarks/tag_bound.py --data C RUNS/av_ceoa_sf-0/model.safetensors [...] [--json out.json]

For each checkpoint of an audio-visual variant, a multinomial logistic regression learns the scene
on the train split and is scored on the evaluate split from four kinds of tags: the ground truth,
the model's (sigmoid of its presence logits), and the two mixes (true events with the model's
objects, the model's events with true objects); each from ``both`` (events and objects) and
``pairs`` (both, plus for each event-object source of the world the product of the two presences:
the pairing given for free). On the congruence world each cell also gives the right pair member
(``training.evaluation.congruence_accuracy``). The model's own scene head is the first line.

If the model's tags with the pairs given for free reach no further than the model itself, what
limits it is what it hears and sees, not how it fuses them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from avsc_edge.config import preset
from avsc_edge.data import TauDataset
from avsc_edge.data.ceilings import linear_head_scores
from avsc_edge.data.featureset import load_featureset
from avsc_edge.labels import EVENTS, OBJECTS, SCENES
from avsc_edge.model import from_checkpoint
from avsc_edge.runtime.prediction import sigmoid
from avsc_edge.training.evaluation import congruence_accuracy, predict_outputs

TAGGERS = ("truth", "model", "true events + model objects", "model events + true objects")


def features(events: np.ndarray, objects: np.ndarray, sources: list[tuple[int, int]], pairs: bool) -> np.ndarray:
    parts = [events, objects]
    if pairs:
        parts.append(np.stack([events[:, e] * objects[:, o] for e, o in sources], axis=1))
    return np.hstack(parts).astype(np.float64)


def scored(train: tuple, evaluate: tuple, labels: tuple, sources, pairs: bool, congruence: bool) -> dict:
    scores = linear_head_scores(features(*train, sources, pairs), labels[0], features(*evaluate, sources, pairs),
                                len(SCENES))
    return result(scores, labels[1], congruence)


def result(scores: np.ndarray, labels: np.ndarray, congruence: bool) -> dict:
    out = {"accuracy": float(np.mean(scores.argmax(1) == labels))}
    if congruence:
        out["member"] = congruence_accuracy(scores, labels)["member"]
    return out


def presence(model, fs) -> tuple[dict, tuple[np.ndarray, np.ndarray]]:
    """The model's outputs on a feature set and its (event, object) presence probabilities."""
    out = predict_outputs(model, fs.log_mel, fs.frames)
    return out, (sigmoid(out["event_logits"]), sigmoid(out["object_logits"]))


def bound(checkpoint: str, fs: tuple, sources, congruence: bool) -> dict:
    model, info = from_checkpoint(checkpoint)
    if not (info.model_config.uses_audio and info.model_config.uses_visual):
        raise SystemExit(f"{checkpoint}: an audio-visual variant is needed, not {info.model_config.variant!r}")
    (_, model_train), (out_eval, model_eval) = presence(model, fs[0]), presence(model, fs[1])
    truth_train, truth_eval = (fs[0].event_tags, fs[0].object_tags), (fs[1].event_tags, fs[1].object_tags)
    tags = {"truth": (truth_train, truth_eval), "model": (model_train, model_eval),
            "true events + model objects": ((truth_train[0], model_train[1]), (truth_eval[0], model_eval[1])),
            "model events + true objects": ((model_train[0], truth_train[1]), (model_eval[0], truth_eval[1]))}
    labels = (fs[0].labels, fs[1].labels)
    row = {"checkpoint": checkpoint, "variant": info.model_config.variant,
           "scene head": result(out_eval["scene_logits"], labels[1], congruence)}
    for name, (train, evaluate) in tags.items():
        row[name] = {inputs: scored(train, evaluate, labels, sources, inputs == "pairs", congruence)
                     for inputs in ("both", "pairs")}
    return row


def cell(r: dict) -> str:
    return f"{r['accuracy']:.3f}" + (f" / {r['member']:.3f}" if "member" in r else "")


def print_means(rows: list[dict]) -> None:
    """Per variant, mean +- std over its checkpoints (training seeds)."""
    print("\n| variant | runs | scene head | model's tags | + pairs given | true events + model objects, pairs given "
          "| model events + true objects, pairs given |\n|---|---|---|---|---|---|---|")
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        cells = [[r["scene head"] for r in mine], [r["model"]["both"] for r in mine], [r["model"]["pairs"] for r in mine],
                 [r["true events + model objects"]["pairs"] for r in mine],
                 [r["model events + true objects"]["pairs"] for r in mine]]
        print(f"| {variant} | {len(mine)} | " + " | ".join(mean_cell(c) for c in cells) + " |")


def mean_cell(results: list[dict]) -> str:
    return " / ".join(f"{np.mean([r[k] for r in results]):.3f} ± {np.std([r[k] for r in results]):.3f}"
                      for k in ("accuracy", "member") if k in results[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", help="model.safetensors of audio-visual runs (benchmarks/ablation.py --runs)")
    ap.add_argument("--data", required=True, help="the synthetic dataset the runs were trained on")
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    ds = TauDataset(args.data)
    truth = json.loads((Path(args.data) / "synth_ground_truth.json").read_text())
    congruence = bool(truth["config"].get("congruence"))
    sources = [(EVENTS.index(e), OBJECTS.index(o)) for e, o in truth["sources"]]
    features_cfg, clip, _ = preset("tiny", clip={"seconds": args.duration})
    fs = tuple(load_featureset(ds, split, features_cfg, clip, progress=False) for split in ("train", "evaluate"))
    rows = [bound(c, fs, sources, congruence) for c in args.checkpoints]
    what = "accuracy / right member" if congruence else "accuracy"
    print(f"| run | variant | scene head | tags | both | both + pairs given |  ({what}, evaluate split)\n"
          "|---|---|---|---|---|---|")
    for r in rows:
        for i, tagger in enumerate(TAGGERS):
            head = f"| {Path(r['checkpoint']).parent.name} | {r['variant']} | {cell(r['scene head'])}" if i == 0 else "| | |"
            print(f"{head} | {tagger} | {cell(r[tagger]['both'])} | {cell(r[tagger]['pairs'])} |")
    print_means(rows)
    if args.json:
        Path(args.json).write_text(json.dumps({"data": args.data, "congruence": congruence, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
