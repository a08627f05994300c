"""NVIDIA GPU helpers shared by the TensorRT builder and backend (cuda-python, imported lazily)."""
from __future__ import annotations

from ..errors import ArtifactError, DependencyError


def driver():
    try:
        from cuda.bindings import driver as drv  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cuda as drv  # older cuda-python
        except ImportError as exc:
            raise DependencyError("this needs cuda-python: pip install cuda-python") from exc
    return drv


def cudart():
    try:
        from cuda.bindings import runtime as rt  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart as rt  # older cuda-python
        except ImportError as exc:
            raise DependencyError("the TensorRT backend needs cuda-python: pip install cuda-python") from exc
    return rt


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
