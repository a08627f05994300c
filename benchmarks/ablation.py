"""The paper's claims on a synthetic benchmark: AV >= max(A, V), AV+CEOA+SF > AV, and CEOA's
event-object alignment, measured by metrics slot identity alone cannot satisfy (a retrieval next to
its class-mean baseline, and the partner-visible AUC), with and without CEOA; and what a user reads:
attention -> partner, through the public ``Prediction.attention`` of each evaluate clip (is the
object a present event attends to most one of its partners? next to chance, a random present
object). ``--int8`` adds the same through an INT8 export of each audio-visual model, and how
often the export names the FP32 model's scene (top-1 agreement on the evaluate split).

    python benchmarks/ablation.py --clips 300 --duration 4 --seeds 0 1 2 3 4     # the demo's data
    python benchmarks/ablation.py --congruence --clips 500 --seed 3 --duration 4 --seeds 0 1 2 3 4
    python benchmarks/ablation.py --data ~/.cache/avsc-edge/demo/data --variants av av_ceoa_sf --int8

60 epochs by default: at 20 the tiny model's visual branch has not fitted its training clips
(0.85 of them right, one seed; 1.00 at 60), and the audio-visual rows gain 2.6-5.1 points over 5
seeds at 60 (benchmarks/README.md R4.4).

The table ends with each CEOA variant's accuracy minus ``av``'s, paired by training seed, and the
dataset's ceilings (``avsc_edge.data.ceilings``: a perfect tagger with a linear head).

``--congruence``: the congruence benchmark (four scene pairs that differ only in which event goes
with which object); its rows add whether the predicted scene is in the true scene's pair and, if
so, the right member of it (0.5: the congruence unused). Prints a Markdown table (mean +- std over
training seeds) and writes --json; ``--rescore`` evaluates the models already in --runs.
Runs split over several processes (e.g. one per core, ``taskset -c N`` and ``OMP_NUM_THREADS=1``)
are joined into one table with ``--merge a.json b.json ... --json all.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from avsc_edge.config import ModelConfig, TrainConfig, preset
from avsc_edge.data import TauDataset
from avsc_edge.data.ceilings import dataset_ceilings, describe
from avsc_edge.data.featureset import load_featureset
from avsc_edge.data.synth import SynthConfig, generate
from avsc_edge.training.alignment import alignment_metrics, attention_partner
from avsc_edge.training.evaluation import congruence_accuracy, evaluate_model
from avsc_edge.model import from_checkpoint
from avsc_edge.training.train import train

VARIANTS = ("audio", "visual", "av", "av_ceoa", "av_ceoa_sf")
PER_RUN_ARGS = ("runs", "json", "rescore", "merge")   # what a merged table's runs may differ in, with seeds, variants


def summary(rows: list[dict], variant: str) -> str:
    mine = [r for r in rows if r["variant"] == variant]
    cell = lambda v: f"{np.mean(v):.3f} ± {np.std(v):.3f}"  # noqa: E731
    cols = [cell([r["accuracy"] for r in mine]), cell([r["log_loss"] for r in mine])]
    ap = [r["attention"] for r in mine if "attention" in r]
    cols += [f"{cell([a['attention_partner'] for a in ap])} ({np.mean([a['chance'] for a in ap]):.3f})" if ap else "-"]
    q8 = [r["attention_int8"] for r in mine if "attention_int8" in r]
    agree = [r["int8"]["agreement"] for r in mine if "int8" in r]
    cols += [(cell([a["attention_partner"] for a in q8]) + (f"; top-1 agreement {cell(agree)}" if agree else ""))
             if q8 else "-"]
    al = [r["alignment"] for r in mine if "alignment" in r]
    if al:
        cols += [f"{cell([a['retrieval'] for a in al])} ({np.mean([a['retrieval_class_mean'] for a in al]):.3f} / "
                 f"{np.mean([a['retrieval_chance'] for a in al]):.3f})", cell([a["partner_auc"] for a in al])]
    else:
        cols += ["-", "-"]
    cg = [r["congruence"] for r in mine if "congruence" in r]
    cols += [f"{cell([c['pair'] for c in cg])} / {cell([c['member'] for c in cg])}" if cg else "-"]
    return f"| {variant} | {len(mine)} | " + " | ".join(cols) + " |"


def print_table(rows: list[dict], variants: list[str]) -> None:
    print("| variant | seeds | accuracy | log-loss | attention -> partner (chance) | INT8 attention -> partner; agreement "
          "| retrieval (class-mean baseline / chance) | partner-visible AUC | pair found / right member |")
    print("|---|---|---|---|---|---|---|---|---|")
    for variant in variants:
        if any(r["variant"] == variant for r in rows):
            print(summary(rows, variant))


def paired_differences(rows: list[dict], base: str = "av") -> list[str]:
    """Accuracy of each CEOA variant minus ``base``'s, paired by training seed: the mean, spread and
    how many seeds it was at least as accurate in."""
    acc = {(r["variant"], r["seed"]): r["accuracy"] for r in rows}
    lines = []
    for variant in ("av_ceoa", "av_ceoa_sf"):
        seeds = sorted(s for v, s in acc if v == variant and (base, s) in acc)
        if seeds:
            d = np.array([acc[variant, s] - acc[base, s] for s in seeds])
            lines.append(f"{variant} - {base}, paired by seed ({len(seeds)}): {d.mean():+.3f} ± {d.std():.3f}; "
                         f"at least as accurate in {int((d >= 0).sum())} of {len(seeds)}")
    return lines


def print_report(rows: list[dict], variants: list[str], ceilings: dict | None) -> None:
    print_table(rows, variants)
    print()
    for line in paired_differences(rows):
        print(line)
    if ceilings:
        print(describe(ceilings))


def predict_split(model: Path, ds: TauDataset, split: str = "evaluate") -> dict:
    """stem -> Prediction of every clip of ``split``, through the public Classifier."""
    from avsc_edge import Classifier

    clf = Classifier(model)
    return {c.video.stem: clf.predict(c.video) for c in ds.clips(split)}


def int8_agreement(fp32: dict, int8: dict, ds: TauDataset, split: str = "evaluate") -> dict:
    """How often the INT8 export names the FP32 model's scene, and its own accuracy."""
    truth = {c.video.stem: c.label for c in ds.clips(split)}
    return {"agreement": float(np.mean([int8[s].label == fp32[s].label for s in fp32])),
            "accuracy": float(np.mean([int8[s].label == truth[s] for s in int8]))}


