"""The ``avsc-edge`` command line. Each subcommand has an example in its ``--help``."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import AVSCError, ConfigError
from .labels import SCENES

EXAMPLES = {
    "demo": "avsc-edge demo --out /tmp/avsc-demo",
    "synth": "avsc-edge synth --out data/synth --clips 200 --seed 0 --duration 10\n"
             "  avsc-edge synth --out data/tau-like --clips 20 --profile tau",
    "train": "avsc-edge train data/synth --out runs/tiny --preset tiny --epochs 30\n"
             "  avsc-edge train TAU/ --out runs/edge --preset edge        # starts from the genuine weights inside\n"
             "  avsc-edge train TAU/ --out runs/base --preset base --audio-weights Cnn14.pth "
             "--visual-weights resnet18.pth --freeze-epochs 5 --backbone-lr-scale 0.1",
    "eval": "avsc-edge eval runs/tiny/model.safetensors data/synth --split evaluate --plot cm.png",
    "predict": "avsc-edge predict runs/tiny/model.safetensors clip.mp4 --json",
    "export": "avsc-edge export runs/tiny/model.safetensors --recipe cpu-int8 --calib data/synth -o model.int8.onnx",
    "stream": "avsc-edge stream clip.mp4 --model runs/tiny/model.safetensors --hop 1 --realtime\n"
              "  avsc-edge stream 'gst:rtsp://127.0.0.1:8554/cam' --model model.int8.onnx --hop 1",
    "bench": "avsc-edge bench --batch 1,8 --clips 30 --json bench.json --plot bench.png",
    "explain": "avsc-edge explain clip.mp4 --model runs/tiny/model.safetensors --out explain.png",
    "info": "avsc-edge info --json",
    "adapt": "avsc-edge adapt recordings/ --out places.onnx          # recordings/<label>/*.wav|mp4\n"
             "  avsc-edge adapt more/ --out places.onnx --add            # new labels or recordings",
    "tag": "avsc-edge tag clip.mp4 --timeline\n"
           "  avsc-edge tag recordings/ --json\n"
           "  avsc-edge tag rtsp://127.0.0.1:8554/cam --hop 2",
}


def default_demo_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "avsc-edge" / "demo"


def _emit(args, payload: dict, text: str) -> None:
    print(json.dumps(payload, indent=1, default=str) if args.json else text)


def cmd_synth(args) -> int:
    from tqdm import tqdm

    from .data.ceilings import describe
    from .data.synth import GROUND_TRUTH_FILE, SynthConfig, generate

    given = {k: getattr(args, k) for k in ("duration", "width", "height", "fps") if getattr(args, k) is not None}
    cfg = SynthConfig.profile(args.profile, clips=args.clips, seed=args.seed, congruence=args.congruence, **given)
    with tqdm(total=cfg.clips, desc="synth", unit="clip", disable=args.json) as bar:
        root = generate(args.out, cfg, progress=bar.update)
    ceilings = json.loads((root / GROUND_TRUTH_FILE).read_text())["ceilings"]
    _emit(args, {"dataset": str(root), "config": cfg.to_dict(), "ceilings": ceilings},
          f"wrote {cfg.clips} clips to {root}\n{describe(ceilings)}")
    return 0


DEFAULT_TRAIN_BATCH = {"edge": 16}   # 2.41 GB peak at 32, 1.81 GB at 16 (benchmarks/README.md R4.3)


def _train_configs(args):
    from .config import PretrainedConfig, TrainConfig, preset

    clip = {"seconds": args.window} if args.window else {}
    model = {"variant": args.variant, **({"audio_width": args.audio_width} if args.audio_width else {})}
    features, clip, model = preset(args.preset, clip=clip, model=model)
    batch = args.batch_size or DEFAULT_TRAIN_BATCH.get(args.preset, 32)
    train = TrainConfig(epochs=args.epochs, batch_size=batch, lr=args.lr, seed=args.seed,
                        freeze_epochs=args.freeze_epochs, backbone_lr_scale=args.backbone_lr_scale,
                        recompute_activations=not args.keep_activations)
    audio_weights, visual_weights = args.audio_weights, args.visual_weights
    if args.from_scratch and (audio_weights or visual_weights):
        raise ConfigError("--from-scratch starts from random weights; drop it or the --audio-weights/--visual-weights")
    if args.preset == "edge" and not args.from_scratch and not (audio_weights or visual_weights) \
            and model.audio_width == 0.4:
        from .tagging.bundle import edge_weights

        audio_weights, visual_weights = map(str, edge_weights())   # the genuine weights the package ships
    pretrained = None
    if audio_weights or visual_weights:
        for path in (audio_weights, visual_weights):
            if path and not Path(path).is_file():
                raise ConfigError(f"{path}: pretrained weights not found (nothing is downloaded: pass a file you have)")
        pretrained = PretrainedConfig(audio_weights=audio_weights, visual_weights=visual_weights,
                                      events=args.events, objects=args.objects)
    return model, train, features, clip, pretrained


def cmd_train(args) -> int:
    from .training.train import train

    model, tcfg, features, clip, pretrained = _train_configs(args)
    say = None if args.json else (lambda m: print(f"train: {m}", file=sys.stderr))
    t0 = time.monotonic()
    result = train(args.dataset, args.out, model, tcfg, features, clip, resume=args.resume, progress=not args.json,
                   pretrained=pretrained, log=say)
    seconds = time.monotonic() - t0
    ev = result.metrics.get("evaluate", {})
    size_mb = Path(result.checkpoint).stat().st_size / 1e6
    weights = _pretrained_words(result.metrics.get("pretrained_loaded", []))
    data = "synthetic data" if result.metrics.get("data", {}).get("synthetic") else "real data"
    summary = (f"train: {len(result.history)} epochs in {seconds:.0f} s; model {result.checkpoint} "
               f"({size_mb:.1f} MB, {weights}, {data}); evaluate accuracy {ev.get('accuracy', float('nan')):.3f}, "
               f"log-loss {ev.get('log_loss', float('nan')):.3f}")
    if "ceilings" in result.metrics and ev:
        from .data.ceilings import ceiling_for

        summary += (f" (a perfect tagger of what this model sees reaches "
                    f"{ceiling_for(result.metrics['ceilings'], model.uses_audio, model.uses_visual):.3f})")
    _emit(args, {"checkpoint": str(result.checkpoint), "history": result.history, "metrics": result.metrics,
                 "seconds": seconds, "size_mb": size_mb}, summary)
    return 0


def _pretrained_words(loaded: list[str]) -> str:
    if not loaded:
        return "no pretrained weights"
    if len(loaded) == 2:
        return "pretrained audio and visual backbones"
    other = "visual" if loaded == ["audio"] else "audio"
    return f"pretrained {loaded[0]} backbone, {other} from random weights"


def cmd_eval(args) -> int:
    from .formats.artifact import artifact_files
    from .runtime.outputs import PLOT_SUFFIXES, output_path
    from .training.evaluation import evaluate_artifact

    if args.plot:
        output_path(args.plot, "--plot", artifact_files(args.checkpoint), "a file of the model", PLOT_SUFFIXES)
    m = evaluate_artifact(args.checkpoint, args.dataset, args.split, args.plot, progress=not args.json)
    lines = [f"accuracy {m.accuracy:.3f}  log-loss {m.log_loss:.3f}  ({m.count} clips)"]
    lines += [f"  {k:<18} {v:.3f}" for k, v in m.class_accuracy.items()]
    if args.plot:
        lines.append(f"confusion matrix: {args.plot}")
    _emit(args, m.to_dict(), "\n".join(lines))
    return 0


def _result_file(path: str | None, what: str):
    """Checked now (a missing folder fails before an hour of work); nothing is opened yet."""
    from .runtime.outputs import ResultFile

    return None if path is None or path == "-" else ResultFile(path, what)


def cmd_predict(args) -> int:
    from .classifier import Classifier
    from .formats.artifact import artifact_files
    from .runtime.inputs import DcaseCsvWriter, expand_inputs

    csv_out = _result_file(args.csv, "--csv")
    errors_path = args.errors or (f"{Path(args.csv).with_suffix('')}.errors.tsv" if csv_out else None)
    errors_out = _result_file(errors_path, "--errors")
    outputs = [f for f in (csv_out, errors_out) if f]
    model_files = artifact_files(args.model)
    for out in outputs:
        out.refuse_overwriting(model_files, "a file of the model")
    clf = Classifier(args.model, device=args.device, threads=args.threads, strict=args.strict,
                     decoder=args.decoder, batch_size=args.batch_size)
    pairs = expand_inputs(args.inputs)
    for out in outputs:
        out.refuse_overwriting({p for pair in pairs for p in pair if p}, "an input")
    if csv_out and errors_out and csv_out.target.resolve() == errors_out.target.resolve():
        raise ConfigError(f"--csv and --errors are the same file ({csv_out.target}); give two names")
    csv_file = csv_out.open() if csv_out else None
    # opened at the first failure; one left from an earlier run is emptied so it never lists stale errors
    errors_file = errors_out.open() if errors_out and errors_out.target.exists() else None
    writer = DcaseCsvWriter(csv_file or sys.stdout, clf.labels) if args.csv else None
    ok = failed = 0
    complete = False
    try:
        for name, r in clf.predict_many(pairs, workers=args.workers, progress=not (args.json or args.csv == "-")):
            if isinstance(r, Exception):
                failed += 1
                if errors_out and not errors_file:
                    errors_file = errors_out.open()
                if errors_file:
                    errors_file.write(f"{_one_line(name)}\t{type(r).__name__}\t{_one_line(str(r))}\n")
                    errors_file.flush()
                if args.json:
                    _say(json.dumps({"path": name, "error": str(r)}))
                elif args.csv != "-":
                    message = str(r).removeprefix(f"{name}: ")   # the name leads the line already
                    _say(f"{_one_line(name)}: error: {_one_line(message)}", sys.stderr)
                continue
            ok += 1
            if writer:
                writer.write(name, r)
            if args.json:
                _say(json.dumps({"path": name, **r.to_dict()}))
            elif args.csv != "-":
                _say(_plain_prediction(name, r, args.timeline))
        complete = True
    finally:
        written = [out.finish(complete) for out in outputs]
        incomplete = [str(w) for w in written if w is not None and w.suffix == ".partial"]
        where = f" (errors: {errors_path})" if failed and errors_out and complete else ""
        state = "" if complete else f"stopped after {ok + failed} of {len(pairs)} inputs: "
        kept = f"; rows so far in {', '.join(incomplete)}" if incomplete else ""
        print(f"predict: {state}{ok} ok, {failed} failed{where}{kept}", file=sys.stderr)
    return 1 if failed else 0


def _say(text: str, file=None) -> None:
    """A result line that never lands inside a progress bar (the bar is cleared, then redrawn)."""
    from tqdm import tqdm

    with tqdm.external_write_mode():
        print(text, file=file or sys.stdout, flush=True)


def _plain_prediction(name: str, r, timeline: bool = False) -> str:
    """One line per input, then its notes and (on request) its windows, indented."""
    top = ", ".join(f"{lab} {p:.2f}" for lab, p in r.top(3))
    lines = [f"{_one_line(name)}: {r.label} ({r.confidence:.1%}; {'+'.join(r.modalities)}) top: {top}"]
    lines += [f"  note: {_one_line(n)}" for n in r.notes]
    if timeline:
        lines += [f"  {w['start']:g} s: {w['label']} {w['scores'][w['label']]:.1%} ({'+'.join(w['modalities'])})"
                  for w in r.windows]
    return "\n".join(lines)


def _one_line(text: str) -> str:
    """File names and messages on one line of a log or TSV (a newline or tab in a name is escaped)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


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
    out = Path(args.output)
    if not out.parent.is_dir():
        raise ConfigError(f"-o {out}: folder {out.parent} does not exist")
    say = None if args.json else (lambda m: print(f"export: {m}", file=sys.stderr))
    result = run_recipe(args.checkpoint, load_recipe(args.recipe), out, args.calib, progress=say,
                        parts_only=args.parts_only)
    rep = result.report
    wrote = f"the split graphs of {result.artifact}" if args.parts_only else f"{result.artifact} and its split graphs"
    lines = [f"wrote {wrote} ({result.size_bytes / 1e6:.2f} MB in {len(result.files)} files, recipe {result.recipe})",
             f"random inputs: max |logit diff| {rep['random_inputs']['max_abs_diff']:.2e}, "
             f"top-1 agreement {rep['random_inputs']['top1_agreement']:.1%}"]
    if "validation" in rep:
        v = rep["validation"]
        lines.append(f"validation ({v.get('clips', '?')} clips): max |logit diff| {v['max_abs_diff']:.2e}, top-1 "
                     f"agreement {v['top1_agreement']:.1%}, accuracy {v.get('exported_accuracy', float('nan')):.3f} "
                     f"(PyTorch FP32 {v.get('pytorch_fp32_accuracy', float('nan')):.3f})")
    _emit(args, {"artifact": str(result.artifact), "files": [str(f) for f in result.files],
                 "size_bytes": result.size_bytes, "report": rep}, "\n".join(lines))
    return 0


