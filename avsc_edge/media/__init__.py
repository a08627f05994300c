"""Media I/O through PyAV: audio tracks as streams of resampled blocks, and frames at given times
decoded as sparingly as the frame policy allows, resized by libswscale to the model's size.

Every decoding error surfaces as :class:`~avsc_edge.errors.MediaError` with the file name.
"""
from __future__ import annotations

from .audio import Resampler, audio_blocks, check_sample_rate, load_audio, resample
from .container import MAX_FRAME_PIXELS, MediaInfo, MissingStreamError, probe
from .decoders import Decoder, select_decoder
from .video import POLICIES, FrameSampler, convert, resize_frames, sample_frames, window_frame_times

__all__ = ["Decoder", "FrameSampler", "MAX_FRAME_PIXELS", "MediaInfo", "MissingStreamError", "POLICIES",
           "Resampler", "audio_blocks", "check_sample_rate", "convert", "load_audio", "probe", "resample",
           "resize_frames", "sample_frames", "select_decoder", "window_frame_times"]
