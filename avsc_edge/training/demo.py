"""``avsc-edge demo``: the whole pipeline on the embedded default, on CPU, in a few minutes.

synthesise a small TAU-layout set -> train the tiny CEOA + SF model -> evaluate (metrics + confusion
PNG) -> classify one held-out clip through :class:`~avsc_edge.Classifier`. Leaves in ``OUT``:
``data/`` (the dataset), ``model.safetensors``, ``model.onnx`` (FP32), ``model.int8.onnx`` (QDQ INT8),
``confusion.png``, ``summary.json``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from ..config import TrainConfig, preset

DEMO_SECONDS = 4.0


# real recordings the package ships (avsc_edge/samples/CREDITS.md): two labels a robot on a farm might learn
DEMO_LABELS = {"birds": ("owl", "duck", "rooster"), "livestock": ("cow", "horse", "pig", "sheep")}
FILM = "big_buck_bunny_0_30.webm"


def miss_note(truth: dict, label: str) -> str:
    """What a wrongly classified synthetic clip really holds, and what tells its scene apart."""
    from ..data.scenes import SIGNATURES

    return (f"wrong: the clip holds {', '.join(truth['events'])} (heard) and {', '.join(truth['objects'])} "
            f"(seen); a {label} is known by its {SIGNATURES[label][0]} heard with a {SIGNATURES[label][1]} seen")


def real_content(out: Path, log: Callable[[str], None]) -> dict:
    """The genuine taggers on a real film, and a few-shot model learnt from real recordings."""
    import shutil

    from ..classifier import Classifier
    from ..tagging.bundle import sample_file
    from ..tagging.fewshot import adapt
    from ..tagging.tagger import Tagger

    film = sample_file(FILM)
    log(f"[6/7] tagging a real film with the genuine taggers inside the package: {film.name} (Big Buck Bunny, "
        "CC BY 3.0)")
    tags = Tagger(top_k=3).tag(film)
    for w in tags.windows:
        log(f"      {w.start:4.0f}-{w.end:.0f} s  heard: " + ", ".join(f"{n} {p:.2f}" for n, p in w.events)
            + "  |  seen: " + ", ".join(f"{n} {p:.2f}" for n, p in w.objects))
    root = out / "recordings"
    shutil.rmtree(root, ignore_errors=True)
    for label, names in DEMO_LABELS.items():
        (root / label).mkdir(parents=True)
        for name in names:
            shutil.copy(sample_file(f"animals/{name}.mp3"), root / label / f"{name}.mp3")
    log(f"[7/7] learning two labels from {sum(map(len, DEMO_LABELS.values()))} real recordings on this CPU "
        f"(avsc-edge adapt {root} --out {out / 'animals.onnx'})")
    result = adapt(root, out / "animals.onnx")
    e = result.evaluation
    log(f"      {result.seconds:.1f} s; each recording held out in turn: {e.accuracy:.0%} recognised "
        f"({result.head} head; " + ", ".join(f"{label} {row[i]}/{sum(row)}" for i, (label, row) in
                                             enumerate(zip(result.labels, e.confusion))) + ")")
    p = Classifier(out / "animals.onnx").predict(film)
    log(f"      the film with it -> {p.label} ({p.confidence:.0%}); heard: "
        + ", ".join(f"{n} {q:.2f}" for n, q in p.events[:3]))
    return {"film_tags": tags.to_dict(), "adapt": {"labels": result.labels, "loro_accuracy": e.accuracy,
                                                   "head": result.head, "seconds": result.seconds},
            "film_with_adapted_model": {"label": p.label, "confidence": p.confidence}}


def run_demo(out: Path, clips: int = 300, epochs: int = 30, progress: bool = True,
             log: Callable[[str], None] = print) -> dict:
    from tqdm import tqdm

    from ..classifier import Classifier
    from ..data import TauDataset
    from ..data.ceilings import dataset_ceilings
    from ..data.synth import SynthConfig, generate_once
    from .evaluation import evaluate_artifact
    from .train import train

    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    t0 = time.perf_counter()
    synth = SynthConfig(clips=clips, seed=0, duration=DEMO_SECONDS)
    data = out / "data"
    log(f"[1/7] synthesising {clips} clips of {DEMO_SECONDS:g} s into {data} (kept for the next run)")
    with tqdm(total=clips, desc="synth", unit="clip", disable=not progress) as bar:
        if not generate_once(data, synth, progress=bar.update):
            log("      reused: already there")
    timings["synth_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    log(f"[2/7] training the tiny CEOA + SF model for {epochs} epochs (CPU)")
    features, clip, model = preset("tiny", clip={"seconds": DEMO_SECONDS})
    result = train(data, out, model, TrainConfig(epochs=epochs, batch_size=32), features, clip, progress=progress)
    timings["train_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    log("[3/7] evaluating on fold1_evaluate")
    metrics = evaluate_artifact(result.checkpoint, data, "evaluate", out / "confusion.png", progress=False)
    ceilings = dataset_ceilings(TauDataset(data))
    log(f"      accuracy {metrics.accuracy:.1%}, log-loss {metrics.log_loss:.3f}; confusion matrix: {out / 'confusion.png'}")
    log(f"      this world allows {ceilings['audio_visual']:.0%} from what is heard and seen together, "
        f"{ceilings['audio']:.0%} from sound alone, {ceilings['visual']:.0%} from sight alone "
        "(a perfect tagger with a linear head)")
    timings["eval_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    log("[4/7] exporting ONNX FP32 and quantising to INT8 (QDQ, calibrated on training clips)")
    from ..export.pipeline import run_recipe
    from ..export.recipes import load_recipe

    exports = {}
    for recipe, name in (("cpu-fp32", "model.onnx"), ("cpu-int8", "model.int8.onnx")):
        r = run_recipe(result.checkpoint, load_recipe(recipe), out / name, str(data))
        v = r.report.get("validation", {})
        exports[name] = {"size_bytes": r.size_bytes, "accuracy": v.get("exported_accuracy"),
                         "top1_agreement": v.get("top1_agreement"), "max_abs_diff": v.get("max_abs_diff")}
        log(f"      {name}: {r.size_bytes / 1e6:.2f} MB, accuracy {v.get('exported_accuracy', float('nan')):.1%}, "
            f"top-1 agreement with PyTorch {v.get('top1_agreement', float('nan')):.1%}")
    timings["export_s"] = time.perf_counter() - t0

    clip_path = TauDataset(data).clips("evaluate")[0]    # the first held-out clip: typical, not searched for
    log(f"[5/7] classifying {clip_path.video.name} (true scene: {clip_path.label}) with model.int8.onnx")
    clf = Classifier(out / "model.int8.onnx")
    pred = clf.predict(clip_path.video)
    log(f"      -> {pred}")
    log("      top-3: " + ", ".join(f"{l} {p:.2f}" for l, p in pred.top(3)))
    log("      heard: " + ", ".join(f"{n} {p:.2f}" for n, p in pred.events)
        + " | seen: " + ", ".join(f"{n} {p:.2f}" for n, p in pred.objects))
    if pred.attention:
        log("      attends: " + ", ".join(f"{e} -> {o} {w:.2f}" for e, o, w in pred.attention))
    if pred.label != clip_path.label:
        log("      " + miss_note(TauDataset(data).ground_truth()[clip_path.video.stem], clip_path.label))
    real = real_content(out, log)
    log(f"done: models in {out} (model.safetensors = PyTorch, model.onnx = ONNX FP32, model.int8.onnx = INT8, "
        "each .onnx with its split graphs beside it; animals.onnx = learnt from real recordings). Next:")
    log(f"  avsc-edge predict {out / 'model.int8.onnx'} YOUR_CLIP.mp4")
    log(f"  avsc-edge stream {clip_path.video} --model {out / 'model.int8.onnx'} --hop 1")
    log(f"  avsc-edge explain {clip_path.video} --model {out / 'model.int8.onnx'} --out explain.png")
    log(f"  avsc-edge bench --demo-dir {out}")
    log(f"  avsc-edge tag YOUR_CLIP.mp4 --timeline        # what is heard and seen, no model to bring")
    log(f"  avsc-edge adapt YOUR_RECORDINGS/ --out places.onnx   # your own places: a folder per label")
    summary = {"out": str(out), "checkpoint": str(result.checkpoint), "accuracy": metrics.accuracy,
               "ceilings": ceilings, "log_loss": metrics.log_loss, "exports": exports, "prediction": pred.to_dict(), "true_label": clip_path.label,
               "timings": timings, "real": real}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
