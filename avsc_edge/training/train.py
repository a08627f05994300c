"""Training of the reference model: AdamW + warm-up/cosine schedule, mixed precision on GPUs,
seeds, progress bars, safetensors checkpoints, resume, and DDP through ``torchrun``.

Distributed: ``torchrun --nproc_per_node=N -m avsc_edge.cli train DATA --out DIR`` (each rank
takes every N-th batch index of the shuffled order; gradients are all-reduced by DDP).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import ArtifactInfo, ClipConfig, FeatureConfig, ModelConfig, PretrainedConfig, TrainConfig
from ..data import TauDataset
from ..data.ceilings import dataset_ceilings
from ..data.featureset import FeatureSet, load_featureset, split_clips
from ..errors import ArtifactError, ConfigError
from ..formats.artifact import META_KEY
from ..formats.checkpoint import save_checkpoint, write_safetensors
from ..labels import EVENTS, OBJECTS, SCENES
from ..version import __version__
from .evaluation import evaluate_model

log = logging.getLogger("avsc_edge")
STATE_FILE = "train_state.safetensors"


@dataclass
class TrainResult:
    checkpoint: Path
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _dist():
    """(rank, world_size), initialising torch.distributed when launched by torchrun."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if "RANK" not in os.environ:
        return 0, 1
    if not dist.is_initialized():
        import torch

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


def lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def artifact_info(features: FeatureConfig, clip: ClipConfig, model: ModelConfig, metrics: dict | None = None,
                  events: tuple[str, ...] = EVENTS, objects: tuple[str, ...] = OBJECTS) -> ArtifactInfo:
    return ArtifactInfo(sdk_version=__version__, features=features.to_dict(), clip=clip.to_dict(),
                        model=model.to_dict(), labels=SCENES, events=tuple(events), objects=tuple(objects),
                        precision="fp32", metrics=metrics or {})


def data_provenance(dataset) -> dict:
    """What a model learnt from, recorded in its artifact: the dataset's folder name and whether
    it is the synthetic generator's (its ground-truth sidecar is there)."""
    from ..data.synth import GROUND_TRUTH_FILE

    if dataset is None:
        return {"dataset": None, "synthetic": None}
    root = Path(dataset.root if isinstance(dataset, TauDataset) else dataset)
    return {"dataset": root.resolve().name, "synthetic": (root / GROUND_TRUTH_FILE).is_file()}


# -- training state: one file, one generation -------------------------------------------------
def _run_config(features, clip, model, train_cfg, pretrained) -> dict:
    """What a resumed run must share with the run it continues."""
    same_math = {k: v for k, v in train_cfg.to_dict().items() if k != "recompute_activations"}
    return {"features": features.to_dict(), "clip": clip.to_dict(), "model": model.to_dict(),
            "train": same_math, "pretrained": pretrained.to_dict() if pretrained else None}


def _differences(saved: dict, now: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b and not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and list(a) == list(b)):
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def _check_same_run(saved: dict, run: dict, out: Path, skip: tuple[str, ...] = ()) -> None:
    """A resumed run must continue the same run: refuse, naming the differences, otherwise."""
    now = json.loads(json.dumps({k: v for k, v in run.items() if k not in skip}))
    diff = _differences({k: v for k, v in saved.get("run", {}).items() if k not in skip}, now)
    if diff:
        raise ConfigError(f"{out}: --resume with other settings than the run it continues ({'; '.join(diff[:4])}); "
                          "repeat the original settings or train into a new folder")


def _save_state(path: Path, model, opt, sched, epoch: int, history: list[dict], rng: dict, run: dict,
                vocab: dict) -> None:
    """Weights, optimizer, scheduler, epoch, history, RNG states and the run's configs in ONE file,
    written atomically: a kill at any moment leaves the previous generation or this one, whole."""
    import torch

    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"opt.{pid}.{k}"] = v.contiguous().cpu()
            else:
                scalars[f"{pid}.{k}"] = v
    tensors.update({f"rng.{k}": v for k, v in rng.items()})
    tensors.update({f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()})
    meta = {"generation": epoch, "epoch": epoch, "param_groups": sd["param_groups"], "scalars": scalars,
            "history": history, "run": run, "vocab": vocab,
            "scheduler": {k: v for k, v in sched.state_dict().items() if k != "lr_lambdas"}}
    write_safetensors(path, tensors, {META_KEY: json.dumps(meta)})