def int8_export(checkpoint: Path, data: Path) -> Path:
    from avsc_edge.export.pipeline import run_recipe
    from avsc_edge.export.recipes import load_recipe

    out = checkpoint.with_name("model.int8.onnx")
    run_recipe(checkpoint, load_recipe("cpu-int8"), out, str(data))
    return out


def merge(paths: list[str], out: str) -> int:
    """One table from the rows of several runs of this script (same dataset and settings)."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    settings = [{k: v for k, v in r["args"].items() if k not in PER_RUN_ARGS + ("seeds", "variants")}
                for r in runs]
    if any(s != settings[0] for s in settings):
        raise SystemExit(f"--merge: these runs used other settings: {settings}")
    rows = [row for r in runs for row in r["rows"]]
    keys = [(r["variant"], r["seed"]) for r in rows]
    if len(set(keys)) != len(keys):
        raise SystemExit(f"--merge: a (variant, seed) appears twice: {sorted(k for k in set(keys) if keys.count(k) > 1)}")
    a = runs[0]["args"]
    seeds = sorted({r["seed"] for r in rows})
    clips, seed = a["clips"], a["seed"]
    if Path(a["data"]).is_dir():    # what the dataset really is, wherever it was generated
        ds = TauDataset(a["data"])
        clips = sum(len(ds.clips(split)) for split in ("train", "evaluate"))
        seed = json.loads((Path(a["data"]) / "synth_ground_truth.json").read_text())["config"]["seed"]
    print(f"Synthetic benchmark ({'congruence' if a['congruence'] else 'default'}): {clips} clips x "
          f"{a['duration']:g} s, dataset seed {seed}, {a['epochs']} epochs, training seeds {seeds} "
          f"(merged from {len(paths)} runs)\n")
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in rows)]
    ceilings = dataset_ceilings(TauDataset(a["data"])) if Path(a["data"]).is_dir() else runs[0].get("ceilings")
    print_report(rows, variants, ceilings)
    shared = {k: v for k, v in a.items() if k not in PER_RUN_ARGS}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"args": {**shared, "seeds": seeds, "variants": variants, "merged_from": paths},
                                     "ceilings": ceilings, "rows": rows}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="out/ablation-data", help="dataset folder (generated if missing)")
    ap.add_argument("--runs", default="out/ablation-runs")
    ap.add_argument("--clips", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0, help="dataset seed")
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--congruence", action="store_true", help="the congruence benchmark")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="training seeds")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--ceoa-weight", type=float)
    ap.add_argument("--ceoa-temperature", type=float)
    ap.add_argument("--int8", action="store_true", help="also measure attention -> partner of an INT8 export")
    ap.add_argument("--json", default="out/ablation.json")
    ap.add_argument("--rescore", action="store_true", help="evaluate the models already in --runs, train nothing")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="join the --json files of earlier runs into one table")
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.json)

    data = Path(args.data)
    if not (data / "meta.csv").exists():
        t0 = time.perf_counter()
        generate(data, SynthConfig(clips=args.clips, seed=args.seed, duration=args.duration, congruence=args.congruence))
        print(f"generated {args.clips} clips in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    ds = TauDataset(data)
    features, clip, _ = preset("tiny", clip={"seconds": args.duration})
    fs = (load_featureset(ds, "train", features, clip), load_featureset(ds, "evaluate", features, clip))
    truth = json.loads((data / "synth_ground_truth.json").read_text())
    sources = [tuple(s) for s in truth["sources"]]
    overrides = {k: v for k, v in (("ceoa_weight", args.ceoa_weight), ("ceoa_temperature", args.ceoa_temperature))
                 if v is not None}
    rows = []
    for variant in args.variants:
        for seed in args.seeds:
            t0 = time.perf_counter()
            cfg = ModelConfig.preset("tiny", variant=variant, **overrides)
            checkpoint = Path(args.runs) / f"{variant}-{seed}" / "model.safetensors"
            if not args.rescore:
                fresh = tuple(f.subset(np.arange(len(f))) for f in fs)   # train() may set tags on them
                checkpoint = train(ds, checkpoint.parent, cfg, TrainConfig(epochs=args.epochs, seed=seed),
                                   features, clip, data=fresh, progress=False).checkpoint
            model, info = from_checkpoint(checkpoint)
            if info.model_config != cfg:
                raise SystemExit(f"{checkpoint}: trained with other settings than these ({info.model_config})")
            m, out = evaluate_model(model, fs[1])
            row = {"variant": variant, "seed": seed, "accuracy": m.accuracy, "log_loss": m.log_loss,
                   "train_s": None if args.rescore else time.perf_counter() - t0}
            if args.congruence:
                row["congruence"] = congruence_accuracy(out["probs"], fs[1].labels)
            if info.model_config.uses_audio and info.model_config.uses_visual:
                fp32 = predict_split(checkpoint, ds)
                row["attention"] = attention_partner(fp32, truth["clips"], sources)
                if args.int8:
                    int8 = predict_split(int8_export(checkpoint, data), ds)
                    row["attention_int8"] = attention_partner(int8, truth["clips"], sources)
                    row["int8"] = int8_agreement(fp32, int8, ds)
            if "event_emb" in out and "object_emb" in out:
                row["alignment"] = alignment_metrics(out["event_emb"], out["object_emb"], fs[1].stems, truth["clips"],
                                                     sources)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    kind = "congruence" if args.congruence else "default"
    print(f"\nSynthetic benchmark ({kind}): {len(fs[0]) + len(fs[1])} clips x {args.duration:g} s ({data}), "
          f"dataset seed {args.seed} (if generated here), ceoa weight/temperature {cfg.ceoa_weight}/{cfg.ceoa_temperature}, "
          f"{len(fs[0])} train / {len(fs[1])} evaluate clips, {args.epochs} epochs, training seeds {args.seeds}\n")
    ceilings = dataset_ceilings(ds)
    print_report(rows, args.variants, ceilings)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"args": vars(args), "ceilings": ceilings, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
