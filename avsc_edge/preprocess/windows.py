"""From what the user passes (a container, a TAU-style pair, arrays) to model inputs, one window at
a time. Shared by prediction, batch prediction, evaluation and training's feature cache, so that
every path pre-processes exactly as the model was trained.

A recording is cut into consecutive windows of ``ClipConfig.seconds``; a trailing part counts only
when it holds at least half a window. Audio is decoded, resampled and windowed as a stream and
frames are sampled per window, so memory does not grow with the recording's length. A window the
video track no longer covers (a long audio file with a short video) is audio-only, and vice versa;
:attr:`Recording.notes` says so.
"""
from __future__ import annotations

import math
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from .. import media
from ..config import ClipConfig, FeatureConfig
from ..errors import InputError, MediaError
from ..formats.artifact import modalities_of
from .audio_features import check_waveform, fit_length, log_mel, window_samples
from .frames import check_frames, normalize_frames, unique_frames

MediaSource = str | os.PathLike


class EncodedFrames(tuple):
    """A window's frames already through the visual branch on the frame thread (see
    :attr:`Recording.frame_encoder`): ``(embeddings [F, ...], logits [F, ...])``."""


class Window:
    """One window's model inputs; ``None`` for a modality that does not cover it.

    ``log_mel``: float32 ``[1, n_mels, T]`` (None when a GPU backend computes it from ``wave``, the
    window's samples); ``frames``: float32 ``[F, 3, S, S]`` (or :class:`EncodedFrames`), which may
    still be decoding on the frame thread when the window is handed out (reading ``frames``
    waits), so that the audio branch can run meanwhile."""

    def __init__(self, index: int, start: float, log_mel: np.ndarray | None, frames=None,
                 wave: np.ndarray | None = None) -> None:
        self.index, self.start, self.log_mel, self.wave = index, start, log_mel, wave
        self._frames = frames

    @property
    def frames(self) -> np.ndarray | None:
        if isinstance(self._frames, Future):
            self._frames = self._frames.result()
        return self._frames

    @property
    def modalities(self) -> tuple[str, ...]:
        return modalities_of(self.log_mel is not None or self.wave is not None, self._frames is not None)


@dataclass
class ModelInputs:
    """A batch of windows with the same modalities; ``None`` for a missing modality. ``frames``
    may be a callable that stacks them when called (after the audio branch has run)."""

    log_mel: np.ndarray | None                          # float32 [W, 1, n_mels, T]
    frames: np.ndarray | Callable[[], np.ndarray] | None  # float32 [W, F, 3, S, S]
    timings: dict[str, float] = field(default_factory=dict)
    starts: list[float] = field(default_factory=list)
    wave: np.ndarray | None = None                      # float32 [W, samples] (features on the GPU)

    @property
    def modalities(self) -> tuple[str, ...]:
        return modalities_of(self.log_mel is not None or self.wave is not None, self.frames is not None)

    @classmethod
    def stack(cls, windows: list[Window]) -> "ModelInputs":
        """Windows with the same modalities -> one batch (frames stacked when first needed)."""
        if not windows or len({w.modalities for w in windows}) != 1:
            raise InputError("stack needs one or more windows with the same modalities")
        first = windows[0]
        mel = np.stack([w.log_mel for w in windows]) if first.log_mel is not None else None
        wave = np.stack([w.wave for w in windows]) if first.log_mel is None and first.wave is not None else None
        frames = (lambda: _stack_frames([w.frames for w in windows])) if "visual" in first.modalities else None
        return cls(mel, frames, starts=[w.start for w in windows], wave=wave)


def _stack_frames(frames: list) -> np.ndarray | EncodedFrames:
    if isinstance(frames[0], EncodedFrames):
        return EncodedFrames((np.stack([f[0] for f in frames]), np.stack([f[1] for f in frames])))
    return np.stack(frames)


TAIL_NOTE_SECONDS = 0.25   # a tail left out is worth a note beyond this (codec padding stays quiet)


def num_windows(duration: float, clip: ClipConfig) -> int:
    """Whole windows, plus a trailing partial one only when it holds at least half a window of
    signal (codec padding such as AAC priming must not create a near-empty window)."""
    full = math.floor(duration / clip.seconds + 1e-6)
    partial = duration - full * clip.seconds >= 0.5 * clip.seconds
    return max(1, full + int(partial))


