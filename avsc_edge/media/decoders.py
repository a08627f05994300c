"""The video-decoder seam: which decoder turns a file's packets into frames.

* ``cpu``: FFmpeg's software decoders through PyAV (always available).
* ``nvdec``: NVIDIA's hardware decoder through FFmpeg's CUDA hwaccel (PyAV ``HWAccel("cuda")``);
  frames are downloaded to host memory for libswscale. Chosen by ``auto`` when PyAV's FFmpeg
  has the CUDA device type and the NVDEC driver library (``libnvcuvid``) and a CUDA device are
  present (docs/design.md says where this has run).
  On Jetson, NVDEC is exposed through V4L2 (GStreamer ``nvv4l2decoder``), not FFmpeg's CUDA
  hwaccel: ``auto`` then picks ``cpu``.

``AVSC_EDGE_DECODER=cpu|nvdec|auto`` overrides the choice. A hardware decoder that fails to open
falls back to ``cpu`` with one warning.
"""
from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass
from functools import lru_cache

from ..errors import ConfigError

log = logging.getLogger("avsc_edge")
DECODERS = ("auto", "cpu", "nvdec")


@dataclass(frozen=True)
class Decoder:
    """A decoder choice: its name and the PyAV ``HWAccel`` device type it needs (None for CPU)."""

    name: str
    hw_device: str | None = None

    def hwaccel(self):
        if self.hw_device is None:
            return None
        from av.codec.hwaccel import HWAccel

        return HWAccel(self.hw_device, allow_software_fallback=True)


CPU = Decoder("cpu")
NVDEC = Decoder("nvdec", "cuda")


def _pyav_hw_devices() -> list[str]:
    from av.codec.hwaccel import hwdevices_available

    return list(hwdevices_available())


def _cuda_device_count() -> int:
    """CUDA devices visible through the driver API (0 without a driver or GPU)."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def _has_nvcuvid() -> bool:
    try:
        ctypes.CDLL("libnvcuvid.so.1")
    except OSError:
        return False
    return True


@lru_cache(maxsize=1)
def nvdec_available() -> bool:
    """True when FFmpeg's CUDA hwaccel, the NVDEC library and a CUDA device are all present."""
    return "cuda" in _pyav_hw_devices() and _has_nvcuvid() and _cuda_device_count() > 0


def select_decoder(preference: str | None = None) -> Decoder:
    """``auto`` (default; ``AVSC_EDGE_DECODER`` overrides): NVDEC when available, else CPU.
    Asking for ``nvdec`` where it is unavailable falls back to CPU with a warning."""
    choice = (preference or os.environ.get("AVSC_EDGE_DECODER") or "auto").lower()
    if choice not in DECODERS:
        raise ConfigError(f"decoder must be one of {DECODERS}, got {choice!r}")
    if choice == "cpu":
        return CPU
    if nvdec_available():
        return NVDEC
    if choice == "nvdec":
        log.warning("NVDEC requested but not available (needs PyAV's FFmpeg with CUDA, libnvcuvid and a GPU); "
                    "decoding on the CPU")
    return CPU


_failed: set[str] = set()


def open_with(decoder: Decoder, path, opener):
    """``opener(path, hwaccel)`` with ``decoder``; a hardware decoder that cannot open falls back to
    the CPU (warned once per decoder). Returns (container, decoder actually used)."""
    from ..errors import MediaError

    if decoder.hw_device is None or decoder.name in _failed:
        return opener(path, None), CPU
    try:
        return opener(path, decoder.hwaccel()), decoder
    except (MediaError, RuntimeError) as exc:  # a bad file fails again below, on the CPU
        _failed.add(decoder.name)
        log.warning("%s decoder failed to open %s (%s); falling back to the CPU decoder", decoder.name, path, exc)
        return opener(path, None), CPU
