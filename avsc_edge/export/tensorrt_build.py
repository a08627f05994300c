"""TensorRT engine builder (``.plan``). NOT RUN on our machines (no TensorRT or GPU there): written
against the TensorRT 10/11 Python API; its tests skip where TensorRT is absent.

One code path for TensorRT 10.x (JetPack 6) and 11.x: a *strongly typed* network parsed from the
QDQ INT8 or FP16-cast ONNX (precisions come from the graph, so none of the implicit-INT8
calibrator or builder precision-flag APIs, deprecated in 10 and removed in 11, are used); named
I/O tensors; one optimisation profile over the requested batch sizes; a timing cache saved next
to the plan and reused; a workspace limit (Orin Nano builds run out of memory otherwise).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArtifactError, DependencyError
from ..runtime.artifact import input_specs
from ..runtime.plan_format import PlanHeader, sha256_file, write_plan, write_raw_plan
from .onnx_export import read_onnx_info


@dataclass(frozen=True)
class EngineOptions:
    batch: tuple[int, int, int] = (1, 8, 32)     # min, opt, max
    workspace_mb: int = 4096
    dla_core: int | None = None                   # Jetson: run on a DLA core, GPU fallback
    timing_cache: str | None = None               # default: PLAN.timing.cache
    raw: bool = False                             # bare plan + sidecar JSON (for trtexec)


def _tensorrt():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise DependencyError("building engines needs TensorRT (the `tensorrt` Python package with its "
                              "libraries: JetPack on Jetson, or pip install tensorrt on a GPU machine)") from exc
    return trt


def compute_capability() -> str:
    """"major.minor" of GPU 0, through the CUDA driver API that TensorRT's wheel brings (cuda-python)."""
    try:
        from cuda.bindings import driver  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cuda as driver  # older cuda-python
        except ImportError as exc:
            raise DependencyError("reading the GPU's compute capability needs cuda-python: pip install cuda-python") from exc
    driver.cuInit(0)
    _, dev = driver.cuDeviceGet(0)
    _, major = driver.cuDeviceGetAttribute(driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev)
    _, minor = driver.cuDeviceGetAttribute(driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev)
    return f"{major}.{minor}"


def build_engine(onnx_path: str | os.PathLike, plan_path: str | os.PathLike, options: EngineOptions = EngineOptions()) -> Path:
    trt = _tensorrt()
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
    lo, opt, hi = options.batch
    for name, shape in input_specs(info).items():
        dims = shape[1:]
        profile.set_shape(name, (lo, *dims), (opt, *dims), (hi, *dims))
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
