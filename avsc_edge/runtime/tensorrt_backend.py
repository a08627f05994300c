"""TensorRT backend (``.plan`` / ``.engine``). NOT RUN on our machines (no TensorRT, no GPU):
written against the TensorRT 10 Python API (named I/O tensors, ``set_input_shape``,
``set_tensor_address``, ``execute_async_v3``) and cuda-python for device memory. The plan header
(SDK and TensorRT versions, GPU compute capability) is checked *before* the engine is deserialised;
feeds and outputs go through the same helpers as ONNX Runtime (tested there)."""
from __future__ import annotations

import os

import numpy as np

from ..config import ArtifactInfo
from ..errors import ArtifactError, DependencyError
from .artifact import make_feeds, select_outputs
from .plan_format import check_compatible, read_plan


def _cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python
        except ImportError as exc:
            raise DependencyError("the TensorRT backend needs cuda-python: pip install cuda-python") from exc
    return cudart


def _check(result, what: str):
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise ArtifactError(f"CUDA error {int(err)} in {what}")
    return rest[0] if len(rest) == 1 else rest


class TensorRTBackend:
    name = "tensorrt"

    def __init__(self, path: str | os.PathLike, device: str = "cuda", threads: int | None = None) -> None:
        header, engine_bytes = read_plan(path)  # typed errors for foreign/truncated files, even without TensorRT
        try:
            import tensorrt as trt
        except ImportError as exc:
            raise DependencyError(f"{path} is a TensorRT engine: install TensorRT (JetPack on Jetson) or use the "
                                  ".onnx model with ONNX Runtime") from exc
        from ..export.tensorrt_build import compute_capability

        check_compatible(header, trt.__version__, compute_capability(), str(path))
        self.info = ArtifactInfo.from_dict(header.artifact)
        self.precision = header.precision
        self._trt, self._cudart = trt, _cudart()
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self._runtime.deserialize_cuda_engine(engine_bytes)
        if self.engine is None:
            raise ArtifactError(f"{path}: TensorRT could not deserialise the engine (see its log)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]
        self.stream = _check(self._cudart.cudaStreamCreate(), "cudaStreamCreate")
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, capacity in bytes)

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, cap = self._buffers.get(name, (0, 0))
        if nbytes > cap:
            if ptr:
                _check(self._cudart.cudaFree(ptr), "cudaFree")
            ptr = _check(self._cudart.cudaMalloc(nbytes), "cudaMalloc")
            self._buffers[name] = (ptr, nbytes)
        return ptr

    def run(self, log_mel: np.ndarray | None, frames: np.ndarray | None) -> dict:
        cudart, trt = self._cudart, self._trt
        feeds = make_feeds(self.info, log_mel, frames)
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self.inputs:
            arr = np.ascontiguousarray(feeds[name], dtype=trt.nptype(self.engine.get_tensor_dtype(name)))
            if not self.context.set_input_shape(name, arr.shape):
                raise ArtifactError(f"input {name} shape {arr.shape} is outside the engine's optimisation profile; "
                                    "rebuild with a larger batch range")
            ptr = self._buffer(name, arr.nbytes)
            _check(cudart.cudaMemcpyAsync(ptr, arr.ctypes.data, arr.nbytes, h2d, self.stream), "cudaMemcpyAsync")
            self.context.set_tensor_address(name, ptr)
        host = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            host[name] = np.empty(shape, dtype=trt.nptype(self.engine.get_tensor_dtype(name)))
            self.context.set_tensor_address(name, self._buffer(name, host[name].nbytes))
        if not self.context.execute_async_v3(self.stream):
            raise ArtifactError("TensorRT execution failed (see its log)")
        for name, arr in host.items():
            _check(cudart.cudaMemcpyAsync(arr.ctypes.data, self._buffers[name][0], arr.nbytes, d2h, self.stream),
                   "cudaMemcpyAsync")
        _check(cudart.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")
        out = {k: v.astype(np.float32) for k, v in host.items()}
        return select_outputs(out, log_mel is not None, frames is not None)

    def __del__(self) -> None:
        for ptr, _ in getattr(self, "_buffers", {}).values():
            self._cudart.cudaFree(ptr)