# -- audio: blocks at features.sr -> windows of samples ------------------------------------------
def _audio_windows(blocks: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """Mono blocks -> consecutive windows of ``n`` samples; the trailing part only when it holds
    at least half a window (or when it is all there is)."""
    pending: list[np.ndarray] = []
    have, emitted = 0, 0
    for block in blocks:
        pending.append(block)
        have += block.shape[-1]
        while have >= n:
            joined = np.concatenate(pending)
            yield joined[:n]
            emitted += 1
            pending, have = [joined[n:]], have - n
    if have and (2 * have >= n or emitted == 0):
        yield np.concatenate(pending)


def _mono(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=0) if x.ndim == 2 else x


MAX_VIDEO_WINDOWS = 10_000   # windows a video track may claim (27.8 h of 10-s windows)


class FileFrames:
    """Frames of a video file, window by window, on the recording's clock (see
    :class:`~avsc_edge.media.FrameSampler`); predict and file streams share it. A track whose
    header claims more than :data:`MAX_VIDEO_WINDOWS` windows is refused before any decoding (a
    1-KB file whose two frames lie 10^7 s apart would otherwise be millions of windows)."""

    def __init__(self, path: MediaSource, clip: ClipConfig, decoder=None,
                 header: tuple[float, float | None] | None = None) -> None:
        self.sampler = media.FrameSampler(path, clip.frame_size, clip.frame_policy, clip.keyframe_tolerance, decoder,
                                          clip.frame_geometry, header)
        self.start, self._length = self.sampler.start(), self.sampler.duration()
        if self._length is not None and not self._length <= MAX_VIDEO_WINDOWS * clip.seconds:
            self.sampler.close()
            raise MediaError(f"{path}: the video track claims {self._length:.0f} s, more than {MAX_VIDEO_WINDOWS} "
                             f"windows of {clip.seconds:g} s; cut the recording into parts (e.g. with ffmpeg -t)")
        self.place(self.start)

    def place(self, origin: float, start: float | None = None) -> None:
        """Recording time 0 is container time ``origin`` (the video's own start unless its audio
        track starts earlier); ``start``: where the video's first packet lies, when it was seen
        (a header probed without decoding may give the container's start instead)."""
        self.origin = origin
        self.start = self.start if start is None else start
        self.duration = None if self._length is None else self._length + self.start - origin

    def place_on(self, timeline: dict) -> None:
        """Placed by the timeline :func:`~avsc_edge.media.audio_blocks` filled for one container."""
        self.place(timeline["origin"], timeline.get("video_start"))

    def at(self, times: np.ndarray) -> np.ndarray:
        return self.sampler.sample(times + self.origin)[0]

    def close(self) -> None:
        self.sampler.close()


class _ArrayFrames:
    """Frames given as an array at ``fps``: the nearest one to each time, resized by libswscale."""

    def __init__(self, frames: np.ndarray, fps: float, clip: ClipConfig) -> None:
        self.frames, self.clip = frames, clip
        self.times = np.arange(frames.shape[0]) / float(fps)
        self.duration = frames.shape[0] / float(fps)

    def at(self, times: np.ndarray) -> np.ndarray:
        idx = np.abs(self.times[None, :] - times[:, None]).argmin(axis=1)
        return media.resize_frames(self.frames[idx], self.clip.frame_size, self.clip.frame_geometry)

    def close(self) -> None:
        pass


class Recording:
    """One recording's windows, streamed. Build with :meth:`from_files` or :meth:`from_arrays`,
    then iterate :meth:`windows`. ``timings`` accumulates milliseconds per stage (decode, frames,
    features) and ``notes`` what was degraded."""

    def __init__(self, audio_blocks: Iterable[np.ndarray] | None, frames, features: FeatureConfig,
                 clip: ClipConfig, threads: int | None = None, max_windows: int | None = None,
                 source: str | None = None, host_features: bool = True) -> None:
        self.features, self.clip, self.threads, self.max_windows = features, clip, threads, max_windows
        self.source, self.host_features = source, host_features
        self._audio = audio_blocks
        self._frames = frames
        self.timings = {"decode_ms": 0.0, "features_ms": 0.0, "frames_ms": 0.0}
        self.notes: list[str] = []
        self.timeline: dict | None = None     # where the tracks of one container start (media.audio_blocks)
        self._normalize_s = 0.0
        self._audio_samples, self._audio_peak = 0, 0.0
        # a window shorter than the model's (a short clip, a trailing part) is padded with silence;
        # False keeps it at its own length (taggers that pool over time, as EfficientAT tags a clip)
        self.pad_short = True
        # frames [F, 3, S, S] -> (embeddings, logits), run on the frame thread right after decoding
        # (the runner sets it: the visual branch then overlaps the audio branch on the other core)
        self.frame_encoder: Callable[[np.ndarray], tuple] | None = None
        self.encode_seconds = 0.0

    @property
    def modalities(self) -> tuple[str, ...]:
        return modalities_of(self._audio is not None, self._frames is not None)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_user(cls, path, audio, video, sample_rate: int | None, frames, fps: float | None, info,
                  threads: int | None, decoder: str | None, host_features: bool) -> tuple["Recording", str | None]:
        """What :meth:`~avsc_edge.Classifier.predict` was given -> (recording, its name): a
        container (``path``), a TAU-style pair (``audio=`` file, ``video=`` file), or arrays."""
        features, clip = info.feature_config, info.clip_config
        if path is not None:
            if audio is not None or video is not None or frames is not None:
                raise InputError("pass either a path, or audio=/video=/frames=, not both")
            return cls.from_files(path, path, features, clip, threads, decoder=decoder,
                                  host_features=host_features), str(path)
        if isinstance(audio, np.ndarray) or frames is not None:
            if video is not None:
                raise InputError("video= takes a file; pass frames= for arrays")
            return cls.from_arrays(audio, sample_rate, frames, fps, features, clip, threads,
                                   host_features=host_features), None
        if audio is None and video is None:
            raise InputError("nothing to classify: pass a path, audio=/video= files, or arrays")
        return cls.from_files(audio, video, features, clip, threads, decoder=decoder,
                              host_features=host_features), str(video or audio)

    @classmethod
    def from_files(cls, audio: MediaSource | None, video: MediaSource | None, features: FeatureConfig,
                   clip: ClipConfig, threads: int | None = None, max_windows: int | None = None,
                   decoder=None, host_features: bool = True) -> "Recording":
        """``audio``: any file with an audio track; ``video``: a container. The same file for both
        is a recording whose missing track is simply absent. ``host_features=False`` leaves the
        log-mel to a GPU backend (windows carry their samples)."""
        same = audio is not None and video is not None and os.fspath(audio) == os.fspath(video)
        timeline: dict | None = {} if same else None   # one container: its tracks share a clock
        blocks = None
        if audio is not None:
            limit = None if max_windows is None else max_windows * clip.seconds
            gen = media.audio_blocks(audio, features.sr, mono=True, max_seconds=limit, timeline=timeline)
            try:
                first = next(gen)
            except media.MissingStreamError:
                if not same:
                    raise
            else:
                blocks = _chain(first, gen)
        frames = None
        if video is not None:
            try:   # one container's tracks: the video header is known, the frame thread opens the file
                frames = FileFrames(video, clip, decoder, (timeline or {}).get("video_header"))
            except media.MissingStreamError:
                if blocks is None and not same:
                    raise
        if blocks is None and frames is None:
            raise MediaError(f"{video or audio}: neither an audio nor a video track could be read")
        rec = cls(blocks, frames, features, clip, threads, max_windows, str(video or audio), host_features)
        if timeline and frames is not None and blocks is not None:
            frames.place_on(timeline)
            rec.timeline = timeline
        return rec

    @classmethod
    def from_arrays(cls, audio: np.ndarray | None, sample_rate: int | None, frames: np.ndarray | None,
                    fps: float | None, features: FeatureConfig, clip: ClipConfig,
                    threads: int | None = None, host_features: bool = True) -> "Recording":
        """A waveform ``[samples]`` or ``[channels, samples]`` at ``sample_rate`` and/or RGB uint8
        frames ``[T, H, W, 3]`` at ``fps``."""
        blocks = None
        if audio is not None:
            if sample_rate is None:
                raise InputError("audio given as an array needs sample_rate=")
            x = check_waveform(audio, "audio")
            if x.ndim > 2:
                raise InputError(f"audio must be [samples] or [channels, samples], got shape {x.shape}")
            blocks = [media.resample(x, int(sample_rate), features.sr, mono=True)]
        source = None
        if frames is not None:
            if fps is None or not fps > 0:
                raise InputError("frames given as an array need fps= (frames per second, > 0)")
            source = _ArrayFrames(check_frames(frames), fps, clip)
        if blocks is None and source is None:
            raise InputError("pass audio= and/or frames=")
        return cls(blocks, source, features, clip, threads, host_features=host_features)

    # -- iteration ---------------------------------------------------------------------------
    def _timed_audio(self) -> Iterator[np.ndarray]:
        it = iter(self._audio)
        while True:
            t0 = time.perf_counter()
            block = next(it, None)
            self.timings["decode_ms"] += (time.perf_counter() - t0) * 1e3
            if block is None:
                return
            mono = _mono(block)
            self._audio_samples += mono.shape[-1]
            if mono.size:
                self._audio_peak = max(self._audio_peak, float(mono.max()), -float(mono.min()))
            yield mono

    def _frames_for(self, index: int) -> np.ndarray | EncodedFrames:
        """The window's frames, normalised (on the frame thread). Sample times past the end of the
        video (a trailing partial window) take its last moment: no decoding to the end of the
        file in search of frames that do not exist."""
        times = media.window_frame_times(index * self.clip.seconds, self.clip.seconds, self.clip.num_frames)
        if self._frames.duration:
            times = np.minimum(times, self._frames.duration)
        rgb = self._frames.at(times)
        t0 = time.perf_counter()
        frames = _normalize_unique(rgb, self.clip.frame_norm)
        t1 = time.perf_counter()
        self._normalize_s += t1 - t0
        if self.frame_encoder is None:
            return frames
        encoded = EncodedFrames(self.frame_encoder(frames))
        self.encode_seconds += time.perf_counter() - t1
        return encoded

    def _video_windows(self) -> int | None:
        """How many windows the video covers (None: unknown, as many as the audio)."""
        if self._frames is None:
            return 0
        if self._frames.duration is None:
            return None if self._audio is not None else 1
        return num_windows(self._frames.duration, self.clip)

    def windows(self) -> Iterator[Window]:
        """Every window of the recording, in order."""
        clip, n = self.clip, window_samples(self.features, self.clip)
        audio = _audio_windows(self._timed_audio(), n) if self._audio is not None else iter(())
        video_count = self._video_windows()
        pool = ThreadPoolExecutor(1, thread_name_prefix="avsc-frames") if self._frames is not None else None
        audio_only_from = visual_only_from = None
        # ended: the recording ran out (not stopped at max_windows, not closed early)
        count, short_audio, ended = 0, None, False
        late_audio_windows = self._late_audio_windows()
        try:
            for index in range(self.max_windows or 2 ** 62):
                has_video = self._frames is not None and (video_count is None or index < video_count)
                pending = pool.submit(self._frames_for, index) if has_video else None  # decodes while audio does
                wave = next(audio, None)
                if wave is not None and pending is not None and index < late_audio_windows:
                    wave = None     # mostly the silence before a late audio track: the video alone decides
                if wave is None and (pending is None or video_count is None) and index >= late_audio_windows:
                    if pending is not None:
                        pending.cancel()
                    ended = True
                    break
                if wave is None and self._audio is not None and visual_only_from is None \
                        and index >= late_audio_windows:
                    visual_only_from = index
                if wave is not None and wave.shape[-1] < n:
                    short_audio = (index, wave.shape[-1] / self.features.sr)
                t0 = time.perf_counter()
                # one kernel thread while the frame thread decodes: two OpenMP threads plus a decoder
                # on two cores make the kernel's barrier spin against the decoder
                threads = 1 if pending is not None and not pending.done() else self.threads
                samples = wave if wave is not None and not self.pad_short and wave.shape[-1] < n else \
                    fit_length(wave, n) if wave is not None else None
                mel = None
                if samples is not None and self.host_features:
                    mel = log_mel(samples, self.features, threads)[None]
                self.timings["features_ms"] += (time.perf_counter() - t0) * 1e3
                if pending is None and wave is not None and self._frames is not None and audio_only_from is None:
                    audio_only_from = index
                count += 1
                yield Window(index, index * clip.seconds, mel, pending, None if self.host_features else samples)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
            self._settle_timings()
            self.notes += self._coverage_notes(count, audio_only_from, visual_only_from, short_audio, ended)
            if self.timeline is not None:
                self.notes += timeline_notes(self.timeline, late_audio_windows * clip.seconds)
            if self._frames is not None:
                self._frames.close()

    def _late_audio_windows(self) -> int:
        """Windows at the start that the audio track covers less than half of (it starts later than
        the video in one container): they are classified from the video alone, as a stream does."""
        if not self.timeline or self._frames is None:
            return 0
        lead = self.timeline["audio_start"] - self.timeline["origin"]
        return max(0, math.ceil(lead / self.clip.seconds - 0.5 - 1e-9))

    def _coverage_notes(self, count: int, audio_only_from, visual_only_from, short_audio,
                        ended: bool) -> list[str]:
        """What a user should know about how the windows cover the recording."""
        seconds, notes = self.clip.seconds, []
        audio_s = self._audio_samples / self.features.sr
        video_s = getattr(self._frames, "duration", None)
        if self._audio is None and self._frames is not None:
            notes.append("no audio track: classified from the video alone")
        if self._frames is None and self._audio is not None:
            notes.append("no video track: classified from the audio alone")
        if self._audio is not None and self._audio_samples and self._audio_peak == 0.0:
            notes.append("the audio track is silent (all samples zero)")
        if audio_only_from is not None:
            ends = f"ends at {video_s:.1f} s" if video_s else "ends"
            notes.append(f"video track {ends}: windows from {audio_only_from * seconds:g} s on are classified from "
                         "the audio alone")
        if visual_only_from is not None:
            notes.append(f"audio track ends at {audio_s:.1f} s: windows from {visual_only_from * seconds:g} s on are "
                         "classified from the video alone")
        if short_audio is not None:
            index, held = short_audio
            how = "padded with silence" if self.pad_short else "analysed at its own length"
            if count == 1:
                notes.append(f"the recording ({held:.1f} s of audio) is shorter than the model's {seconds:g}-s "
                             f"window: it is {how}")
            else:
                notes.append(f"the last window (from {index * seconds:g} s) holds {held:.1f} s of audio: {how}")
        elif count == 1 and self._audio is None and video_s and video_s < seconds - 1e-6:
            notes.append(f"the recording ({video_s:.1f} s) is shorter than the model's {seconds:g}-s window: its "
                         "last frame stands in for the rest")
        left = max(audio_s, video_s or 0.0) - count * seconds
        if ended and short_audio is None and left >= TAIL_NOTE_SECONDS:
            notes.append(f"the last {left:.1f} s (after {count * seconds:g} s) are not classified: a trailing part "
                         f"shorter than half the model's {seconds:g}-s window is left out")
        return notes

    def _settle_timings(self) -> None:
        self.timings["frames_ms"] += self._normalize_s * 1e3
        self._normalize_s = 0.0
        sampler = getattr(self._frames, "sampler", None)
        if sampler is not None:
            self.timings["decode_ms"] += sampler.seconds["decode"] * 1e3
            self.timings["frames_ms"] += sampler.seconds["convert"] * 1e3
            sampler.seconds = {"decode": 0.0, "convert": 0.0}


def _normalize_unique(rgb: np.ndarray, norm: str) -> np.ndarray:
    """:func:`normalize_frames`, once per distinct frame (keyframes repeat across sample times)."""
    keep, inverse = unique_frames(rgb)
    return normalize_frames(rgb[keep], norm)[inverse]


def timeline_notes(timeline: dict, video_alone_until: float = 0.0, threshold: float = 0.1) -> list[str]:
    """What a user should know about tracks that start apart (container timestamps)."""
    notes, origin = [], timeline["origin"]
    lead = timeline["audio_start"] - origin
    if video_alone_until > 0:
        notes.append(f"audio track starts {lead:.2f} s after the video: windows before {video_alone_until:g} s are "
                     "classified from the video alone")
    elif lead >= threshold:
        notes.append(f"audio track starts {lead:.2f} s after the video: silence stands in before it")
    if timeline.get("video_start", origin) - origin >= threshold:
        notes.append(f"video track starts {timeline['video_start'] - origin:.2f} s after the audio: its first frame "
                     "stands in before it")
    return notes


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def first_window(audio: MediaSource | None, video: MediaSource | None, features: FeatureConfig,
                 clip: ClipConfig) -> Window:
    """The first window of a recording (what training's feature cache stores per clip)."""
    rec = Recording.from_files(audio, video, features, clip, threads=1, max_windows=1)
    return next(rec.windows())
