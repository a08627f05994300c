"""TensorRT backend (``NAME.plan`` and its split-graph engines ``NAME.<part>.plan``). Written
against the TensorRT 10/11 Python API (named I/O tensors, ``set_input_shape``,
``set_tensor_address``, ``execute_async_v3``) and cuda-python for device memory. Every plan
header (SDK and TensorRT versions, GPU compute capability) is checked *before* any engine is
deserialised; the model's parts, their composition and the outputs are the ones the
ONNX Runtime backend runs (tested there).

With ``device_features`` the log-mel of each window is computed on the GPU by the fused CUDA kernel
straight into the ``audio_tokens`` engine's input buffer, on the backend's stream (no host round
trip of the features, tables cached in a plan, no per-call allocation once buffers have grown).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..config import ArtifactInfo
from ..errors import ArtifactError, DependencyError
from ..formats.artifact import PARTS, check_same_export, model_parts
from ..formats.plan_format import check_compatible, read_plan, read_plan_header
from ..kernels import native as _native
from . import gpu
from .backend import EngineInfo, GraphParts


def require_tensorrt():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise DependencyError("TensorRT engines need TensorRT (the `tensorrt` Python package with its libraries: "
                              "JetPack on Jetson, or pip install tensorrt on a GPU machine); or use the .onnx "
                              "model with ONNX Runtime") from exc
    return trt


class _Engine:
    """One deserialised engine with its context and grow-only device buffers, on a shared stream."""

    def __init__(self, trt, runtime, engine_bytes: bytes, where: str, stream) -> None:
        self.trt, self.cudart, self.stream = trt, gpu.cudart(), stream
        self.engine = runtime.deserialize_cuda_engine(engine_bytes)
        if self.engine is None:
            raise ArtifactError(f"{where}: TensorRT could not deserialise the engine (see its log)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]
        self.buffers: dict[str, tuple[int, int]] = {}   # name -> (device pointer, capacity in bytes)
        self.where = where

    def buffer(self, name: str, nbytes: int) -> int:
        ptr, cap = self.buffers.get(name, (0, 0))
        if nbytes > cap:
            if ptr:
                gpu.check(self.cudart.cudaFree(ptr), "cudaFree")
            ptr = gpu.check(self.cudart.cudaMalloc(nbytes), "cudaMalloc")
            self.buffers[name] = (ptr, nbytes)
        return ptr

    def bind_input(self, name: str, shape: tuple[int, ...]) -> int:
        """Set an input's shape and return its device buffer (for kernels writing into it)."""
        if not self.context.set_input_shape(name, shape):
            raise ArtifactError(f"{self.where}: input {name} shape {shape} is outside the engine's optimisation "
                                "profile; rebuild with a larger batch range")
        ptr = self.buffer(name, int(np.prod(shape)) * 4)
        self.context.set_tensor_address(name, ptr)
        return ptr

    def __call__(self, feeds: dict[str, np.ndarray], on_device: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
        rt = self.cudart
        h2d, d2h = rt.cudaMemcpyKind.cudaMemcpyHostToDevice, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self.inputs:
            if name in on_device:
                continue  # already written on the device (bind_input)
            arr = np.ascontiguousarray(feeds[name], dtype=self.trt.nptype(self.engine.get_tensor_dtype(name)))
            ptr = self.bind_input(name, arr.shape)
            gpu.check(rt.cudaMemcpyAsync(ptr, arr.ctypes.data, arr.nbytes, h2d, self.stream), "cudaMemcpyAsync")
        host = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            host[name] = np.empty(shape, dtype=self.trt.nptype(self.engine.get_tensor_dtype(name)))
            self.context.set_tensor_address(name, self.buffer(name, max(4, host[name].nbytes)))
        if not self.context.execute_async_v3(self.stream):
            raise ArtifactError(f"{self.where}: TensorRT execution failed (see its log)")
        for name, arr in host.items():
            gpu.check(rt.cudaMemcpyAsync(arr.ctypes.data, self.buffers[name][0], arr.nbytes, d2h, self.stream),
                      "cudaMemcpyAsync")
        gpu.check(rt.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")
        return {n: a.astype(np.float32) for n, a in host.items()}

    def free(self) -> None:
        for ptr, _ in self.buffers.values():
            self.cudart.cudaFree(ptr)
        self.buffers.clear()


class TensorRTBackend(GraphParts):
    name = "tensorrt"

    def __init__(self, path: str | os.PathLike, device: str = "cuda", threads: int | None = None) -> None:
        path = Path(path)
        header, _ = read_plan_header(path)  # typed errors for foreign/truncated files, even without TensorRT
        paths = model_parts(path, "`avsc-edge export` with a TensorRT recipe builds them beside the plan")
        headers = {part: read_plan_header(p)[0] for part, p in paths.items()}
        trt = require_tensorrt()
        cc = gpu.compute_capability()
        for where, h in ((path, header), *((paths[p], h) for p, h in headers.items())):
            check_compatible(h, trt.__version__, cc, str(where))
        info = ArtifactInfo.from_dict({**header.artifact, "graph": "full"})
        for part, h in headers.items():
            check_same_export(info, ArtifactInfo.from_dict(h.artifact), part, str(paths[part]), path.name)
        self.info = info
        self.precision = header.precision
        self._trt, self._cudart = trt, gpu.cudart()
        self.stream = gpu.check(self._cudart.cudaStreamCreate(), "cudaStreamCreate")
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engines = {part: _Engine(trt, runtime, read_plan(p)[1], str(p), self.stream) for part, p in paths.items()}
        self.engine = EngineInfo(self.name, self.precision, "cuda", f"TensorRT {trt.__version__} (sm_{cc})", threads)
        self._mel_plan = None
        self.device_features = _native.cuda_available()   # the extension built with CUDA

    def _run(self, part: str, *arrays: np.ndarray) -> list[np.ndarray]:
        names, outputs = PARTS[part]
        out = self.engines[part](dict(zip(names, arrays)))
        return [out[n] for n in outputs]

    def audio_tokens_from_wave(self, waves: np.ndarray) -> np.ndarray:
        """Windows of samples ``[B, n]`` -> tokens, the log-mel computed on the GPU into the
        ``audio_tokens`` engine's input buffer (see :class:`avsc_edge.preprocess.cuda_features.LogMelCuda`)."""
        from ..preprocess.cuda_features import LogMelCuda

        f = self.info.feature_config
        if self._mel_plan is None:
            self._mel_plan = LogMelCuda(f)
        eng = self.engines["audio_tokens"]
        b, n = waves.shape
        out_ptr = eng.bind_input("log_mel", (b, 1, f.n_mels, f.num_frames(n)))
        self._mel_plan.run_host(waves, out_ptr, int(self.stream), capacity=eng.buffers["log_mel"][1] // 4)
        return eng({}, on_device=("log_mel",))["tokens"]

    def __del__(self) -> None:
        for eng in getattr(self, "engines", {}).values():
            eng.free()
