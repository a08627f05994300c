"""The ground floor every artifact reader and writer stands on (runtime and export both use it):
the metadata key and its bounded parsing, the SDK-version check, atomic writes, hashing, the graph
I/O specs, and where a model's split graphs live.

Metadata is untrusted input: it is parsed only after size and nesting-depth checks, so a hostile
header yields an :class:`~avsc_edge.errors.ArtifactError`, never a ``RecursionError`` or a huge
allocation.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..config import ArtifactInfo
from ..errors import ArtifactError, ConfigError
from ..signals import signals_held
from ..version import __version__

META_KEY = "avsc_edge"
MAX_METADATA_BYTES = 4 * 1024 * 1024
MAX_METADATA_DEPTH = 32

# The full graph: both modalities in, every head out (dynamic batch).
INPUT_NAMES = ("log_mel", "frames")
OUTPUT_NAMES = ("scene_logits", "audio_logits", "visual_logits", "event_logits", "object_logits", "event_to_object")
# The output a prediction reads for the modalities present: the fused head (``scene_logits``) with both.
SCENE_HEADS = {("audio", "visual"): "scene_logits", ("audio",): "audio_logits", ("visual",): "visual_logits"}
# The split graphs (streaming, and the parts every backend exposes): name -> (inputs, outputs).
PARTS = {
    "audio_tokens": (("log_mel",), ("tokens",)),
    "audio_slots": (("tokens",), ("event_emb", "event_logits")),
    "frames": (("frame",), ("frame_emb", "frame_logits")),
    "heads": (("event_emb", "event_presence", "frame_emb", "frame_presence"), OUTPUT_NAMES),
}


def modalities_of(has_audio: bool, has_visual: bool) -> tuple[str, ...]:
    """The modalities present, in the order every output and ``SCENE_HEADS`` use."""
    return tuple(m for m, present in (("audio", has_audio), ("visual", has_visual)) if present)


def check_sdk_version(version: Any, what: str) -> None:
    """Artifacts load when written by the same ``major.minor`` SDK version (0.x: minor bumps break)."""
    if not isinstance(version, str) or not re.fullmatch(r"\d+\.\d+(\.\d+)?([a-z0-9.+-]*)", version):
        raise ArtifactError(f"{what}: invalid SDK version {version!r} in its metadata")
    mine, theirs = __version__.split(".")[:2], version.split(".")[:2]
    if mine != theirs:
        raise ArtifactError(
            f"{what} was written by avsc-edge {version}; this is {__version__}. "
            f"Re-export it with this version, or install avsc-edge=={version}"
        )


def _nesting_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting outside JSON strings (a linear scan; no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_metadata(text: str | bytes, where: str, max_bytes: int = MAX_METADATA_BYTES,
                   max_depth: int = MAX_METADATA_DEPTH) -> Any:
    """JSON from an artifact header, checked for size and nesting depth before it is parsed."""
    if len(text) > max_bytes:
        raise ArtifactError(f"{where}: metadata is {len(text)} bytes, more than the {max_bytes} allowed; "
                            "the file is corrupt or not an avsc-edge artifact")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ArtifactError(f"{where}: metadata is not UTF-8 text ({exc})") from exc
    if text.count("[") + text.count("{") > max_depth and _nesting_depth(text) > max_depth:
        raise ArtifactError(f"{where}: metadata nests deeper than {max_depth} levels; the file is corrupt or hostile")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ArtifactError(f"{where}: metadata is not valid JSON ({exc})") from exc


def info_from_json(text: str | bytes, where: str) -> ArtifactInfo:
    """The :class:`ArtifactInfo` stored under :data:`META_KEY`, version-checked."""
    data = parse_metadata(text, where)
    try:
        info = ArtifactInfo.from_dict(data)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{where}: invalid avsc-edge metadata ({exc})") from exc
    check_sdk_version(info.sdk_version, where)
    try:
        return info.check()
    except (ConfigError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{where}: invalid avsc-edge metadata ({exc})") from exc


def info_from_metadata(meta: dict[str, str], where: str) -> ArtifactInfo:
    """The artifact metadata from a key/value map (ONNX ``metadata_props``)."""
    if META_KEY not in meta:
        raise ArtifactError(f"{where}: no avsc-edge metadata; export the model with `avsc-edge export`")
    return info_from_json(meta[META_KEY], where)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` then rename over ``path``: never a half-written file (the temporary
    name is unique: concurrent writers do not share it)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")   # the writer creates it (umask applies)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


@contextmanager
def staging(target: str | os.PathLike) -> Iterator[Path]:
    """A fresh folder beside ``target`` to write a whole artifact into (removed afterwards, also on
    errors and, in the CLI, on SIGTERM); :func:`install` moves its files into place."""
    target = Path(target)
    folder = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".staging"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def install(moves: dict[Path, Path], remove: tuple[Path, ...] = ()) -> None:
    """Rename every ``source -> target`` of one artifact as one step: under an exclusive lock on
    the target folder (concurrent exports take turns, so the folder ends with one of them whole)
    and with SIGINT/SIGTERM held back until the last file is in place. The files of ``moves`` must
    be on the target's file system (a staging folder beside it): renames need no space. ``remove``:
    files of an earlier artifact that the new one does not have (deleted first, in the same step)."""
    folders = {t.parent for t in (*moves.values(), *remove)}
    fds = [os.open(f, os.O_RDONLY) for f in sorted(folders)]
    try:
        for fd in fds:
            fcntl.flock(fd, fcntl.LOCK_EX)
        with signals_held():
            for stale in remove:
                stale.unlink(missing_ok=True)
            for source, target in moves.items():
                os.replace(source, target)
    finally:
        for fd in fds:
            os.close(fd)   # closing releases the lock


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def part_paths(model_path: str | os.PathLike) -> dict[str, Path]:
    """Where the split graphs of ``NAME.EXT`` live: ``NAME.<part>.EXT`` beside it."""
    p = Path(model_path)
    return {part: p.with_name(f"{p.stem}.{part}{p.suffix}") for part in PARTS}


def artifact_files(model_path: str | os.PathLike) -> list[Path]:
    """Every file an artifact may consist of: the model and its split graphs' names."""
    return [Path(model_path), *part_paths(model_path).values()]


