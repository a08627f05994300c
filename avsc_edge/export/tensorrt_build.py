"""TensorRT engine builder: one ``.plan`` per graph of an exported model (``NAME.plan`` for the full
graph, ``NAME.<part>.plan`` for the split graphs the runtime runs). Written against the TensorRT
10/11 Python API; its tests skip where TensorRT is absent (docs/design.md: what has run where).

One code path for TensorRT 10.x (JetPack 6) and 11.x: a *strongly typed* network parsed from the
QDQ INT8 or FP16-cast ONNX (precisions come from the graph, so none of the implicit-INT8
calibrator or builder precision-flag APIs, deprecated in 10 and removed in 11, are used); named
I/O tensors; one optimisation profile per graph over the recipe's batch range (and the time axis
of incremental streaming); a timing cache saved next to the plan and reused; a workspace limit
(Orin Nano builds run out of memory otherwise).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..backbones import audio_stride, audio_token_channels, slot_shapes
from ..config import ArtifactInfo
from ..errors import ArtifactError
from ..formats.artifact import PARTS, part_paths, sha256_file, window_frames
from ..formats.plan_format import PlanHeader, write_plan, write_raw_plan
from ..runtime.gpu import compute_capability
from ..runtime.tensorrt_backend import require_tensorrt
from .onnx_export import graph_paths, read_onnx_info


@dataclass(frozen=True)
class EngineOptions:
    batch: tuple[int, int, int] = (1, 8, 32)     # min, opt, max windows
    workspace_mb: int = 4096
    dla_core: int | None = None                   # Jetson: run on a DLA core, GPU fallback
    timing_cache: str | None = None               # default: PLAN.timing.cache
    raw: bool = False                             # bare plans + sidecar JSON (for trtexec)


def input_profiles(info: ArtifactInfo, graph: str, batch: tuple[int, int, int]) -> dict[str, tuple]:
    """Each input of ``graph`` -> (min, opt, max) shapes."""
    f, c, m = info.feature_config, info.clip_config, info.model_config
    lo, opt, hi = batch
    T, F = window_frames(info), c.num_frames
    stride, C = audio_stride(m), audio_token_channels(m)    # the audio backbone's token layout
    n_tok = T // stride
    (ne, de), (no, do) = slot_shapes(m)["event"], slot_shapes(m)["object"]

    def b(*dims):
        return ((lo, *dims), (opt, *dims), (hi, *dims))

    profiles = {
        "full": {"log_mel": b(1, f.n_mels, T), "frames": b(F, 3, c.frame_size, c.frame_size)},
        "audio_tokens": {"log_mel": ((1, 1, f.n_mels, stride), (opt, 1, f.n_mels, T), (hi, 1, f.n_mels, n_tok * stride))},
        "audio_slots": {"tokens": ((1, 1, C), (opt, n_tok, C), (hi, n_tok, C))},
        "frames": {"frame": ((1, 3, c.frame_size, c.frame_size), (opt * F, 3, c.frame_size, c.frame_size),
                             (hi * F, 3, c.frame_size, c.frame_size))},
        "heads": {"event_emb": b(ne, de), "event_presence": b(m.n_events),
                  "frame_emb": ((lo, 1, no, do), (opt, F, no, do), (hi, F, no, do)),
                  "frame_presence": ((lo, 1, m.n_objects), (opt, F, m.n_objects), (hi, F, m.n_objects))},
    }
    return profiles[graph]


def build_engine(onnx_path: str | os.PathLike, plan_path: str | os.PathLike, options: EngineOptions = EngineOptions()) -> Path:
    """One engine from one exported graph (its metadata says which graph it is)."""
    trt = require_tensorrt()
    info = read_onnx_info(onnx_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ArtifactError(f"{onnx_path}: TensorRT cannot parse it: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mb << 20)
    if options.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = options.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in input_profiles(info, info.graph, options.batch).items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    cache_path = Path(options.timing_cache or f"{plan_path}.timing.cache")
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ArtifactError(f"{onnx_path}: TensorRT failed to build an engine (see the log above); on Jetson "
                            "try a smaller workspace_mb or batch range")
    cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    header = PlanHeader(sdk_version=info.sdk_version, tensorrt_version=trt.__version__,
                        compute_capability=compute_capability(), precision=info.precision,
                        onnx_sha256=sha256_file(onnx_path), artifact=info.to_dict())
    write = write_raw_plan if options.raw else write_plan
    return write(plan_path, header, bytes(serialized))


def build_engines(onnx_path: str | os.PathLike, plan_path: str | os.PathLike,
                  options: EngineOptions = EngineOptions()) -> list[Path]:
    """An engine for every graph exported beside ``onnx_path`` (full + parts), beside ``plan_path``,
    sharing one timing cache."""
    sources = graph_paths(onnx_path)
    targets = {"full": Path(plan_path), **part_paths(plan_path)}
    cache = options.timing_cache or f"{plan_path}.timing.cache"
    opts = EngineOptions(options.batch, options.workspace_mb, options.dla_core, cache, options.raw)
    assert set(sources) == set(targets) == {"full", *PARTS}
    return [build_engine(sources[g], targets[g], opts) for g in sources]