def _read_state(path: Path) -> tuple[dict, dict[str, "object"]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads(f.metadata()[META_KEY])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as exc:
        raise ArtifactError(f"{path}: unreadable training state ({exc}); start again without --resume") from exc
    return meta, tensors


def _restore(meta: dict, tensors: dict, model, opt, sched) -> tuple[int, list[dict], dict]:
    state: dict = {}
    rng = {}
    for key, v in tensors.items():
        kind, rest = key.split(".", 1)
        if kind == "rng":
            rng[rest] = v
        elif kind == "opt":
            pid, name = rest.split(".", 1)
            state.setdefault(int(pid), {})[name] = v
    for key, v in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    sched.load_state_dict({**sched.state_dict(), **meta["scheduler"]})
    return meta["epoch"], meta["history"], rng


# -- presence: what semantic fusion pools with and CEOA gates with ------------------------------
@dataclass
class Presence:
    events: tuple[str, ...]
    objects: tuple[str, ...]
    source: str                     # "dataset tags", "teacher taggers" or "none"


def resolve_presence(train_fs: FeatureSet, eval_fs: FeatureSet, model_cfg: ModelConfig, features: FeatureConfig,
                     pretrained: PretrainedConfig | None, device: str, log=None,
                     tagger_frames=None) -> tuple[ModelConfig, Presence]:
    """The slot vocabulary and presence targets, in order of preference: the dataset's own tags
    (the synthetic sidecar), else soft pseudo-labels from the pretrained taggers (PANNs on the
    audio, an ImageNet ResNet on the frames; the vocabularies are theirs, subset by
    ``pretrained.events`` / ``objects``), else none: then the variants that rest on presence (CEOA,
    SF) are refused rather than trained on unsupervised logits. Sets the feature sets' tags.
    ``tagger_frames``: a callable giving the (train, evaluate) frames in the ImageNet eval geometry
    when the model's own frames are not (the tagger always sees what it was trained on)."""
    from .. import vocab

    if train_fs.event_tags is not None and train_fs.object_tags is not None:
        return model_cfg, Presence(EVENTS, OBJECTS, "dataset tags")
    heads = pretrained is not None and pretrained.audio_weights and pretrained.visual_weights
    if not heads:
        if model_cfg.uses_ceoa or model_cfg.uses_sf:
            raise ConfigError(f"variant {model_cfg.variant!r} needs event/object presence: this dataset has no tags, so "
                              "pass the pretrained taggers (--audio-weights Cnn14.pth --visual-weights resnet18.pth) "
                              "whose predictions supervise it, or train variant 'av'")
        return model_cfg, Presence(tuple(f"event_{i}" for i in range(model_cfg.n_events)),
                                   tuple(f"object_{i}" for i in range(model_cfg.n_objects)), "none")
    from ..model.taggers import load_audio_tagger, load_image_tagger, teacher_presence

    audio = load_audio_tagger(pretrained.audio_weights, model_cfg, features.n_mels)
    image = load_image_tagger(pretrained.visual_weights, model_cfg)
    if log:
        log("presence: pseudo-labels from the pretrained taggers")
    train_frames, eval_frames = tagger_frames() if tagger_frames else (train_fs.frames, eval_fs.frames)
    tr_e, tr_o = teacher_presence(train_fs.log_mel, train_frames, audio, image, device=device)
    ev_e, ev_o = teacher_presence(eval_fs.log_mel, eval_frames, audio, image, device=device)
    names_e, names_o = vocab.load("audioset"), vocab.load("imagenet")
    if tr_e.shape[1] != len(names_e) or tr_o.shape[1] != len(names_o):
        raise ArtifactError(f"the taggers predict {tr_e.shape[1]} events / {tr_o.shape[1]} objects; the AudioSet and "
                            f"ImageNet vocabularies have {len(names_e)} / {len(names_o)}")
    ie, io = vocab.choose(names_e, pretrained.events, tr_e), vocab.choose(names_o, pretrained.objects, tr_o)
    train_fs.event_tags, train_fs.object_tags = tr_e[:, ie].astype(np.float32), tr_o[:, io].astype(np.float32)
    eval_fs.event_tags, eval_fs.object_tags = ev_e[:, ie].astype(np.float32), ev_o[:, io].astype(np.float32)
    cfg = dataclasses.replace(model_cfg, n_events=len(ie), n_objects=len(io))
    return cfg, Presence(tuple(names_e[i] for i in ie), tuple(names_o[i] for i in io), "teacher taggers")


def padding_note(ds: TauDataset, clip: ClipConfig) -> str | None:
    """Say so when the dataset's clips (judged by the first) are shorter than the training window."""
    from ..media.container import probe

    first = split_clips(ds, "train")[0]
    duration = probe(first.audio).duration
    if duration is None or duration >= clip.seconds - 0.25:
        return None
    return (f"the clips are {duration:.1f} s long and the window {clip.seconds:g} s: each is padded with silence to "
            f"the window (--window {duration:.0f} trains on {duration:.0f}-s windows instead)")


def _backbones(model, pretrained: PretrainedConfig | None, log=None) -> list:
    """Load the pretrained backbones into ``model``; returns the modules that were loaded."""
    if pretrained is None:
        return []
    from ..backbones import audio_backbone, visual_backbone
    from ..model.pretrained import load_backbone

    loaded = []
    if pretrained.audio_weights and model.audio is not None:
        report = load_backbone(model.audio.backbone, pretrained.audio_weights, audio_backbone(model.cfg))
        loaded.append(model.audio.backbone)
        if log:
            log(f"audio backbone: {len(report.loaded)} tensors from {pretrained.audio_weights}")
    if pretrained.visual_weights and model.visual is not None:
        report = load_backbone(model.visual.backbone, pretrained.visual_weights, visual_backbone(model.cfg))
        loaded.append(model.visual.backbone)
        if log:
            log(f"visual backbone: {len(report.loaded)} tensors from {pretrained.visual_weights}")
    return loaded


def _freeze(modules: list, frozen: bool) -> None:
    """Frozen: no gradients and batch-norm statistics kept (eval mode)."""
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(not frozen)
        if frozen:
            m.eval()


def refresh_batch_norm(model, modules: list, log_mel: np.ndarray, frames: np.ndarray, batch: int, device: str) -> None:
    """Recompute the running statistics of the batch norms in ``modules`` over the whole training
    split with the current weights (a cumulative average, not the momentum's). MobileNets need it:
    with a few hundred steps their running statistics lag the weights, and evaluation collapsed
    (an edge model trained from scratch evaluated at chance while it fit its training batches)."""
    import torch

    norms = [m for mod in modules for m in mod.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if not norms:
        return
    was_training, momenta = model.training, [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum, m.training = None, True
    with torch.no_grad():
        for s in range(0, len(log_mel), batch):
            model(torch.from_numpy(log_mel[s:s + batch]).to(device), torch.from_numpy(frames[s:s + batch]).to(device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.train(was_training)


def stale_norm_backbones(model, frozen: list) -> list:
    """The MobileNet backbones of ``model`` that train this epoch (see :func:`refresh_batch_norm`)."""
    from ..model.mobilenet import MobileNetAudio, MobileNetVisual
    from ..model.mobilenet_v1 import MobileNetV1Visual

    parts = [b.backbone for b in (model.audio, model.visual) if b is not None]
    return [p for p in parts if isinstance(p, (MobileNetAudio, MobileNetVisual, MobileNetV1Visual)) and p not in frozen]


def train(dataset: str | os.PathLike | TauDataset, out_dir: str | os.PathLike, model_cfg: ModelConfig = ModelConfig(),
          train_cfg: TrainConfig = TrainConfig(), features: FeatureConfig = FeatureConfig(),
          clip: ClipConfig = ClipConfig(), resume: bool = False, progress: bool = True,
          device: str | None = None, on_epoch: Callable[[dict], None] | None = None,
          data: tuple[FeatureSet, FeatureSet] | None = None, pretrained: PretrainedConfig | None = None,
          log: Callable[[str], None] | None = None) -> TrainResult:
    """Train on ``fold1_train``, evaluate on ``fold1_evaluate``; writes ``out_dir/model.safetensors``
    and, each epoch, the training state (one file, atomically) that ``resume`` continues from.

    ``data`` may pass pre-extracted (train, evaluate) feature sets (the ablation benchmark reuses them).
    ``pretrained``: backbones to start from and taggers to supervise presence with (see
    :class:`~avsc_edge.config.PretrainedConfig`); with ``train_cfg.freeze_epochs`` the backbones stay
    frozen for the first epochs, then fine-tune at ``lr * backbone_lr_scale``.
    """
    import torch
    from tqdm import tqdm

    from ..model import AVSCModel
    from ..model.ceoa import pair_affinity
    from ..model.memory import recompute_activations

    rank, world = _dist()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"{out}: --out is a file; give a folder for the model and the training state")
    state_path = out / STATE_FILE
    saved = None
    if resume:
        if not state_path.is_file():
            raise ArtifactError(f"{out}: nothing to resume (no {STATE_FILE}); start without --resume")
        saved = _read_state(state_path)
        _check_same_run(saved[0], _run_config(features, clip, model_cfg, train_cfg, pretrained), out, skip=("model",))
    seed_everything(train_cfg.seed)
    tagger_frames = None
    if data is None:
        ds = dataset if isinstance(dataset, TauDataset) else TauDataset(dataset)
        for split in ("train", "evaluate"):
            split_clips(ds, split)   # both, before an hour of feature extraction
        if log:
            note = padding_note(ds, clip)
            if note:
                log(note)
        data = (load_featureset(ds, "train", features, clip, progress and rank == 0),
                load_featureset(ds, "evaluate", features, clip, progress and rank == 0))
        if clip.frame_geometry != "center_crop":
            imagenet_clip = dataclasses.replace(clip, frame_geometry="center_crop")
            tagger_frames = lambda: tuple(load_featureset(ds, split, features, imagenet_clip,  # noqa: E731
                                                          progress and rank == 0).frames
                                          for split in ("train", "evaluate"))
    train_fs, eval_fs = data
    model_cfg, presence = resolve_presence(train_fs, eval_fs, model_cfg, features, pretrained, device, log,
                                           tagger_frames)
    run = _run_config(features, clip, model_cfg, train_cfg, pretrained)
    if saved is not None:
        _check_same_run(saved[0], run, out)
    model = AVSCModel(model_cfg, features.n_mels)
    loaded = _backbones(model, pretrained, log)
    out.mkdir(parents=True, exist_ok=True)   # only now: a run refused above leaves no empty folder
    size = sum(p.numel() for p in model.parameters())
    if log and not loaded and size > 10_000_000:
        log(f"{size / 1e6:.0f} M parameters from random weights (no --audio-weights/--visual-weights): expect far "
            "more data and epochs than from the pretrained CNN14 and ResNet-18 (docs/real-data.md)")
    model.to(device)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[torch.cuda.current_device()] if device == "cuda" else None)
    backbone_ids = {id(p) for m in loaded for p in m.parameters()}
    groups = [{"params": [p for p in model.parameters() if id(p) not in backbone_ids], "lr": train_cfg.lr}]
    if loaded:
        groups.append({"params": [p for m in loaded for p in m.parameters()],
                       "lr": train_cfg.lr * train_cfg.backbone_lr_scale})
    opt = torch.optim.AdamW(groups, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_fs) / (train_cfg.batch_size * world))
    total = steps_per_epoch * train_cfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, total, train_cfg.warmup_epochs * steps_per_epoch))
    start_epoch, history = 0, []
    gen = torch.Generator().manual_seed(train_cfg.seed)
    if saved is not None:
        start_epoch, history, rng = _restore(*saved, model, opt, sched)
        torch.set_rng_state(rng["torch"])
        gen.set_state(rng["shuffle"])
    vocab_meta = {"events": list(presence.events), "objects": list(presence.objects), "presence": presence.source}
    provenance = {"presence": presence.source, "pretrained": pretrained.to_dict() if pretrained else None,
                  "data": data_provenance(dataset)}
    use_amp = train_cfg.amp and device == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    t = lambda a: None if a is None else torch.from_numpy(a).to(device)  # noqa: E731
    # which kinds of object go with which kinds of event: presence statistics of the training split
    has_tags = train_fs.event_tags is not None and train_fs.object_tags is not None
    pair_prior = t(pair_affinity(train_fs.event_tags, train_fs.object_tags)) if has_tags else None
    bar = tqdm(range(start_epoch, train_cfg.epochs), desc=f"train {model_cfg.variant}",
               disable=not progress or rank != 0, unit="epoch")
    for epoch in bar:
        model.train()
        frozen = loaded if epoch < train_cfg.freeze_epochs else []
        _freeze(loaded, bool(frozen))
        order = torch.randperm(len(train_fs), generator=gen).numpy()
        sums: dict[str, float] = {}
        n_batches = 0
        for b in range(steps_per_epoch):
            idx = order[(b * world + rank) * train_cfg.batch_size:(b * world + rank + 1) * train_cfg.batch_size]
            if len(idx) < 2:
                continue
            idx = np.sort(idx)
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp), \
                    recompute_activations(train_cfg.recompute_activations):
                o = net(t(train_fs.log_mel[idx]), t(train_fs.frames[idx]))
                loss, parts = model.loss(o, t(train_fs.labels[idx]),
                                         t(None if train_fs.event_tags is None else train_fs.event_tags[idx]),
                                         t(None if train_fs.object_tags is None else train_fs.object_tags[idx]),
                                         pair_prior)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], train_cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            n_batches += 1
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
        refresh_batch_norm(model, stale_norm_backbones(model, frozen), train_fs.log_mel, train_fs.frames,
                           train_cfg.batch_size, device)
        record = {"epoch": epoch + 1, "lr": sched.get_last_lr()[0],
                  **{f"loss_{k}": v / max(n_batches, 1) for k, v in sums.items()}}
        record["loss"] = sum(v for k, v in record.items() if k.startswith("loss_"))
        history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}")
        if rank == 0:
            _save_state(state_path, model, opt, sched, epoch + 1, history,
                        {"torch": torch.get_rng_state(), "shuffle": gen.get_state()}, run, vocab_meta)
            save_checkpoint(out / "model.safetensors", model.state_dict(),
                            artifact_info(features, clip, model_cfg, provenance, presence.events, presence.objects))
        if on_epoch:
            on_epoch(record)
    metrics = dict(provenance)
    branches = (("audio", model.audio), ("visual", model.visual))
    metrics["pretrained_loaded"] = [name for name, branch in branches
                                    if branch is not None and any(branch.backbone is m for m in loaded)]
    if rank == 0 and len(eval_fs):
        ceilings = None if dataset is None else dataset_ceilings(
            dataset if isinstance(dataset, TauDataset) else TauDataset(dataset))
        m, _ = evaluate_model(model, eval_fs, device)
        metrics["evaluate"] = {"accuracy": m.accuracy, "log_loss": m.log_loss}
        if ceilings is not None:
            metrics["ceilings"] = ceilings
        save_checkpoint(out / "model.safetensors", model.state_dict(),
                        artifact_info(features, clip, model_cfg, metrics, presence.events, presence.objects))
    return TrainResult(out / "model.safetensors", history, metrics)
