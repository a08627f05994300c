"""Build of the native extension ``avsc_edge._C`` (C++17, OpenMP; CUDA when available).

Build switches (environment variables):

* ``AVSC_EDGE_CUDA``: ``auto`` (default: compile the ``.cu`` sources when ``nvcc`` is found),
  ``1`` (require CUDA; fail if nvcc is missing or the compile fails), ``0`` (CPU only).
* ``AVSC_EDGE_CUDA_ARCHS``: semicolon-separated SM list, default ``87;90`` (Jetson Orin, Hopper).
* ``AVSC_EDGE_SANITIZE``: ``1`` builds the C++ code with AddressSanitizer + UBSan (tests only).
* ``AVSC_EDGE_NATIVE``: ``1`` adds ``-march=native`` (faster, not portable; off by default).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import find_packages, setup

ROOT = Path(__file__).parent
CPU_SOURCES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc").glob("*.cpp"))
CUDA_SOURCES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc").glob("*.cu"))


def _cuda_mode() -> str:
    mode = os.environ.get("AVSC_EDGE_CUDA", "auto").strip().lower()
    if mode not in {"auto", "0", "1"}:
        sys.exit(f"AVSC_EDGE_CUDA must be auto, 0 or 1, got {mode!r}")
    return mode


def _find_nvcc() -> str | None:
    nvcc = shutil.which("nvcc")
    if nvcc is None and Path("/usr/local/cuda/bin/nvcc").exists():
        nvcc = "/usr/local/cuda/bin/nvcc"
    return nvcc


def _cuda_home(nvcc: str) -> Path:
    """CUDA_HOME, else the toolkit nvcc belongs to (the folder above its bin/, e.g. the registry's
    ``nvidia-cuda-nvcc`` wheel), else /usr/local/cuda: headers and cudart from the same release as nvcc."""
    for candidate in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"),
                      str(Path(nvcc).resolve().parent.parent), "/usr/local/cuda"):
        if candidate and (Path(candidate) / "include" / "cuda_runtime.h").exists():
            return Path(candidate)
    sys.exit(f"found nvcc at {nvcc} but no CUDA toolkit (set CUDA_HOME)")


class BuildExt(build_ext):
    """pybind11's build_ext plus an nvcc step for ``csrc/*.cu``."""

    def build_extensions(self) -> None:
        mode = _cuda_mode()
        nvcc = _find_nvcc() if mode != "0" else None
        if mode == "1" and nvcc is None:
            sys.exit("AVSC_EDGE_CUDA=1 but nvcc was not found on PATH or in /usr/local/cuda/bin")
        for ext in self.extensions:
            if nvcc and CUDA_SOURCES:
                try:
                    self._compile_cuda(ext, nvcc)
                except subprocess.CalledProcessError as exc:
                    if mode == "1":
                        raise
                    print(f"warning: CUDA compile failed ({exc}); building CPU-only", file=sys.stderr)
        super().build_extensions()

    def _compile_cuda(self, ext, nvcc: str) -> None:
        archs = [a.strip() for a in os.environ.get("AVSC_EDGE_CUDA_ARCHS", "87;90").replace(",", ";").split(";")
                 if a.strip()]
        gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
        build_temp = Path(self.build_temp) / "cuda"
        build_temp.mkdir(parents=True, exist_ok=True)
        import pybind11

        includes = [f"-I{ROOT / 'csrc'}", f"-I{pybind11.get_include()}", f"-I{sysconfig.get_paths()['include']}"]
        objects = []
        for src in CUDA_SOURCES:
            obj = build_temp / (Path(src).stem + ".o")
            cmd = [nvcc, "-c", src, "-o", str(obj), "-std=c++17", "-O3", "--use_fast_math",
                   "-Xcompiler", "-fPIC", "--resource-usage", *gencode, *includes]
            print(" ".join(cmd))
            subprocess.check_call(cmd)
            objects.append(str(obj))
        cuda_home = _cuda_home(nvcc)
        ext.extra_objects += objects
        ext.library_dirs += [str(cuda_home / "lib64"), str(cuda_home / "lib")]
        # Static cudart loads the driver lazily: the module still imports on machines without a GPU.
        ext.libraries += ["cudart_static", "rt", "dl", "pthread"]
        ext.define_macros += [("AVSC_EDGE_WITH_CUDA", "1"),
                              ("AVSC_EDGE_CUDA_ARCHS", '"' + ",".join(f"sm_{a}" for a in archs) + '"')]
        ext.include_dirs += [str(cuda_home / "include")]


def _cpu_flags() -> tuple[list[str], list[str]]:
    compile_args = ["-O3", "-fopenmp", "-ffp-contract=fast"]
    link_args = ["-fopenmp"]
    if os.environ.get("AVSC_EDGE_NATIVE") == "1":
        compile_args.append("-march=native")
    if os.environ.get("AVSC_EDGE_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g", "-O1"]
        compile_args = [a for a in compile_args if a != "-O3"] + san
        link_args += ["-fsanitize=address,undefined"]
    return compile_args, link_args


compile_args, link_args = _cpu_flags()
ext = Pybind11Extension(
    "avsc_edge._C",
    CPU_SOURCES,
    include_dirs=["csrc"],
    cxx_std=17,
    extra_compile_args=compile_args,
    extra_link_args=link_args,
)

# The export recipes live in the repository's export/ (data, one file per target) and are installed
# as avsc_edge/recipes/*.json, so that an installed wheel finds them.
setup(
    packages=find_packages(include=["avsc_edge", "avsc_edge.*"]) + ["avsc_edge.recipes"],
    package_dir={"avsc_edge.recipes": "export"},
    package_data={"avsc_edge": ["py.typed", "vocab/*.txt", "weights/*.onnx", "weights/parts/*.onnx",
                                "weights/*.safetensors", "weights/*.json", "weights/*.md", "weights/LICENSE-*",
                                "samples/*.webm", "samples/*.md", "samples/animals/*.mp3"],
                  "avsc_edge.recipes": ["*.json"]},
    ext_modules=[ext],
    cmdclass={"build_ext": BuildExt},
)
