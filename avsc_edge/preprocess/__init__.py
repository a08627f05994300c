"""Pre-processing: the log-mel front end, frames, and recordings cut into model windows.

The user-facing functions: ``log_mel`` (the fused kernel, or its NumPy reference when the extension
is not built), ``log_mel_reference``, ``preprocess_frames`` (any RGB frames -> the model's input).
"""
from .audio_features import log_mel, log_mel_reference, mel_filterbank
from .frames import normalize_frames, preprocess_frames

__all__ = ["log_mel", "log_mel_reference", "mel_filterbank", "normalize_frames", "preprocess_frames"]
