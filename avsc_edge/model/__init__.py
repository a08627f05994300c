"""The PyTorch reference model of CEOA + SF (needs the ``[train]`` extra: torch)."""
from __future__ import annotations

from .avsc import AVSCModel, ModelOutput, from_checkpoint
from .ceoa import ceoa_loss

__all__ = ["AVSCModel", "ModelOutput", "ceoa_loss", "from_checkpoint"]