def _is_live(source: str) -> bool:
    from .stream.sources import is_gst, is_network

    return source.isdigit() or source == "mic" or is_gst(source) or is_network(source)


def _tag_line(label: str, events, objects, width: int = 3) -> str:
    heard = ", ".join(f"{n} {p:.2f}" for n, p in events[:width]) or "-"
    seen = ", ".join(f"{n} {p:.2f}" for n, p in objects[:width]) or "-"
    return f"{label}  heard: {heard}  |  seen: {seen}"


def cmd_tag(args) -> int:
    from .tagging.tagger import Tagger

    tagger = Tagger(top_k=args.top, threads=args.threads, decoder=args.decoder)
    if len(args.sources) == 1 and _is_live(args.sources[0]):
        from .stream.state import StreamConfig

        source = args.sources[0]
        source = int(source) if source.isdigit() else None if source == "mic" else source
        cfg = StreamConfig(hop=args.hop, retries=args.retries, timeout=args.timeout)
        for w in tagger.stream(source, config=cfg, microphone=True if args.microphone else None):
            print(json.dumps({"end": round(w.end, 3), "events": w.events, "objects": w.objects}) if args.json else
                  _tag_line(f"{w.end:8.2f}s", w.events, w.objects), flush=True)
        return 0
    ok = failed = 0
    for name, tags in tagger.tag_many(args.sources):
        if isinstance(tags, Exception):
            failed += 1
            _say(json.dumps({"path": name, "error": str(tags)}) if args.json else
                 f"{_one_line(name)}: error: {_one_line(str(tags).removeprefix(f'{name}: '))}",
                 None if args.json else sys.stderr)
            continue
        ok += 1
        if args.json:
            _say(json.dumps({"path": name, **tags.to_dict()}))
            continue
        lines = [_tag_line(f"{_one_line(name)}:", tags.events, tags.objects)]
        lines += [f"  note: {_one_line(n)}" for n in tags.notes]
        if args.timeline:
            lines += [_tag_line(f"  {w.start:g}-{w.end:g} s", w.events, w.objects) for w in tags.windows]
        _say("\n".join(lines))
    if ok + failed > 1 or failed:
        print(f"tag: {ok} ok, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


def cmd_adapt(args) -> int:
    from .tagging.fewshot import adapt

    say = None if args.json else (lambda m: print(f"adapt: {m}", file=sys.stderr))
    r = adapt(args.folder, args.out, add=args.add, threads=args.threads, progress=say)
    e = r.evaluation
    width = max(len(label) for label in r.labels)
    table = [f"  {'':<{width}}  " + " ".join(f"{label[:8]:>8}" for label in r.labels)]
    table += [f"  {label:<{width}}  " + " ".join(f"{n:>8}" for n in row) for label, row in zip(r.labels, e.confusion)]
    lines = [f"adapt: {len(r.labels)} labels, {r.recordings} recordings, {r.windows} windows in {r.seconds:.1f} s",
             "leave-one-recording-out accuracy: " + ", ".join(f"{k} {v.accuracy:.1%}" for k, v in r.evaluations.items())
             + f" -> head: {r.head}",
             "confusion (rows: the recording's label, columns: what it was called):", *table,
             f"unknown: below {r.unknown_below:.1%} (95 % of the recordings recognised in the check were above it)",
             f"wrote {r.artifact} (its split graphs and {r.artifact.stem}.support.safetensors); try: avsc-edge predict "
             f"{r.artifact} CLIP"]
    _emit(args, {"artifact": str(r.artifact), "labels": r.labels, "recordings": r.recordings, "windows": r.windows,
                 "head": r.head, "unknown_below": r.unknown_below, "seconds": r.seconds,
                 "evaluations": {k: dataclasses.asdict(v) for k, v in r.evaluations.items()}}, "\n".join(lines))
    return 0


def cmd_stream(args) -> int:
    from .classifier import Classifier
    from .runtime.prediction import model_notes
    from .stream.state import StreamConfig

    clf = Classifier(args.model, device=args.device, threads=args.threads, decoder=args.decoder)
    source = int(args.source) if args.source.isdigit() else None if args.source == "mic" else args.source
    if source is None and not args.microphone:
        raise ConfigError("'mic' streams the microphone: add --microphone (and a camera index instead of 'mic' "
                          "to add a camera)")
    cfg = StreamConfig(hop=args.hop, smoothing=args.smoothing, retries=args.retries, timeout=args.timeout)
    mic = True if args.microphone else None
    if not args.json:
        for note in model_notes(clf.info):
            print(f"stream: note: {note}", file=sys.stderr)
    for p in clf.stream(source, realtime=args.realtime, config=cfg, microphone=mic):
        if args.json:
            print(json.dumps({"timestamp": round(p.timestamp, 3), "label": p.label,
                              "confidence": round(p.confidence, 4),
                              "modalities": list(p.modalities), "latency_ms": round(p.timings["total_ms"], 2),
                              "notes": p.notes}), flush=True)
        else:
            notes = f"  [{'; '.join(p.notes)}]" if p.notes else ""
            print(f"{p.timestamp:8.2f}s  {p.label:<18} {p.confidence:6.1%}  {'+'.join(p.modalities) or '-':<12} "
                  f"{p.timings['total_ms']:6.1f} ms{notes}", flush=True)
    return 0


def _bench_groups(args) -> list:
    """The artifacts to compare and the datasets to measure on (see :mod:`avsc_edge.bench.defaults`)."""
    from .bench.defaults import BenchGroup, default_groups

    if args.artifacts:
        if not args.data:
            raise ConfigError("pass --data DATASET (a TAU-layout folder) with explicit artifacts")
        return [BenchGroup(args.artifacts, args.data)]
    out = Path(args.demo_dir) if args.demo_dir else default_demo_dir()
    groups = default_groups(out, lambda s: print(s, file=sys.stderr), progress=not args.json, base=not args.no_base,
                            long_gop=not args.data)
    return [BenchGroup(g.artifacts, args.data or g.data, "" if args.data else g.clip_kind) for g in groups]


def _bench_outputs(args, artifacts: list[str]) -> dict:
    """--json / --markdown / --plot checked before any work: not a model file, of the right kind."""
    from .formats.artifact import artifact_files
    from .runtime.outputs import PLOT_SUFFIXES, output_path

    inputs = [f for a in artifacts for f in artifact_files(a)]
    wanted = {"json": (args.json if args.json != "-" else None, None), "markdown": (args.markdown, None),
              "plot": (args.plot if not args.kernels else None, PLOT_SUFFIXES)}
    return {k: output_path(path, f"--{k}", inputs, "a file of a benchmarked model", suffixes)
            for k, (path, suffixes) in wanted.items() if path}


def _progress_line(message: str) -> None:
    print(message, file=sys.stderr)


def cmd_bench(args) -> int:
    from .bench.machine import describe_machine
    from .runtime.outputs import write_output

    if args.kernels and args.plot:
        raise ConfigError("--plot draws the model rows; --kernels has no plot (use --json or --markdown)")
    outputs = _bench_outputs(args, args.artifacts)
    machine = describe_machine()
    if args.kernels:
        from .bench.kernels import markdown, run

        rows = run()
        text = markdown(rows)
        payload = {"machine": machine, "kernels": [r.__dict__ | {"speedup": r.speedup} for r in rows]}
    else:
        from .bench.e2e import bench_artifact, plot, rows_json, table
        from .data import TauDataset

        groups = _bench_groups(args)
        outputs = _bench_outputs(args, [a for g in groups for a in g.artifacts])
        rows = []
        for group in groups:
            clips = TauDataset(group.data).clips(args.split)[: args.clips]
            if not clips:
                raise ConfigError(f"{group.data}: no clips in split {args.split!r}")
            labels = np.array([SCENES.index(c.label) for c in clips])
            for batch in args.batch:
                for a in group.artifacts:
                    rows.append(bench_artifact(a, clips, labels, batch, args.repeats, threads=args.threads,
                                               workers=args.workers, clip_kind=group.clip_kind,
                                               progress=None if args.json == "-" else _progress_line))
        text = table(rows)
        payload = rows_json(rows, machine)
        if "plot" in outputs:
            plot(rows, outputs["plot"])
    if "markdown" in outputs:
        write_output(outputs["markdown"], text + "\n")
    if "json" in outputs:
        write_output(outputs["json"], json.dumps(payload, indent=1, default=str))
    if args.json == "-":
        print(json.dumps(payload, indent=1, default=str))
    else:
        print(f"machine: {machine['cpu']}, {machine['cores']} cores, GPU: {machine['gpu'] or 'none'}")
        print(text)
    return 0


def _cuda_line(kernels: dict) -> str:
    if not kernels.get("cuda_compiled"):
        return "CUDA kernels: not built (CPU-only build; README: CUDA build)"
    devices = kernels.get("cuda_devices", 0)
    return (f"CUDA kernels: built for {kernels.get('cuda_archs', '?')}; "
            + (f"{devices} device(s) visible" if devices else "no CUDA device visible (CPU paths only)"))


def cmd_info(args) -> int:
    import platform
    from importlib import metadata

    from . import kernels
    from .media.decoders import nvdec_available
    from .stream.gst import gst_info
    from .threads import available_cores
    from .version import __version__

    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    try:
        import onnxruntime as ort

        providers = ort.get_available_providers()
    except ImportError:
        providers = []
    packages = {p: version(p) for p in ("numpy", "onnxruntime", "onnxruntime-gpu", "av", "opencv-python-headless",
                                        "torch", "onnx", "tensorrt", "safetensors")}
    payload = {"avsc_edge": __version__, "python": platform.python_version(), "machine": platform.machine(),
               "cores": available_cores(), "packages": {k: v for k, v in packages.items() if v},
               "onnxruntime_providers": providers, "nvdec": nvdec_available(), "kernels": kernels.info(),
               **gst_info()}
    jetson = payload.get("jetson_elements") or {}
    gst = (f"GStreamer {payload['gstreamer'].split()[-1]}; Jetson elements: "
           + (", ".join(n for n, ok in jetson.items() if ok) or "none") if payload["gstreamer"] else
           "GStreamer: not installed (gst: sources need it; README: GStreamer)")
    text = "\n".join([f"avsc-edge {__version__} (python {payload['python']}, {payload['machine']}, "
                       f"{payload['cores']} cores)",
                       "packages: " + ", ".join(f"{k} {v}" for k, v in payload["packages"].items()),
                       "onnxruntime providers: " + (", ".join(providers) or "none (onnxruntime missing)"),
                       f"video decoding: {'NVDEC + CPU' if payload['nvdec'] else 'CPU (no NVDEC)'}", gst,
                       _cuda_line(payload["kernels"]),
                       "kernels: " + json.dumps(payload["kernels"])])
    _emit(args, payload, text)
    return 0


def cmd_explain(args) -> int:
    from .classifier import Classifier
    from .formats.artifact import artifact_files
    from .media import sample_frames
    from .runtime.outputs import PLOT_SUFFIXES, output_path

    out = output_path(args.out, "--out", [args.clip, *artifact_files(args.model)], "an input", PLOT_SUFFIXES)
    clf = Classifier(args.model, threads=args.threads)
    pred = clf.predict(args.clip)
    frames = None
    duration = max([w["start"] for w in pred.windows] or [0.0]) + clf.info.clip_config.seconds
    times = list((np.arange(args.frames) + 0.5) * duration / args.frames)
    try:
        frames, _ = sample_frames(args.clip, times, size=160)
    except AVSCError as exc:   # an audio-only file: the picture has no frame strip
        logging.getLogger("avsc_edge").debug("no frames for the strip: %s", exc)
    pred.plot(out, frames, title=f"{Path(args.clip).name}: {pred}", frame_times=times)
    _emit(args, {"out": str(out), "prediction": pred.to_dict()},
          f"{Path(args.clip).name}: {pred}\n" + "".join(f"  {e} -> {o} ({w:.2f})\n" for e, o, w in pred.attention)
          + "".join(f"note: {n}\n" for n in pred.notes) + f"picture: {out}")
    return 0


def cmd_demo(args) -> int:
    from .training.demo import run_demo

    summary = run_demo(Path(args.out) if args.out else default_demo_dir(), clips=args.clips, epochs=args.epochs,
                       progress=not args.json, log=(lambda s: None) if args.json else print)
    if args.json:
        print(json.dumps(summary, indent=1, default=str))
    return 0


MAX_STRIP_FRAMES = 64


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in ``low..high`` (argparse prints the one-line usage error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value
    return parse


def int_list(low: int, high: int) -> Callable[[str], list[int]]:
    """An argparse type: comma-separated integers, each in ``low..high`` (e.g. ``1,8``)."""
    one = bounded_int(low, high)

    def parse(text: str) -> list[int]:
        return [one(part.strip()) for part in text.split(",")]
    return parse


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="avsc-edge", description="Audio-visual scene classification for the edge.",
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="examples:\n" + "\n".join(f"  {v}" for v in EXAMPLES.values()))
    ap.add_argument("--debug", action="store_true", help="show tracebacks on errors (accepted anywhere on the line)")
    sub = ap.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=f"example:\n  {EXAMPLES[name]}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(fn=fn, parser=p)
        return p

    p = add("demo", cmd_demo, "synthesise data, train the tiny model, evaluate and classify a clip (CPU, minutes)")
    p.add_argument("--out", help=f"work folder (default: {default_demo_dir()})")
    p.add_argument("--clips", type=int, default=300, help="synthetic clips (4 s each)")
    p.add_argument("--epochs", type=int, default=30)

    p = add("synth", cmd_synth, "write a synthetic dataset in the TAU Urban Audio-Visual Scenes 2021 layout")
    p.add_argument("--out", required=True)
    p.add_argument("--profile", default="small", choices=["small", "tau", "phone", "longgop"],
                   help="small: 128x96 5-fps clips (fast); tau: 1280x720 30-fps H.264 with a keyframe every 2 s, "
                        "B-frames, ~5 Mbit/s, 10-s clips, like TAU Urban Audio-Visual Scenes 2021 or a camera; phone: "
                        "1280x720 24-fps H.264 + MP3, a keyframe per second, no B-frames; longgop: "
                        "1280x720 24-fps H.264 + MP3 with one keyframe per 10.4 s, as web pipelines re-encode video")
    p.add_argument("--clips", type=int, default=100,
                   help="clips, at least 20 (two per scene: every scene in the train and the evaluate split); "
                        "30 %% of each scene's clips are for evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duration", type=float, help="seconds per clip (default: 10)")
    p.add_argument("--width", type=int, help="frame width (default: the profile's)")
    p.add_argument("--height", type=int)
    p.add_argument("--fps", type=float)
    p.add_argument("--congruence", action="store_true", help="the congruence benchmark: four scene pairs that differ "
                   "only in which event goes with which object (neither modality alone separates them)")

    p = add("train", cmd_train, "train the CEOA + SF model on a TAU-layout dataset (fold1_train)")
    p.add_argument("dataset")
    p.add_argument("--out", required=True, help="folder for model.safetensors and the training state")
    p.add_argument("--preset", default="tiny", choices=["tiny", "edge", "base"],
                   help="tiny: tests and demos; edge: EfficientAT mn + MobileNetV3 (CPUs, Jetsons); base: the "
                   "paper's CNN14 + ResNet-18")
    p.add_argument("--audio-width", type=float, help="edge: the mn audio backbone's width (0.4 = mn04_as, "
                   "1.0 = mn10_as; default the preset's)")
    p.add_argument("--variant", default="av_ceoa_sf", choices=["audio", "visual", "av", "av_ceoa", "av_ceoa_sf"])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, help="clips per step (default: 16 for edge, which keeps its training "
                   "under 2 GB of memory on 10-s clips; 32 otherwise)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=float, help="model window in seconds (default: the preset's, 10)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/train_state.safetensors (same settings)")
    p.add_argument("--audio-weights", help="the audio backbone's checkpoint (base: PANNs Cnn14.pth; edge: the shipped "
                   "mn04_as by default, or EfficientAT's mn10_as .pt with --audio-width 1.0), and its tagger head for "
                   "presence on datasets without tags")
    p.add_argument("--visual-weights", help="the visual backbone's checkpoint (base: torchvision resnet18.pth; edge: "
                   "the shipped MobileNetV1 0.25 by default), and its ImageNet head as the object tagger")
    p.add_argument("--events", default="top:16", help="event slots when the taggers supervise presence: top:K "
                   "(most present AudioSet classes on the training set), comma-separated names, or @FILE")
    p.add_argument("--objects", default="top:16", help="object slots likewise (ImageNet classes)")
    p.add_argument("--from-scratch", action="store_true", help="edge: start from random weights instead of the "
                   "genuine mn04_as and MobileNetV1 weights the package ships")
    p.add_argument("--freeze-epochs", type=int, default=0, help="keep the pretrained backbones frozen this many epochs")
    p.add_argument("--backbone-lr-scale", type=float, default=1.0, help="then fine-tune them at lr x this")
    p.add_argument("--keep-activations", action="store_true",
                   help="keep the MobileNets' activations for the backward pass instead of recomputing them: "
                        "~30 %% faster, ~1.6 GB more memory for edge at batch 32 (same model either way)")

    p = add("eval", cmd_eval, "accuracy, class-wise accuracy and log-loss of a checkpoint on a split")
    p.add_argument("checkpoint")
    p.add_argument("dataset")
    p.add_argument("--split", default="evaluate", choices=["train", "evaluate", "all"])
    p.add_argument("--plot", help="write the confusion matrix to this PNG")

    p = add("predict", cmd_predict, "classify media files, globs, folders or a TAU dataset with a model artifact; "
            "results are written as they come (--json: one JSON object per line)")
    p.add_argument("model", help=".onnx, .plan or .safetensors")
    p.add_argument("inputs", nargs="+", help="files, globs ('clips/*.mp4'), folders (same-stem .wav + video paired), "
                   "or a TAU dataset root")
    p.add_argument("--csv", help="write the DCASE submission CSV here ('-' for stdout)")
    p.add_argument("--errors", help="write failed inputs here (default with --csv FILE: FILE.errors.tsv)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "tensorrt"],
                   help="cpu, cuda (PyTorch, ONNX Runtime) or tensorrt (ONNX Runtime's provider); .plan runs on cuda")
    p.add_argument("--workers", type=int, default=2, help="decoding threads")
    p.add_argument("--threads", type=int, help="inference threads (default: the usable cores)")
    p.add_argument("--batch-size", type=int,
                   help="windows per inference call (default: 1 on a CPU, where batching only costs memory; 8 on a GPU)")
    p.add_argument("--decoder", choices=["auto", "cpu", "nvdec"], help="video decoder (default: auto)")
    p.add_argument("--strict", action="store_true", help="fail when a modality is missing")
    p.add_argument("--timeline", action="store_true", help="also print each window's label (plain output)")

    p = add("export", cmd_export, "export a checkpoint by recipe (ONNX FP32/INT8/FP16, TensorRT plans)")
    p.add_argument("checkpoint", nargs="?")
    p.add_argument("--recipe", help="recipe name (see --list) or path to a recipe JSON")
    p.add_argument("--calib", help="TAU-layout dataset: calibration clips (train) and the parity report (evaluate)")
    p.add_argument("-o", "--output", help="output file (.onnx or .plan)")
    p.add_argument("--list", action="store_true", help="list the available recipes")
    p.add_argument("--parts-only", action="store_true",
                   help="write only the split graphs the SDK runs, not the full graph for other runtimes: the "
                        "weights are stored once (about half the size); -o still names the model")

    p = add("adapt", cmd_adapt, "learn your own places from a few recordings, on this device: a folder per label "
            "(at least 3 recordings each, audio or video); writes a model predict/stream/bench/explain/export take")
    p.add_argument("folder", help="FOLDER/<label>/<recordings>")
    p.add_argument("--out", required=True, help="the model to write (NAME.onnx; its split graphs go beside it)")
    p.add_argument("--add", action="store_true", help="put FOLDER's labels and recordings into the model at --out")
    p.add_argument("--threads", type=int)

    p = add("tag", cmd_tag, "what is heard and seen: AudioSet events and ImageNet objects per window, from the genuine "
            "taggers inside the package (EfficientAT mn04_as, MobileNetV1 0.25; no model to bring)")
    p.add_argument("sources", nargs="+", help="files, globs, folders; or one live source: URL, gst:..., camera index, "
                   "'mic' (with --microphone)")
    p.add_argument("--top", type=bounded_int(1, 100), default=5, help="classes per window and per recording")
    p.add_argument("--timeline", action="store_true", help="also print each window's tags (plain output)")
    p.add_argument("--hop", type=float, default=2.0, help="live sources: seconds between tag lines")
    p.add_argument("--microphone", action="store_true", help="with a camera index or 'mic': capture the microphone")
    p.add_argument("--retries", type=int, default=5, help="live network sources: re-opens in all")
    p.add_argument("--timeout", type=float, default=10.0, help="live network sources: seconds without data")
    p.add_argument("--decoder", choices=["auto", "cpu", "nvdec"], help="video decoder (default: auto)")
    p.add_argument("--threads", type=int)

    p = add("stream", cmd_stream, "classify a file, URL or camera as a live stream: one line per hop")
    p.add_argument("source", help="file, rtsp:// / http:// / udp:// URL, camera index (0), 'mic', or a GStreamer "
                   "source: 'gst:URI-or-path', 'gst:camera:0', or 'gst-pipeline:DESCRIPTION' (trusted input, like a "
                   "shell command) with elements named video / audio")
    p.add_argument("--microphone", action="store_true", help="with a camera index: also capture the default "
                   "microphone (needs sounddevice)")
    p.add_argument("--model", required=True, help="any artifact: .safetensors, .onnx, .plan")
    p.add_argument("--hop", type=float, default=1.0, help="seconds between predictions")
    p.add_argument("--smoothing", type=float, default=0.0, help="exponential smoothing of scores, 0..1")
    p.add_argument("--realtime", action="store_true", help="pace a file to its timestamps")
    p.add_argument("--retries", type=int, default=5, help="re-open a lost network source at most this many times in "
                   "all (waiting 1, 2, 4, ... s after failures in a row)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds a network source may send nothing before it "
                   "counts as lost (and re-opened, within --retries)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "tensorrt"])
    p.add_argument("--decoder", choices=["auto", "cpu", "nvdec"], help="video decoder (default: auto)")
    p.add_argument("--threads", type=int)

    p = sub.add_parser("bench", help="benchmark backends x precisions x batch sizes (or the kernels) on this device",
                       description="Benchmark every artifact decode-to-label on a validation set. Default: the demo's "
                                   "tiny models, the edge and the paper-sized base presets (untrained: latency "
                                   "only), each as PyTorch, ONNX FP32 and ONNX INT8, on TAU-like 1280x720 30-fps "
                                   "clips.\n\nWhich preset: tiny (16 kHz, 64-px frames, small CNNs) for tests, demos "
                                   "and a first look; edge (EfficientAT mn04 + MobileNetV1 0.25, genuine weights inside, "
                                   "~10x less compute than base) for CPUs and Jetsons that share their GPU; base "
                                   "(the paper's CNN14 + ResNet-18) for accuracy on a GPU or a server.",
                       epilog=f"example:\n  {EXAMPLES['bench']}\n  avsc-edge bench --kernels",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(fn=cmd_bench, parser=p)
    p.add_argument("artifacts", nargs="*", help=".safetensors / .onnx files (default: the demo's)")
    p.add_argument("--data", help="TAU-layout dataset for accuracy and timing (default: the demo's)")
    p.add_argument("--split", default="evaluate")
    p.add_argument("--clips", type=bounded_int(1, 100_000), default=30)
    p.add_argument("--batch", type=int_list(1, 1024), default=[1], help="comma-separated batch sizes, e.g. 1,8")
    p.add_argument("--repeats", type=bounded_int(1, 1000), default=2,
                   help="passes over the clips (after one warm-up batch)")
    p.add_argument("--threads", type=int)
    p.add_argument("--demo-dir", help="where the demo models, the edge and base exports and the TAU-like clips live / "
                   "are built")
    p.add_argument("--no-base", action="store_true", help="skip the base-preset rows (faster first run; edge rows stay)")
    p.add_argument("--workers", type=int, default=2, help="decoding threads for batch > 1")
    p.add_argument("--json", nargs="?", const="-", help="write rows + machine record (to FILE, or stdout)")
    p.add_argument("--markdown", help="write the table as Markdown")
    p.add_argument("--plot", help="write latency vs accuracy as PNG")
    p.add_argument("--kernels", action="store_true", help="run the kernel benchmarks instead")

    p = add("explain", cmd_explain, "classify a clip and draw why: frames, scenes over time, what was heard and "
            "seen, and which seen object each heard event attends to (PNG; needs the [plot] extra)")
    p.add_argument("clip")
    p.add_argument("--model", required=True, help="any artifact: .safetensors, .onnx, .plan")
    p.add_argument("--out", default="explain.png", help="the PNG to write")
    p.add_argument("--frames", type=bounded_int(1, MAX_STRIP_FRAMES), default=8,
                   help=f"frames in the strip (1..{MAX_STRIP_FRAMES})")
    p.add_argument("--threads", type=int)

    add("info", cmd_info, "versions and which kernel implementations are active")
    return ap


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv   # accepted anywhere on the line
    argv = [a for a in argv if a != "--debug"]
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:   # the subcommand's usage, not the top level's: `train --data` is a train mistake
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.debug = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(message)s")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)   # like Ctrl-C: clean-up runs, results are kept
    try:
        return args.fn(args)
    except BrokenPipeError:
        # the reader went away (`avsc-edge predict ... | head -1`): stop quietly, as shell tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except AVSCError as exc:
        if debug:
            raise
        print(f"avsc-edge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, MemoryError) as exc:
        if debug:
            raise
        print(f"avsc-edge {args.command}: error: {type(exc).__name__}: {exc} (--debug for a traceback)", file=sys.stderr)
        return 1
    except Exception as exc:
        # Ctrl-C / SIGTERM that landed inside an extension's initialisation surfaces as its ImportError
        if isinstance(exc.__context__, KeyboardInterrupt) and not debug:
            print("interrupted", file=sys.stderr)
            return 130
        raise


if __name__ == "__main__":
    raise SystemExit(main())
