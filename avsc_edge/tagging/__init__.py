"""The genuine taggers inside the package: ``avsc-edge tag`` (:mod:`.tagger`) and few-shot
``avsc-edge adapt`` (:mod:`.fewshot`, :mod:`.heads`); where the weights and samples are (:mod:`.bundle`).
No torch: everything runs through ONNX Runtime."""
from __future__ import annotations
