"""Training of the reference model: AdamW + warm-up/cosine schedule, mixed precision on GPUs,
seeds, progress bars, safetensors checkpoints, resume, and DDP through ``torchrun``.

Distributed: ``torchrun --nproc_per_node=N -m avsc_edge.cli train DATA --out DIR`` (each rank
takes every N-th batch index of the shuffled order; gradients are all-reduced by DDP).
"""
from __future__ import annotations

import logging
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .artifact import META_KEY, atomic_write
from .checkpoint import save_checkpoint
from .config import ArtifactInfo, ClipConfig, FeatureConfig, ModelConfig, TrainConfig
from .data import TauDataset
from .data.featureset import FeatureSet, load_featureset
from .errors import ArtifactError
from .evaluation import evaluate_model
from .labels import EVENTS, OBJECTS, SCENES
from .version import __version__

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


def artifact_info(features: FeatureConfig, clip: ClipConfig, model: ModelConfig, metrics: dict | None = None) -> ArtifactInfo:
    return ArtifactInfo(sdk_version=__version__, features=features.to_dict(), clip=clip.to_dict(),
                        model=model.to_dict(), labels=SCENES, events=EVENTS, objects=OBJECTS,
                        precision="fp32", metrics=metrics or {})


def _save_state(path: Path, opt, sched, epoch: int, history: list[dict], rng: dict) -> None:
    """Optimizer state, epoch, history and RNG states (so a resumed run equals an uninterrupted one)."""
    import json

    import torch
    from safetensors.torch import save_file

    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{pid}.{k}"] = v.contiguous().cpu()
            else:
                scalars[f"{pid}.{k}"] = v
    tensors.update({f"rng.{k}": v for k, v in rng.items()})
    meta = {"epoch": epoch, "param_groups": sd["param_groups"], "scalars": scalars, "history": history,
            "scheduler": {k: v for k, v in sched.state_dict().items() if k != "lr_lambdas"}}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta)}))


def _load_state(path: Path, opt, sched) -> tuple[int, list[dict], dict]:
    import json

    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = json.loads(f.metadata()[META_KEY])
        state: dict = {}
        rng = {}
        for key in f.keys():
            pid, name = key.split(".", 1)
            if pid == "rng":
                rng[name] = f.get_tensor(key)
            else:
                state.setdefault(int(pid), {})[name] = f.get_tensor(key)
    for key, v in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    sched.load_state_dict({**sched.state_dict(), **meta["scheduler"]})
    return meta["epoch"], meta["history"], rng


def train(dataset: str | os.PathLike | TauDataset, out_dir: str | os.PathLike, model_cfg: ModelConfig = ModelConfig(),
          train_cfg: TrainConfig = TrainConfig(), features: FeatureConfig = FeatureConfig(),
          clip: ClipConfig = ClipConfig(), resume: bool = False, progress: bool = True,
          device: str | None = None, on_epoch: Callable[[dict], None] | None = None,
          data: tuple[FeatureSet, FeatureSet] | None = None) -> TrainResult:
    """Train on ``fold1_train``, evaluate on ``fold1_evaluate``; writes ``out_dir/model.safetensors``.

    ``data`` may pass pre-extracted (train, evaluate) feature sets (the ablation benchmark reuses them).
    """
    import torch
    from tqdm import tqdm

    from .model import AVSCModel

    rank, world = _dist()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(train_cfg.seed)
    if data is None:
        ds = dataset if isinstance(dataset, TauDataset) else TauDataset(dataset)
        data = (load_featureset(ds, "train", features, clip, progress and rank == 0),
                load_featureset(ds, "evaluate", features, clip, progress and rank == 0))
    train_fs, eval_fs = data
    model = AVSCModel(model_cfg, features.n_mels).to(device)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[torch.cuda.current_device()] if device == "cuda" else None)
    opt = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_fs) / (train_cfg.batch_size * world))
    total = steps_per_epoch * train_cfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, total, train_cfg.warmup_epochs * steps_per_epoch))
    start_epoch, history = 0, []
    gen = torch.Generator().manual_seed(train_cfg.seed)
    state_path = out / STATE_FILE
    if resume:
        if not state_path.is_file() or not (out / "model.safetensors").is_file():
            raise ArtifactError(f"{out}: nothing to resume (no {STATE_FILE} + model.safetensors)")
        from .checkpoint import load_checkpoint

        weights, _ = load_checkpoint(out / "model.safetensors")
        model.load_state_dict(weights)
        start_epoch, history, rng = _load_state(state_path, opt, sched)
        torch.set_rng_state(rng["torch"])
        gen.set_state(rng["shuffle"])
    use_amp = train_cfg.amp and device == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    t = lambda a: None if a is None else torch.from_numpy(a).to(device)  # noqa: E731
    bar = tqdm(range(start_epoch, train_cfg.epochs), desc=f"train {model_cfg.variant}",
               disable=not progress or rank != 0, unit="epoch")
    for epoch in bar:
        model.train()
        order = torch.randperm(len(train_fs), generator=gen).numpy()
        sums: dict[str, float] = {}
        n_batches = 0
        for b in range(steps_per_epoch):
            idx = order[(b * world + rank) * train_cfg.batch_size:(b * world + rank + 1) * train_cfg.batch_size]
            if len(idx) < 2:
                continue
            idx = np.sort(idx)
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
                o = net(t(train_fs.log_mel[idx]), t(train_fs.frames[idx]))
                loss, parts = model.loss(o, t(train_fs.labels[idx]),
                                         t(None if train_fs.event_tags is None else train_fs.event_tags[idx]),
                                         t(None if train_fs.object_tags is None else train_fs.object_tags[idx]))
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            n_batches += 1
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
        record = {"epoch": epoch + 1, "lr": sched.get_last_lr()[0],
                  **{f"loss_{k}": v / max(n_batches, 1) for k, v in sums.items()}}
        record["loss"] = sum(v for k, v in record.items() if k.startswith("loss_"))
        history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}")
        if rank == 0:
            save_checkpoint(out / "model.safetensors", model.state_dict(), artifact_info(features, clip, model_cfg))
            _save_state(state_path, opt, sched, epoch + 1, history,
                        {"torch": torch.get_rng_state(), "shuffle": gen.get_state()})
        if on_epoch:
            on_epoch(record)
    metrics = {}
    if rank == 0 and len(eval_fs):
        m, _ = evaluate_model(model, eval_fs, device)
        metrics = {"evaluate": {"accuracy": m.accuracy, "log_loss": m.log_loss}}
        save_checkpoint(out / "model.safetensors", model.state_dict(), artifact_info(features, clip, model_cfg, metrics))
    return TrainResult(out / "model.safetensors", history, metrics)
