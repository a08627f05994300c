"""The pretrained path end to end on the synthetic benchmark (issue 12): backbones initialised from
checkpoints in the PANNs Cnn14 and torchvision ResNet layouts (random weights, the tiny preset's
widths: no real weights on our machines), through the CLI: train (freeze then fine-tune) -> export
INT8 -> predict. Then the same with the taggers supervising presence on the dataset stripped of its
tags (as real TAU is), with AudioSet/ImageNet slot names in the artifact and the prediction.

    python benchmarks/tagger_init_run.py --data out/demo/data --out out/tagger-run
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path


def tagger_files(out: Path) -> tuple[Path, Path]:
    import torch
    from safetensors.torch import save_file

    from avsc_edge.config import preset
    from avsc_edge.model.taggers import AudioTagger, ImageTagger

    features, _, m = preset("tiny")
    torch.manual_seed(0)
    audio = {k.removeprefix("backbone."): v for k, v in AudioTagger(features.n_mels, m.audio_channels).state_dict().items()}
    visual = {k.removeprefix("backbone."): v.contiguous()
              for k, v in ImageTagger(m.visual_channels, m.visual_blocks).state_dict().items()}
    torch.save({"model": audio}, out / "Cnn14_tiny.pth")
    save_file(visual, str(out / "resnet_tiny.safetensors"))
    return out / "Cnn14_tiny.pth", out / "resnet_tiny.safetensors"


def cli(*args):
    """The command's --json output: one object, or a list of them (one per line)."""
    res = subprocess.run([sys.executable, "-m", "avsc_edge.cli", *map(str, args), "--json"], capture_output=True, text=True)
    if res.returncode not in (0, 1):
        raise SystemExit(f"avsc-edge {args[0]} failed: {res.stderr[-1500:]}")
    text = res.stdout.strip()
    try:
        return json.loads(text)                       # one (indented) object
    except json.JSONDecodeError:
        rows = [json.loads(line) for line in text.splitlines() if line.startswith("{")]   # JSON lines
        return rows[0] if len(rows) == 1 else rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a synthetic TAU-layout dataset (e.g. the demo's)")
    ap.add_argument("--out", default="out/tagger-run")
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    audio, visual = tagger_files(out)
    untagged = out / "untagged"
    if not untagged.is_dir():
        shutil.copytree(args.data, untagged, ignore=shutil.ignore_patterns(".avsc_cache", "synth_ground_truth.json"))
    clip = sorted((Path(args.data) / "video").glob("*.mp4"))[-1]
    for name, data, extra in (("tags", args.data, []), ("taggers", untagged, ["--events", "top:12", "--objects", "top:12"])):
        run = out / name
        trained = cli("train", data, "--out", run, "--window", "4", "--epochs", args.epochs, "--audio-weights", audio,
                      "--visual-weights", visual, "--freeze-epochs", "5", "--backbone-lr-scale", "0.3", *extra)
        exported = cli("export", run / "model.safetensors", "--recipe", "cpu-int8", "--calib", data,
                       "-o", run / "model.int8.onnx")
        pred = cli("predict", run / "model.int8.onnx", clip)
        v = exported["report"]["validation"]
        print(f"{name}: presence from {trained['metrics']['presence']}; accuracy {trained['metrics']['evaluate']['accuracy']:.3f} "
              f"(PyTorch), INT8 {v['exported_accuracy']:.3f} (top-1 agreement {v['top1_agreement']:.1%}); "
              f"{clip.name} -> {pred['label']} {pred['confidence']:.2f}; events {[e[0] for e in pred['events']]}; "
              f"objects {[o[0] for o in pred['objects']]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
