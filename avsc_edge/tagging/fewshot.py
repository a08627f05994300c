"""``avsc-edge adapt``: few-shot scene learning on the device, from a folder of the user's own
recordings, with no dataset, GPU or torch.

``DIR/<label>/<recording>`` (audio or video, any length: a long recording gives several windows,
kept together as one recording). Every window goes through the genuine taggers' split graphs (the
``edge`` front ends; :mod:`avsc_edge.model.genuine`) to an audio and, where there are frames, a
visual embedding; a small head per modality is fitted with NumPy (:mod:`.heads`); which kind of
head is chosen by leave-one-recording-out accuracy on the user's own recordings, which is also
reported with a confusion table. The result is a normal ONNX artifact (the shipped split graphs
plus the fitted ``heads`` graph) that ``predict``, ``stream``, ``bench``, ``explain`` and
``export`` take; beside it ``NAME.support.safetensors`` keeps the embeddings, so that ``--add``
can put new labels or recordings in without decoding the old ones again.

"unknown": a recording whose best label's probability is under the threshold stated in the
artifact (the 5th percentile of the held-out confidence of correctly recognised recordings) is
called ``unknown`` by ``predict`` and ``stream``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .. import vocab
from ..backbones import slot_shapes
from ..config import ArtifactInfo, ModelConfig
from ..errors import AVSCError, DatasetError, InputError
from ..formats.artifact import PARTS, install, part_paths, staging
from ..formats.onnx_write import model_bytes, with_metadata
from ..preprocess.windows import Recording
from ..runtime.backend import GraphParts
from ..runtime.inputs import MEDIA_SUFFIXES
from ..runtime.onnx_backend import open_session
from ..runtime.prediction import softmax
from ..version import __version__
from .bundle import PART_GRAPHS, genuine_configs, weights_file
from .heads import HEAD_KINDS, LinearHead, fit, heads_graph

MIN_RECORDINGS = 3
UNKNOWN_QUANTILE = 0.05
SUPPORT_SUFFIX = ".support.safetensors"


def fewshot_model(labels: int) -> ModelConfig:
    return ModelConfig(variant="fewshot", audio_backbone="mn", audio_width=0.4, visual_backbone="mobilenet_v1_025",
                       n_scenes=labels, n_events=len(vocab.load("audioset")), n_objects=len(vocab.load("imagenet")))


class GenuineParts(GraphParts):
    """The shipped split graphs (no heads): what every few-shot artifact runs up to its head."""

    def __init__(self, threads: int | None = None) -> None:
        self.sessions = {p: open_session(weights_file(f"parts/{p}.onnx"), "cpu", threads) for p in PART_GRAPHS}

    def _run(self, part: str, *arrays: np.ndarray) -> list[np.ndarray]:
        inputs, outputs = PARTS[part]
        return self.sessions[part].run(list(outputs), {n: np.ascontiguousarray(a, np.float32)
                                                       for n, a in zip(inputs, arrays)})


@dataclass
class Support:
    """The windows a few-shot model learnt from: per window its recording, and its audio and
    visual embeddings (NaN rows where the window had no such modality); per recording its label."""

    labels: list[str]
    recordings: list[str]
    recording_label: np.ndarray            # [R] label index
    window_recording: np.ndarray           # [W] recording index
    audio: np.ndarray                      # [W, Da]
    visual: np.ndarray                     # [W, Dv]

    @property
    def window_label(self) -> np.ndarray:
        return self.recording_label[self.window_recording]

    def merge(self, other: "Support") -> "Support":
        labels = sorted(set(self.labels) | set(other.labels))
        remap = lambda s: np.array([labels.index(s.labels[i]) for i in s.recording_label], np.int64)  # noqa: E731
        return Support(labels, self.recordings + other.recordings, np.concatenate([remap(self), remap(other)]),
                       np.concatenate([self.window_recording, other.window_recording + len(self.recordings)]),
                       np.concatenate([self.audio, other.audio]), np.concatenate([self.visual, other.visual]))

    def save(self, path: Path, settings: dict) -> None:
        from safetensors.numpy import save_file

        meta = {"labels": self.labels, "recordings": self.recordings, "settings": settings,
                "sdk_version": __version__}
        save_file({"recording_label": self.recording_label, "window_recording": self.window_recording,
                   "audio": self.audio, "visual": self.visual}, str(path), metadata={"avsc_edge_support": json.dumps(meta)})

    @classmethod
    def load(cls, path: Path) -> "Support":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), "np") as f:
                meta = json.loads(f.metadata()["avsc_edge_support"])
                arrays = {k: f.get_tensor(k) for k in ("recording_label", "window_recording", "audio", "visual")}
        except (SafetensorError, OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path}: not the support set of a few-shot model ({exc}); adapt without --add") from exc
        return cls(meta["labels"], meta["recordings"], **arrays)


def scan(root: str | os.PathLike) -> dict[str, list[Path]]:
    """``root/<label>/<recordings>`` -> label -> recordings; one line per problem, nothing read."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder; adapt takes a folder with one sub-folder per label "
                           "(e.g. recordings/dock/*.wav, recordings/corridor/*.mp4)")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    found = {f.name: sorted(p for p in f.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
             for f in folders}
    problems = [f"{root / label}: an empty label folder (no media files)" for label, files in found.items() if not files]
    problems += [f"{root / label}: {len(files)} recording{'s' * (len(files) != 1)}; a label needs at least "
                 f"{MIN_RECORDINGS} (record more, or leave the folder out)"
                 for label, files in found.items() if 0 < len(files) < MIN_RECORDINGS]
    if not folders:
        problems.append(f"{root}: no label folders; put each label's recordings in a sub-folder named after it")
    if problems:
        raise DatasetError("\n".join(problems))
    return found


def embed(found: dict[str, list[Path]], root: Path, parts: GenuineParts, threads: int | None = None,
          progress: Callable[[str], None] | None = None) -> Support:
    """Every window of every recording through the shipped graphs, as ``predict`` runs them."""
    features, clip = genuine_configs()
    labels = sorted(found)
    recordings, recording_label, window_recording, audio, visual = [], [], [], [], []
    problems = []
    shapes = slot_shapes(fewshot_model(1))
    da, dv = shapes["event"][1], shapes["object"][1]
    for label in labels:
        for path in found[label]:
            try:
                rec = Recording.from_files(path, path, features, clip, threads=threads)
                windows = list(rec.windows())
            except AVSCError as exc:   # every bad file is reported, then adapt stops
                problems.append(str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}")
                continue
            r = len(recordings)
            recordings.append(str(path.relative_to(root)))
            recording_label.append(labels.index(label))
            for w in windows:
                a = parts.audio_slots(parts.audio_tokens(w.log_mel[None]))[0][0, 0] if w.log_mel is not None \
                    else np.full(da, np.nan, np.float32)
                v = parts.encode_frames(w.frames)[0][:, 0].mean(axis=0) if w.frames is not None \
                    else np.full(dv, np.nan, np.float32)
                window_recording.append(r)
                audio.append(a)
                visual.append(v)
            if progress:
                progress(f"{path.relative_to(root)}: {len(windows)} window{'s' * (len(windows) != 1)}")
    if problems:
        raise DatasetError("\n".join(problems))
    return Support(labels, recordings, np.array(recording_label, np.int64), np.array(window_recording, np.int64),
                   np.array(audio, np.float32), np.array(visual, np.float32))


@dataclass
class Heads:
    kind: str
    audio: LinearHead
    visual: LinearHead

    def window_probabilities(self, support: Support, rows: np.ndarray) -> np.ndarray:
        """Scene probabilities of the windows ``rows``, from the head their modalities select."""
        has_a = ~np.isnan(support.audio[rows, 0])
        has_v = ~np.isnan(support.visual[rows, 0])
        logits = np.zeros((len(rows), self.audio.weight.shape[1]), np.float32)
        logits[has_a] += self.audio.logits(support.audio[rows][has_a])
        logits[has_v] += self.visual.logits(support.visual[rows][has_v])
        return softmax(logits.astype(np.float64))


def fit_heads(kind: str, support: Support, rows: np.ndarray) -> Heads:
    """Both modalities' heads of ``kind`` on the windows ``rows``."""
    y, k = support.window_label[rows], len(support.labels)

    def one(x: np.ndarray) -> LinearHead:
        present = ~np.isnan(x[:, 0])
        return fit(kind, x[present], y[present], k) if present.any() else LinearHead.silent(x.shape[1], k)

    return Heads(kind, one(support.audio[rows]), one(support.visual[rows]))


@dataclass
class Evaluation:
    """Leave-one-recording-out: each recording classified by heads fitted on all the others."""

    kind: str
    accuracy: float
    log_loss: float
    predicted: list[int]
    confidence: list[float]
    confusion: list[list[int]] = field(default_factory=list)


def leave_one_recording_out(kind: str, support: Support) -> Evaluation:
    k = len(support.labels)
    predicted, confidence, losses = [], [], []
    confusion = np.zeros((k, k), np.int64)
    for r in range(len(support.recordings)):
        held = support.window_recording == r
        heads = fit_heads(kind, support, np.flatnonzero(~held))
        probs = heads.window_probabilities(support, np.flatnonzero(held)).mean(axis=0)
        truth, best = int(support.recording_label[r]), int(probs.argmax())
        predicted.append(best)
        confidence.append(float(probs[best]))
        losses.append(-np.log(max(probs[truth], 1e-12)))
        confusion[truth, best] += 1
    hits = np.array(predicted) == support.recording_label
    return Evaluation(kind, float(hits.mean()), float(np.mean(losses)), predicted, confidence, confusion.tolist())


@dataclass
class AdaptResult:
    artifact: Path
    labels: list[str]
    recordings: int
    windows: int
    head: str
    evaluations: dict[str, Evaluation]
    unknown_below: float
    seconds: float

    @property
    def evaluation(self) -> Evaluation:
        return self.evaluations[self.head]


def adapt(root: str | os.PathLike, out: str | os.PathLike, add: bool = False, threads: int | None = None,
          progress: Callable[[str], None] | None = None) -> AdaptResult:
    """Learn the labels of ``root`` (see the module) and write the artifact ``out`` (``NAME.onnx``:
    its split graphs ``NAME.<part>.onnx`` and ``NAME.support.safetensors``); ``add``: into the
    few-shot model already at ``out``, with its recordings."""
    t0 = time.perf_counter()
    out = Path(out)
    if out.suffix != ".onnx":
        raise InputError(f"--out {out}: a few-shot model is an ONNX artifact; name it ...onnx")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: folder {out.parent} does not exist")
    support_path = out.with_name(out.stem + SUPPORT_SUFFIX)
    refuse_foreign(out)
    previous = None
    if add:
        if not support_path.is_file():
            raise InputError(f"--add: {support_path} not found; --add puts recordings into a model adapt wrote "
                             f"(its support set lies beside it)")
        previous = Support.load(support_path)
    found = scan(root)
    if previous is not None:
        repeated = sorted(set(previous.recordings) & {str(p.relative_to(Path(root))) for f in found.values() for p in f})
        if repeated:
            raise InputError(f"--add: {len(repeated)} recordings are in the model already ({repeated[:3]}); "
                             "add new ones")
    parts = GenuineParts(threads)
    support = embed(found, Path(root), parts, threads, progress)
    if previous is not None:
        support = previous.merge(support)
    if len(support.labels) < 2:
        raise DatasetError(f"{root}: one label ({support.labels[0]}); a scene model needs at least two to tell apart")
    evaluations = {kind: leave_one_recording_out(kind, support) for kind in HEAD_KINDS}
    best = max(HEAD_KINDS, key=lambda kind: (evaluations[kind].accuracy, -evaluations[kind].log_loss))
    chosen = evaluations[best]
    correct = [c for c, p, t in zip(chosen.confidence, chosen.predicted, support.recording_label) if p == t]
    unknown_below = float(np.quantile(correct, UNKNOWN_QUANTILE)) if correct else 1.0 / len(support.labels)
    heads = fit_heads(best, support, np.arange(len(support.window_recording)))
    metrics = {"fewshot": {"head": best, "unknown_below": unknown_below, "recordings": len(support.recordings),
                           "windows": int(len(support.window_recording)),
                           "loro_accuracy": {k: e.accuracy for k, e in evaluations.items()},
                           "loro_confusion": chosen.confusion,
                           "audio_windows": int((~np.isnan(support.audio[:, 0])).sum()),
                           "visual_windows": int((~np.isnan(support.visual[:, 0])).sum())}}
    write_artifact(out, support, heads, metrics)
    return AdaptResult(out, support.labels, len(support.recordings), int(len(support.window_recording)), best,
                       evaluations, unknown_below, time.perf_counter() - t0)


def refuse_foreign(out: Path) -> None:
    """``out`` may replace a few-shot model adapt wrote, never another artifact of that name."""
    from ..formats.artifact import info_from_metadata
    from ..formats.onnx_file import read_metadata_props

    existing = [p for p in (out, *part_paths(out).values()) if p.exists()]
    if not existing:
        return
    heads = part_paths(out)["heads"]
    try:
        few = heads.is_file() and info_from_metadata(read_metadata_props(heads), str(heads)).model_config.variant \
            == "fewshot"
    except AVSCError:
        few = False
    if not few:
        raise InputError(f"--out {out}: {existing[0]} exists and is not a few-shot model adapt wrote; choose another "
                         "name (adapt never overwrites other models)")


def write_artifact(out: Path, support: Support, heads: Heads, metrics: dict) -> None:
    """The shipped split graphs with this model's metadata, the fitted heads graph and the support
    set, moved into place together (an earlier model at ``out`` stays whole on any failure)."""
    features, clip = genuine_configs()
    info = ArtifactInfo(sdk_version=__version__, features=features.to_dict(), clip=clip.to_dict(),
                        model=fewshot_model(len(support.labels)).to_dict(), labels=tuple(support.labels),
                        events=vocab.load("audioset"), objects=vocab.load("imagenet"), precision="fp32",
                        metrics=metrics, export_id=uuid.uuid4().hex).check()
    targets = {**part_paths(out), "support": out.with_name(out.stem + SUPPORT_SUFFIX)}
    with staging(out) as folder:
        staged = {}
        for part, target in targets.items():
            path = folder / target.name
            if part == "support":
                support.save(path, {"head": heads.kind})
                continue
            meta = dataclasses.replace(info, graph=part).to_json()
            graph = model_bytes(heads_graph(heads.audio, heads.visual), {}) if part == "heads" else \
                weights_file(f"parts/{part}.onnx").read_bytes()
            path.write_bytes(with_metadata(graph, meta))
            staged[path] = target
        staged[folder / targets["support"].name] = targets["support"]
        install(staged, remove=(out,) if out.exists() else ())
