"""The ``avsc-edge`` command line. Each subcommand has an example in its ``--help``."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import AVSCError, ConfigError
from .labels import SCENES

EXAMPLES = {
    "demo": "avsc-edge demo --out /tmp/avsc-demo",
    "synth": "avsc-edge synth --out data/synth --clips 200 --seed 0 --duration 10",
    "train": "avsc-edge train data/synth --out runs/tiny --preset tiny --epochs 30",
    "eval": "avsc-edge eval runs/tiny/model.safetensors data/synth --split evaluate --plot cm.png",
    "predict": "avsc-edge predict runs/tiny/model.safetensors clip.mp4 --json",
    "export": "avsc-edge export runs/tiny/model.safetensors --recipe cpu-int8 --calib data/synth -o model.int8.onnx",
    "stream": "avsc-edge stream clip.mp4 --model runs/tiny/model.safetensors --hop 1 --realtime",
    "bench": "avsc-edge bench --batch 1,8 --clips 30 --json bench.json --plot bench.png",
    "info": "avsc-edge info --json",
}


def default_demo_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "avsc-edge" / "demo"


def _emit(args, payload: dict, text: str) -> None:
    print(json.dumps(payload, indent=1, default=str) if args.json else text)


def cmd_synth(args) -> int:
    from tqdm import tqdm

    from .data.synth import SynthConfig, generate

    cfg = SynthConfig(clips=args.clips, seed=args.seed, duration=args.duration, width=args.width,
                      height=args.height, fps=args.fps)
    with tqdm(total=cfg.clips, desc="synth", unit="clip", disable=args.json) as bar:
        root = generate(args.out, cfg, progress=bar.update)
    _emit(args, {"dataset": str(root), "config": cfg.to_dict()}, f"wrote {cfg.clips} clips to {root}")
    return 0


def _train_configs(args):
    from .config import ClipConfig, FeatureConfig, ModelConfig, TrainConfig

    model = ModelConfig.preset(args.preset, variant=args.variant)
    train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    return model, train, FeatureConfig(), ClipConfig(seconds=args.window)


def cmd_train(args) -> int:
    from .train import train

    model, tcfg, features, clip = _train_configs(args)
    result = train(args.dataset, args.out, model, tcfg, features, clip, resume=args.resume, progress=not args.json)
    _emit(args, {"checkpoint": str(result.checkpoint), "history": result.history, "metrics": result.metrics},
          f"checkpoint: {result.checkpoint}\nevaluate: {json.dumps(result.metrics.get('evaluate', {}))}")
    return 0


def cmd_eval(args) -> int:
    from .evaluation import evaluate_artifact

    m = evaluate_artifact(args.checkpoint, args.dataset, args.split, args.plot, progress=not args.json)
    lines = [f"accuracy {m.accuracy:.3f}  log-loss {m.log_loss:.3f}  ({m.count} clips)"]
    lines += [f"  {k:<18} {v:.3f}" for k, v in m.class_accuracy.items()]
    if args.plot:
        lines.append(f"confusion matrix: {args.plot}")
    _emit(args, m.to_dict(), "\n".join(lines))
    return 0


def cmd_predict(args) -> int:
    from .classifier import Classifier
    from .runtime.batch import dcase_csv, expand_inputs, predict_many

    clf = Classifier(args.model, device=args.device, threads=args.threads, strict=args.strict)
    pairs = expand_inputs(args.inputs)
    results, failures = [], []
    for name, r in predict_many(clf, pairs, workers=args.workers, progress=not (args.json or args.csv)):
        (failures if isinstance(r, Exception) else results).append((name, r))
    if args.csv:
        text = dcase_csv(results, clf.labels)
        if args.csv == "-":
            print(text, end="")
        else:
            Path(args.csv).write_text(text)
    if args.json:
        print(json.dumps([{"path": n, **r.to_dict()} for n, r in results]
                         + [{"path": n, "error": str(e)} for n, e in failures], indent=1))
    elif args.csv != "-":
        for name, r in results:
            top = ", ".join(f"{l} {p:.2f}" for l, p in r.top(3))
            print(f"{name}: {r.label} ({r.confidence:.1%}; {'+'.join(r.modalities)}) top: {top}")
        for name, e in failures:
            print(f"{name}: error: {e}", file=sys.stderr)
    return 1 if failures else 0


def cmd_export(args) -> int:
    from .export.pipeline import run_recipe
    from .export.recipes import available_recipes, load_recipe

    if args.list:
        recipes = {n: load_recipe(n) for n in available_recipes()}
        _emit(args, {n: r.to_dict() for n, r in recipes.items()},
              "\n".join(f"{n:<18} {r.description}" for n, r in recipes.items()))
        return 0
    if not args.checkpoint or not args.recipe or not args.output:
        raise ConfigError("export needs CHECKPOINT, --recipe and -o (or --list)")
    result = run_recipe(args.checkpoint, load_recipe(args.recipe), args.output, args.calib)
    if args.split:
        from .export.split import export_split

        export_split(args.checkpoint, args.output)
    rep = result.report
    lines = [f"wrote {result.artifact} ({result.size_bytes / 1e6:.2f} MB, recipe {result.recipe})",
             f"random inputs: max |logit diff| {rep['random_inputs']['max_abs_diff']:.2e}, "
             f"top-1 agreement {rep['random_inputs']['top1_agreement']:.1%}"]
    if "validation" in rep:
        v = rep["validation"]
        lines.append(f"validation ({v.get('clips', '?')} clips): max |logit diff| {v['max_abs_diff']:.2e}, top-1 "
                     f"agreement {v['top1_agreement']:.1%}, accuracy {v.get('exported_accuracy', float('nan')):.3f} "
                     f"(PyTorch FP32 {v.get('pytorch_fp32_accuracy', float('nan')):.3f})")
    _emit(args, {"artifact": str(result.artifact), "size_bytes": result.size_bytes, "report": rep}, "\n".join(lines))
    return 0


def cmd_stream(args) -> int:
    from .classifier import Classifier
    from .stream.state import StreamConfig

    clf = Classifier(args.model, threads=args.threads)
    source = int(args.source) if args.source.isdigit() else None if args.source == "mic" else args.source
    cfg = StreamConfig(hop=args.hop, smoothing=args.smoothing)
    mic = True if args.microphone else None
    for p in clf.stream(source, realtime=args.realtime, config=cfg, microphone=mic):
        if args.json:
            print(json.dumps({"t": round(p.timestamp, 3), "label": p.label, "confidence": round(p.confidence, 4),
                              "modalities": list(p.modalities), "latency_ms": round(p.timings["total_ms"], 2),
                              "notes": p.notes}), flush=True)
        else:
            notes = f"  [{'; '.join(p.notes)}]" if p.notes else ""
            print(f"{p.timestamp:8.2f}s  {p.label:<18} {p.confidence:6.1%}  {'+'.join(p.modalities) or '-':<12} "
                  f"{p.timings['total_ms']:6.1f} ms{notes}", flush=True)
    return 0


def _bench_artifacts(args) -> tuple[list[str], str]:
    """The artifacts to compare and the dataset to measure on (the demo's when none are given)."""
    if args.artifacts:
        if not args.data:
            raise ConfigError("pass --data DATASET (a TAU-layout folder) with explicit artifacts")
        return args.artifacts, args.data
    from .demo import run_demo

    out = Path(args.demo_dir) if args.demo_dir else default_demo_dir()
    names = ["model.safetensors", "model.onnx", "model.int8.onnx"]
    if not all((out / n).is_file() for n in names):
        print(f"bench: building the demo models in {out} first (avsc-edge demo)", file=sys.stderr)
        run_demo(out, progress=not args.json, log=lambda s: print(s, file=sys.stderr))
    artifacts = [str(out / n) for n in names]
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        print("bench: TensorRT not installed: no TensorRT rows", file=sys.stderr)
    else:
        from .export.pipeline import run_recipe
        from .export.recipes import load_recipe

        for recipe in ("desktop-fp16", "desktop-int8"):
            plan = out / f"model.{recipe}.plan"
            if not plan.is_file():
                run_recipe(out / "model.safetensors", load_recipe(recipe), plan, str(out / "data"))
            artifacts.append(str(plan))
    return artifacts, args.data or str(out / "data")


def cmd_bench(args) -> int:
    from .bench.machine import describe_machine

    machine = describe_machine()
    if args.kernels:
        from .bench.kernels import markdown, run

        rows = run()
        text = markdown(rows)
        payload = {"machine": machine, "kernels": [r.__dict__ | {"speedup": r.speedup} for r in rows]}
    else:
        from .bench.e2e import bench_artifact, plot, rows_json, table
        from .data import TauDataset

        artifacts, data = _bench_artifacts(args)
        clips = TauDataset(data).clips(args.split)[: args.clips]
        labels = np.array([SCENES.index(c.label) for c in clips])
        rows = []
        for batch in [int(b) for b in str(args.batch).split(",")]:
            for a in artifacts:
                rows.append(bench_artifact(a, clips, labels, batch, args.repeats, threads=args.threads,
                                           progress=None if args.json else (lambda m: print(m, file=sys.stderr))))
        text = table(rows)
        payload = rows_json(rows, machine)
        if args.plot:
            plot(rows, args.plot)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    if args.json and args.json != "-":
        Path(args.json).write_text(json.dumps(payload, indent=1, default=str))
    if args.json == "-":
        print(json.dumps(payload, indent=1, default=str))
    else:
        print(f"machine: {machine['cpu']}, {machine['cores']} cores, GPU: {machine['gpu'] or 'none'}")
        print(text)
    return 0


def cmd_info(args) -> int:
    import platform

    from . import kernels
    from .version import __version__

    payload = {"avsc_edge": __version__, "python": platform.python_version(), "machine": platform.machine(),
               "kernels": kernels.info()}
    text = "\n".join([f"avsc-edge {__version__} (python {payload['python']}, {payload['machine']})",
                      "kernels: " + json.dumps(payload["kernels"])])
    _emit(args, payload, text)
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    summary = run_demo(Path(args.out) if args.out else default_demo_dir(), clips=args.clips, epochs=args.epochs,
                       progress=not args.json, log=(lambda s: None) if args.json else print)
    if args.json:
        print(json.dumps(summary, indent=1, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="avsc-edge", description="Audio-visual scene classification for the edge.",
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="examples:\n" + "\n".join(f"  {v}" for v in EXAMPLES.values()))
    ap.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = ap.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=f"example:\n  {EXAMPLES[name]}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(fn=fn)
        return p

    p = add("demo", cmd_demo, "synthesise data, train the tiny model, evaluate and classify a clip (CPU, minutes)")
    p.add_argument("--out", help=f"work folder (default: {default_demo_dir()})")
    p.add_argument("--clips", type=int, default=300, help="synthetic clips (4 s each)")
    p.add_argument("--epochs", type=int, default=30)

    p = add("synth", cmd_synth, "write a synthetic dataset in the TAU Urban Audio-Visual Scenes 2021 layout")
    p.add_argument("--out", required=True)
    p.add_argument("--clips", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duration", type=float, default=10.0, help="seconds per clip")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--fps", type=float, default=5.0)

    p = add("train", cmd_train, "train the CEOA + SF model on a TAU-layout dataset (fold1_train)")
    p.add_argument("dataset")
    p.add_argument("--out", required=True, help="folder for model.safetensors and the training state")
    p.add_argument("--preset", default="tiny", choices=["tiny", "base"])
    p.add_argument("--variant", default="av_ceoa_sf", choices=["audio", "visual", "av", "av_ceoa", "av_ceoa_sf"])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=float, default=10.0, help="model window in seconds")
    p.add_argument("--resume", action="store_true", help="continue from OUT/train_state.safetensors")

    p = add("eval", cmd_eval, "accuracy, class-wise accuracy and log-loss of a checkpoint on a split")
    p.add_argument("checkpoint")
    p.add_argument("dataset")
    p.add_argument("--split", default="evaluate", choices=["train", "evaluate", "all"])
    p.add_argument("--plot", help="write the confusion matrix to this PNG")

    p = add("predict", cmd_predict, "classify media files, globs, folders or a TAU dataset with a model artifact")
    p.add_argument("model", help=".onnx, .safetensors")
    p.add_argument("inputs", nargs="+", help="files, globs ('clips/*.mp4'), folders, or a TAU dataset root")
    p.add_argument("--csv", help="write the DCASE submission CSV here ('-' for stdout)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "tensorrt"],
                   help="ONNX Runtime execution provider for .onnx models (default: cpu)")
    p.add_argument("--workers", type=int, default=2, help="decoding threads")
    p.add_argument("--threads", type=int)
    p.add_argument("--strict", action="store_true", help="fail when a modality is missing")

    p = add("export", cmd_export, "export a checkpoint by recipe (ONNX FP32/INT8/FP16, TensorRT plans)")
    p.add_argument("checkpoint", nargs="?")
    p.add_argument("--recipe", help="recipe name (see --list) or path to a recipe JSON")
    p.add_argument("--calib", help="TAU-layout dataset: calibration clips (train) and the parity report (evaluate)")
    p.add_argument("-o", "--output", help="output file (.onnx or .plan)")
    p.add_argument("--list", action="store_true", help="list the available recipes")
    p.add_argument("--split", action="store_true", help="also write the streaming graphs (NAME.audio.onnx, ...)")

    p = add("stream", cmd_stream, "classify a file, URL or camera as a live stream: one line per hop")
    p.add_argument("source", help="file, rtsp:// / http:// / udp:// URL, camera index (0), or 'mic'")
    p.add_argument("--microphone", action="store_true", help="with a camera index: also capture the default "
                   "microphone (needs sounddevice)")
    p.add_argument("--model", required=True, help=".safetensors, or .onnx exported with --split")
    p.add_argument("--hop", type=float, default=1.0, help="seconds between predictions")
    p.add_argument("--smoothing", type=float, default=0.0, help="exponential smoothing of scores, 0..1")
    p.add_argument("--realtime", action="store_true", help="pace a file to its timestamps")
    p.add_argument("--threads", type=int)

    p = sub.add_parser("bench", help="benchmark backends x precisions x batch sizes (or the kernels) on this device",
                       description="Benchmark every artifact (default: the demo's PyTorch, ONNX FP32 and INT8 models) "
                                   "decode-to-label on a validation set.",
                       epilog=f"example:\n  {EXAMPLES['bench']}\n  avsc-edge bench --kernels",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(fn=cmd_bench)
    p.add_argument("artifacts", nargs="*", help=".safetensors / .onnx files (default: the demo's)")
    p.add_argument("--data", help="TAU-layout dataset for accuracy and timing (default: the demo's)")
    p.add_argument("--split", default="evaluate")
    p.add_argument("--clips", type=int, default=30)
    p.add_argument("--batch", default="1", help="comma-separated batch sizes, e.g. 1,8")
    p.add_argument("--repeats", type=int, default=2, help="passes over the clips (after one warm-up batch)")
    p.add_argument("--threads", type=int)
    p.add_argument("--demo-dir", help="where the demo models live / are built")
    p.add_argument("--json", nargs="?", const="-", help="write rows + machine record (to FILE, or stdout)")
    p.add_argument("--markdown", help="write the table as Markdown")
    p.add_argument("--plot", help="write latency vs accuracy as PNG")
    p.add_argument("--kernels", action="store_true", help="run the kernel benchmarks instead")

    add("info", cmd_info, "versions and which kernel implementations are active")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(message)s")
    try:
        return args.fn(args)
    except AVSCError as exc:
        if args.debug:
            raise
        print(f"avsc-edge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