def model_parts(model_path: str | os.PathLike, missing_hint: str) -> dict[str, Path]:
    """The split graphs of a model, checked: each one present, a file of the model's own folder
    (a link that leads elsewhere is refused, as external data is)."""
    model = Path(model_path).resolve()
    paths = part_paths(model)
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        raise ArtifactError(f"{model_path}: its split graphs {missing} are missing; {missing_hint}")
    for p in paths.values():
        if p.resolve().parent != model.parent:
            raise ArtifactError(f"{p}: a split graph must be a file in the model's folder ({model.parent}), "
                                f"not a link to {p.resolve()}; copy the export's files together")
    return paths


def check_same_export(model: ArtifactInfo, part: ArtifactInfo, expected_graph: str, where: str, name: str) -> None:
    """A split graph belongs to the model: the same export (id), graph, configs, labels and vocabularies."""
    same = (part.graph == expected_graph and part.export_id == model.export_id and part.model == model.model
            and part.precision == model.precision and part.labels == model.labels and part.events == model.events
            and part.objects == model.objects and part.features == model.features and part.clip == model.clip)
    if not same:
        raise ArtifactError(f"{where}: does not belong to {name} (another export, or another graph); "
                            "re-export, and keep each export's files together")


def window_frames(info: ArtifactInfo) -> int:
    """Log-mel frames in one window of the model."""
    f, c = info.feature_config, info.clip_config
    return f.num_frames(int(round(c.seconds * f.sr)))


def input_specs(info: ArtifactInfo) -> dict[str, list]:
    """Full-graph input names -> shapes (``"batch"`` for the dynamic axis), from the configs."""
    f, c = info.feature_config, info.clip_config
    return {"log_mel": ["batch", 1, f.n_mels, window_frames(info)],
            "frames": ["batch", c.num_frames, 3, c.frame_size, c.frame_size]}


def dummy_inputs(info: ArtifactInfo, batch: int, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Random full-graph inputs (log-mel at a plausible dB level, normalised frames)."""
    rng = rng or np.random.default_rng(0)
    specs = input_specs(info)
    mel = (rng.standard_normal([batch, *specs["log_mel"][1:]]) * 15 - 40).astype(np.float32)
    frames = rng.standard_normal([batch, *specs["frames"][1:]]).astype(np.float32)
    return {"log_mel": mel, "frames": frames}
