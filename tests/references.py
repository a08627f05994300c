"""The references' own code for the parity tests: PANNs' ``Cnn14`` (``panns-inference``), its
``torchlibrosa`` front end, torchvision's ResNets and ImageNet eval transform. Test dependencies
only (``pip install --no-deps -r tests/reference-requirements.txt``); nothing is downloaded.

In CI a missing reference is a failure, not a skip: these tests are the proof that ``base`` sees
what its pretrained checkpoints saw."""
from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path

import pytest


def need(module: str):
    """Import a reference package; skip locally when absent, fail in CI."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"reference package missing ({exc}); pip install --no-deps -r tests/reference-requirements.txt")


def torchvision():
    """torchvision's registry wheels are CUDA builds: with the CPU torch their C++ ops do not load,
    and the import fails registering fake kernels for ``nms``/``qnms``. Defining those two schemas
    first lets the models and transforms (pure Python) import. Test code only."""
    if "torchvision" not in sys.modules:
        import torch

        try:
            torch.ops.torchvision.nms
        except (AttributeError, RuntimeError):
            lib = torch.library.Library("torchvision", "DEF")
            lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            lib.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
            torchvision._keep = lib   # the schemas live as long as the library object
    return need("torchvision")


def panns_models():
    """``panns_inference.models`` without the package's ``__init__`` (which downloads a label list)."""
    if "panns_inference.models" not in sys.modules:
        need("torchlibrosa")
        spec = importlib.util.find_spec("panns_inference")
        if spec is None or not spec.submodule_search_locations:
            need("panns_inference")   # skips or fails with the install hint
        package = types.ModuleType("panns_inference")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["panns_inference"] = package
    return importlib.import_module("panns_inference.models")


def sample_photographs() -> dict[str, "object"]:
    """Real photographs that scikit-learn ships (china.jpg, flower.jpg: 427x640 RGB uint8)."""
    datasets = need("sklearn.datasets")
    return {name: datasets.load_sample_image(name) for name in ("china.jpg", "flower.jpg")}


REQUIREMENTS = Path(__file__).with_name("reference-requirements.txt")
