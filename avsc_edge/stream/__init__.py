"""Streaming: incremental classification of rolling windows, a thread-safe push API, sources."""
from __future__ import annotations

from .push import StreamClassifier
from .state import StreamConfig, StreamState

__all__ = ["StreamClassifier", "StreamConfig", "StreamState"]
