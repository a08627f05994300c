"""The thread policy: one pool per runtime, sized to the cores this process may use, so that the
inference runtime (PyTorch or ONNX Runtime), the OpenMP log-mel kernel and the decoders do not
oversubscribe the cores.

* The inference runtime gets ``threads`` intra-op threads (default: the usable cores,
  ``AVSC_EDGE_THREADS`` overrides) and one inter-op thread; ONNX Runtime's idle threads sleep.
* The log-mel kernel runs on one thread where work is small and per-call (streaming hops), and on
  the default pool for whole recordings.
* Decoding runs on its own (FFmpeg's) threads between inference calls.

Measured in ``benchmarks/README.md`` (streaming per hop with the default policy vs every thread
setting).
"""
from __future__ import annotations

import os


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Intra-op threads for the inference runtime: ``AVSC_EDGE_THREADS`` or the usable cores."""
    value = os.environ.get("AVSC_EDGE_THREADS")
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            from .errors import ConfigError

            raise ConfigError(f"AVSC_EDGE_THREADS must be a positive integer, got {value!r}") from None
    return available_cores()


def configure_torch(torch, threads: int | None) -> int:
    """Size PyTorch's pools (intra-op ``threads``, one inter-op thread); returns the intra-op count."""
    n = int(threads or default_threads())
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set (it can be set once per process, before the first parallel work)
    return n
