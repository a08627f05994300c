"""What ``avsc-edge bench`` measures when given no artifacts: the demo's tiny models (PyTorch, ONNX
FP32, ONNX INT8), the mobile-sized ``edge`` and the paper-sized ``base`` presets (untrained
weights: latency rows only),
exported the same ways, on TAU-like clips (1280x720 30-fps H.264 + AAC, ``synth --profile tau``);
then the INT8 edge and base models again on long-GOP clips (720p24, one keyframe per 10.4 s,
B-frames: ``synth --profile longgop``), where the keyframe shortcut is not enough;
TensorRT plans too where TensorRT is installed. Everything is built once into the demo folder."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

TAU_CLIPS = 20
CLIP_KINDS = {"tau": "720p30 GOP 2 s", "longgop": "720p24 GOP 10 s"}


@dataclass(frozen=True)
class BenchGroup:
    """Artifacts measured on one dataset."""
    artifacts: list[str]
    data: str
    clip_kind: str = ""


def synth_dataset(out: Path, log: Callable[[str], None], profile: str = "tau") -> Path:
    from ..data.synth import generated

    data = out / ("tau-data" if profile == "tau" else f"{profile}-data")
    log(f"bench: {TAU_CLIPS} {CLIP_KINDS.get(profile, profile)} clips in {data} (written on the first run)")
    if not generated(data, bench_clips(profile)):
        in_child(synth_step, data, profile, what=f"the {profile} clips")
    return data


def bench_clips(profile: str):
    from ..data.synth import SynthConfig

    return SynthConfig.profile(profile, clips=TAU_CLIPS, seed=1)


def tau_dataset(out: Path, log: Callable[[str], None]) -> Path:
    return synth_dataset(out, log, "tau")


def untrained_checkpoint(path: Path, name: str = "base", seed: int = 0) -> Path:
    """A checkpoint of the ``name`` preset with its initial (random) weights, marked untrained."""
    import torch

    from ..config import preset
    from ..formats.checkpoint import save_checkpoint
    from ..model import AVSCModel
    from ..training.train import artifact_info

    features, clip, model = preset(name)
    torch.manual_seed(seed)
    net = AVSCModel(model, features.n_mels).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(path, net.state_dict(), artifact_info(features, clip, model, {"untrained": True}))


def made_here(checkpoint: Path) -> bool:
    """Whether a cached checkpoint was written by this SDK version (an older one may not load: rebuild)."""
    from ..errors import AVSCError
    from ..formats.checkpoint import read_info
    from ..version import __version__

    try:
        return checkpoint.is_file() and read_info(checkpoint).sdk_version == __version__
    except AVSCError:
        return False


def forget(folder: Path, names: tuple[str, ...] = ("model.safetensors", "model.onnx", "model.int8.onnx")) -> None:
    """Remove cached models (and the split graphs beside the exports) so that they are built again."""
    from ..formats.artifact import artifact_files

    for name in names:
        for f in artifact_files(folder / name) if name.endswith(".onnx") else [folder / name]:
            f.unlink(missing_ok=True)


def exported(target: Path) -> bool:
    """An export at ``target``: its full graph, or all of its split graphs (``--parts-only``)."""
    from ..formats.artifact import part_paths

    return target.is_file() or all(p.is_file() for p in part_paths(target).values())


def exports(checkpoint: Path, data: Path, log: Callable[[str], None], recipes=("cpu-fp32", "cpu-int8")) -> list[str]:
    """The bench's ONNX models of a checkpoint, each exported (split graphs only: the bench runs
    those) in a process of its own when missing."""
    out = []
    for recipe in recipes:
        name = "model.onnx" if recipe == "cpu-fp32" else f"model.{recipe.split('-')[1]}.onnx"
        target = checkpoint.parent / name
        if not exported(target):
            log(f"bench: exporting {checkpoint} with {recipe}")
            in_child(export_step, checkpoint, recipe, target, data, what=f"the {recipe} export of {checkpoint}")
        out.append(str(target))
    return out


def in_child(step: Callable, *args, what: str) -> None:
    """Run a build ``step`` in a fresh interpreter: what it allocates goes back to the system when it
    ends instead of piling up in the bench (a first default run: 3.6 GB peak with every build in one
    process, 2.3 GB with each in its own; benchmarks/README.md R4.3)."""
    import multiprocessing

    from ..errors import AVSCError

    child = multiprocessing.get_context("spawn").Process(target=step, args=args)
    child.start()
    child.join()
    if child.exitcode != 0:
        raise AVSCError(f"bench: building {what} failed (exit code {child.exitcode}; its error is above)")


def say(message: str) -> None:
    """The build steps' log (they run in child processes): stderr, as the bench's own."""
    print(message, file=sys.stderr, flush=True)


def export_step(checkpoint: Path, recipe: str, target: Path, data: Path) -> None:
    from ..export.pipeline import run_recipe
    from ..export.recipes import load_recipe

    run_recipe(checkpoint, load_recipe(recipe), target, str(data), parts_only=True)


def demo_step(out: Path, progress: bool) -> None:
    from ..training.demo import run_demo

    run_demo(out, progress=progress, log=say)


def synth_step(data: Path, profile: str) -> None:
    from ..data.synth import generate_once

    generate_once(data, bench_clips(profile))


def tensorrt_plans(checkpoint: Path, data: Path, log: Callable[[str], None]) -> list[str]:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        log("bench: TensorRT not installed: no TensorRT rows")
        return []
    from ..export.pipeline import run_recipe
    from ..export.recipes import load_recipe

    plans = []
    for recipe in ("desktop-fp16", "desktop-int8"):
        plan = checkpoint.parent / f"model.{recipe}.plan"
        if not plan.is_file():
            run_recipe(checkpoint, load_recipe(recipe), plan, str(data))
        plans.append(str(plan))
    return plans


# measured on 2 cores (benchmarks/README.md R4.3): a first default run peaked at 2.3 GB (the base
# INT8 export), one with --no-base at 1.5 GB, later runs (everything cached) at 1.6 GB
BUILD_MEMORY = {"base": "about 2.3 GB of memory (peak) and ~3 min; --no-base skips it (first run then <= 1.5 GB)"}


def default_groups(out: Path, log: Callable[[str], None], progress: bool = True, base: bool = True,
                   long_gop: bool = True) -> list[BenchGroup]:
    """What the default benchmark measures, built in ``out`` when missing."""
    names = ["model.safetensors", "model.onnx", "model.int8.onnx"]
    if not made_here(out / "model.safetensors"):
        forget(out)
    if not all((out / n).is_file() for n in names):
        log(f"bench: building the demo models in {out} first (avsc-edge demo)")
        in_child(demo_step, out, progress, what="the demo models")
    data = tau_dataset(out, log)
    artifacts = [str(out / n) for n in names] + tensorrt_plans(out / "model.safetensors", data, log)
    for name in ("edge", "base") if base else ("edge",):
        ckpt = out / name / "model.safetensors"
        if not made_here(ckpt):
            forget(ckpt.parent)
            log(f"bench: the {name} preset ({PRESET_SUMMARY[name]}) with untrained weights")
            if name in BUILD_MEMORY:
                log(f"bench: building its exports once takes {BUILD_MEMORY[name]}")
            in_child(untrained_checkpoint, ckpt, name, what=f"the {name} checkpoint")
        artifacts += [str(ckpt), *exports(ckpt, data, log)]
    groups = [BenchGroup(artifacts, str(data), CLIP_KINDS["tau"])]
    if long_gop:
        int8 = [a for a in artifacts if a.endswith(("edge/model.int8.onnx", "base/model.int8.onnx"))]
        groups.append(BenchGroup(int8, str(synth_dataset(out, log, "longgop")), CLIP_KINDS["longgop"]))
    return groups


PRESET_SUMMARY = {"edge": "EfficientAT mn04 + MobileNetV1 0.25, their front ends",
                  "base": "CNN14 + ResNet-18 sized, paper front ends"}
