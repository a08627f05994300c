"""Datasets: the TAU Urban Audio-Visual Scenes 2021 reader and the synthetic scene generator."""
from __future__ import annotations

from .tau import Clip, TauDataset

__all__ = ["Clip", "TauDataset"]
