"""NVIDIA GPU helpers shared by the TensorRT builder and backend (cuda-python, imported lazily)."""
from __future__ import annotations

from ..errors import ArtifactError, DependencyError


def _cuda_module(new: str, old: str):
    """``cuda.bindings.<new>`` (cuda-python >= 12.6) or ``cuda.<old>`` (older releases)."""
    import importlib

    try:
        return importlib.import_module(f"cuda.bindings.{new}")
    except ImportError:
        try:
            return importlib.import_module(f"cuda.{old}")
        except ImportError as exc:
            raise DependencyError("this needs cuda-python: pip install cuda-python") from exc


def driver():
    return _cuda_module("driver", "cuda")


def cudart():
    return _cuda_module("runtime", "cudart")


def check(result, what: str):
    """A cuda-python call's (error, *values) -> the value(s), or :class:`ArtifactError`."""
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise ArtifactError(f"CUDA error {int(err)} in {what}")
    return rest[0] if len(rest) == 1 else rest


def compute_capability(device: int = 0) -> str:
    """"major.minor" of a GPU, through the CUDA driver API."""
    drv = driver()
    check(drv.cuInit(0), "cuInit")
    dev = check(drv.cuDeviceGet(device), "cuDeviceGet")
    attr = drv.CUdevice_attribute
    major = check(drv.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev), "cuDeviceGetAttribute")
    minor = check(drv.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev), "cuDeviceGetAttribute")
    return f"{major}.{minor}"
