"""The synthetic scene generator: writes a dataset in the exact TAU Urban Audio-Visual Scenes 2021
layout (48 kHz stereo WAV, H.264 + AAC MP4, ``meta.csv``, ``evaluation_setup/fold1_*.csv``) plus a
sidecar ``synth_ground_truth.json`` with every clip's events, objects and co-occurring pairs.

Deterministic: clip ``i`` of seed ``s`` depends only on ``(s, i)``.
"""
from __future__ import annotations

import json
import os
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..config import JsonConfig
from ..errors import InputError
from ..labels import SCENES
from .ceilings import tag_ceilings
from .scenes import CONTEXT, CONTEXT_IDS, SIGNATURES, SOURCES, congruence_plan
from .synth_audio import render_scene_audio
from .synth_video import iter_scene_frames

GROUND_TRUTH_FILE = "synth_ground_truth.json"
CITIES = ("amsterdam", "barcelona", "helsinki", "lisbon", "london", "lyon", "milan", "prague", "stockholm", "vienna")


PROFILES = {
    # small, fast clips for tests, the demo and training experiments on a CPU
    "small": dict(fps=5.0, width=128, height=96, gop_seconds=1.0, video_bitrate=None, b_frames=0),
    # what a user's camera or TAU Urban Audio-Visual Scenes 2021 looks like: 1280x720 H.264 at
    # 30 fps with a keyframe every 2 s, B-frames and a camera-like ~5 Mbit/s, 10-s clips
    "tau": dict(fps=30.0, width=1280, height=720, gop_seconds=2.0, video_bitrate=5_000_000, b_frames=2,
                duration=10.0),
    # video as a web pipeline re-encodes it (x264's default keyint of 250: one keyframe per 10.4 s
    # at 24 fps, 3 B-frames) with MP3 audio: a phone, camera or download
    # a phone or action camera: 720p at 24 fps, a keyframe every second, no B-frames, MP3 audio
    "phone": dict(fps=24.0, width=1280, height=720, gop_seconds=1.0, video_bitrate=4_000_000, b_frames=0,
                  duration=10.0, audio_codec="libmp3lame"),
    "longgop": dict(fps=24.0, width=1280, height=720, gop_seconds=250 / 24, video_bitrate=3_000_000, b_frames=3,
                    duration=10.0, audio_codec="libmp3lame"),
}


MIN_CLIPS = 2 * len(SCENES)
WORLD_VERSION = 2     # bumped when the same SynthConfig would draw another world (data.scenes)   # every scene in both splits


@dataclass(frozen=True)
class SynthConfig(JsonConfig):
    """What the generator writes. ``evaluate_fraction`` of each scene's clips go to fold1_evaluate.
    ``SynthConfig.profile("tau")`` gives 1280x720 30-fps camera-like clips (see ``PROFILES``)."""

    clips: int = 100
    seed: int = 0
    duration: float = 10.0
    sample_rate: int = 48000
    fps: float = 5.0
    width: int = 128
    height: int = 96
    gop_seconds: float = 1.0
    video_bitrate: int | None = None
    b_frames: int = 0
    evaluate_fraction: float = 0.3
    sources_per_clip: int = 3
    distractor_prob: float = 0.5
    drop_prob: float = 0.15
    audio_in_video: bool = True
    audio_codec: str = "aac"         # the video container's audio track
    congruence: bool = False        # the congruence benchmark (data.scenes.CONGRUENCE_PAIRS)

    def __post_init__(self) -> None:
        if self.clips < MIN_CLIPS:
            raise InputError(f"need at least {MIN_CLIPS} clips (two per scene: every scene is trained on and "
                             f"evaluated), got {self.clips}")
        if not 0.5 <= self.duration <= 60:
            raise InputError(f"duration must be in 0.5..60 seconds, got {self.duration}")

    @classmethod
    def profile(cls, name: str, **overrides) -> "SynthConfig":
        if name not in PROFILES:
            raise InputError(f"unknown synth profile {name!r}; choose one of {sorted(PROFILES)}")
        return cls(**{**PROFILES[name], **overrides})

    def video_options(self) -> dict[str, str]:
        """libx264 options: keyframe interval, B-frames, and a bitrate cap when one is set."""
        keyint = max(1, int(round(self.gop_seconds * self.fps)))
        opts = {"g": str(keyint), "keyint_min": str(keyint), "sc_threshold": "0", "bf": str(self.b_frames)}
        if self.video_bitrate:
            rate = str(self.video_bitrate)
            opts.update({"preset": "superfast", "b": rate, "maxrate": rate, "bufsize": str(2 * self.video_bitrate)})
        else:
            opts.update({"preset": "ultrafast" if self.b_frames == 0 else "superfast", "crf": "23"})
        return opts


@dataclass(frozen=True)
class ClipPlan:
    stem: str
    scene: str
    identifier: str
    events: tuple[str, ...]
    objects: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]


def plan_clip(cfg: SynthConfig, index: int) -> tuple[ClipPlan, np.random.Generator]:
    """Choose the scene, sources and dropped modalities of clip ``index`` (deterministic)."""
    rng = np.random.default_rng([cfg.seed, index])
    scene = SCENES[index % len(SCENES)]
    plan = congruence_plan(scene) if cfg.congruence else None
    if plan is not None:
        keys, context = plan
        sources = [keys[int(rng.integers(2))]]
        weights = np.ones(len(context))
    else:
        sources = [SIGNATURES[scene]]
        context = list(CONTEXT_IDS)
        weights = np.array([w for _, w in CONTEXT])
    picked = rng.choice(context, size=min(cfg.sources_per_clip - 1, len(context)), replace=False,
                        p=weights / weights.sum())
    sources += [SOURCES[int(src)] for src in picked]
    if rng.random() < cfg.distractor_prob:     # one more background source, perhaps a repeat
        sources.append(SOURCES[int(context[int(rng.integers(len(context)))])])
    events, objects, pairs = [], [], []
    for k, (event, obj) in enumerate(sources):
        heard = k == 0 or rng.random() >= cfg.drop_prob
        seen = k == 0 or rng.random() >= cfg.drop_prob
        events += [event] if heard and event not in events else []
        objects += [obj] if seen and obj not in objects else []
        if heard and seen and (event, obj) not in pairs:
            pairs.append((event, obj))
    city = CITIES[(index // len(SCENES)) % len(CITIES)]
    identifier = f"{city}-{index}"
    stem = f"{scene}-{identifier}-{index * 10}-a"
    return ClipPlan(stem, scene, identifier, tuple(events), tuple(objects), tuple(pairs)), rng


def write_wav(path: Path, audio: np.ndarray, sr: int) -> None:
    """16-bit PCM WAV of a float ``[channels, samples]`` signal."""
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").T.copy()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(audio.shape[0])
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())


def write_av(path: Path, frames: np.ndarray | Iterable[np.ndarray] | None, fps: float, audio: np.ndarray | None,
             sr: int, video_codec: str = "libx264", audio_codec: str = "aac",
             video_options: dict[str, str] | None = None, size: tuple[int, int] | None = None) -> None:
    """Write a container (format from the suffix) with a video track of RGB ``frames`` (an array
    ``[T, H, W, 3]``, or an iterable of ``[H, W, 3]`` frames with ``size=(W, H)``) and/or an audio
    track of float ``audio`` ``[channels, samples]``. ``video_options`` go to the encoder
    (default for libx264: ultrafast, crf 23)."""
    import fractions

    import av

    layout = f"{audio.shape[0]}c" if audio is not None else None   # FFmpeg's default layout for that count
    with av.open(str(path), "w") as c:
        v = a = None
        if frames is not None:
            v = c.add_stream(video_codec, rate=fractions.Fraction(fps).limit_denominator(1000))
            v.width, v.height = size if size is not None else (frames.shape[2], frames.shape[1])
            v.pix_fmt = "yuvj420p" if video_codec == "mjpeg" else "yuv420p"
            if video_options is not None:
                v.options = dict(video_options)
            elif video_codec == "libx264":
                v.options = {"preset": "ultrafast", "crf": "23"}
        if audio is not None:
            a = c.add_stream(audio_codec, rate=sr)
            a.layout = layout
        if v is not None:
            for f in frames:
                for packet in v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    c.mux(packet)
            for packet in v.encode():
                c.mux(packet)
        if a is not None:
            fmt = a.codec_context.codec.audio_formats[0].name
            # packed samples: PyAV 18 mishandles planar frames of 8 or more channels
            interleaved = np.ascontiguousarray(np.asarray(audio, np.float32).T).reshape(1, -1)
            af = av.AudioFrame.from_ndarray(interleaved, format="flt", layout=layout)
            af.sample_rate = sr
            resampler = av.AudioResampler(format=fmt, layout=layout, rate=sr,
                                          frame_size=a.codec_context.frame_size or None)
            for chunk in resampler.resample(af) + resampler.resample(None):
                for packet in a.encode(chunk):
                    c.mux(packet)
            for packet in a.encode():
                c.mux(packet)


def _write_clip(out: Path, cfg: SynthConfig, index: int) -> ClipPlan:
    plan, rng = plan_clip(cfg, index)
    audio = render_scene_audio(rng, list(plan.events), cfg.duration, cfg.sample_rate)
    n_frames = max(1, int(round(cfg.duration * cfg.fps)))
    frames = iter_scene_frames(rng, list(plan.objects), n_frames, cfg.width, cfg.height)
    write_wav(out / "audio" / f"{plan.stem}.wav", audio, cfg.sample_rate)
    write_av(out / "video" / f"{plan.stem}.mp4", frames, cfg.fps, audio if cfg.audio_in_video else None,
             cfg.sample_rate, audio_codec=cfg.audio_codec, video_options=cfg.video_options(), size=(cfg.width, cfg.height))
    return plan


def _split(plans: list[ClipPlan], fraction: float) -> tuple[list[ClipPlan], list[ClipPlan]]:
    """Per scene, ``fraction`` of its clips (at least one, never all) to the evaluate split."""
    train, evaluate = [], []
    for scene in SCENES:
        mine = [p for p in plans if p.scene == scene]
        n_eval = min(len(mine) - 1, max(1, int(round(len(mine) * fraction))))
        evaluate += mine[len(mine) - n_eval:]
        train += mine[:len(mine) - n_eval]
    return train, evaluate


def _write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n")
    os.replace(tmp, path)


def generate(out: str | os.PathLike, cfg: SynthConfig = SynthConfig(),
             progress: Callable[[int], None] | None = None) -> Path:
    """Write a synthetic TAU-layout dataset of ``cfg.clips`` clips under ``out``; returns its path."""
    root = Path(out)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "video").mkdir(exist_ok=True)
    (root / "evaluation_setup").mkdir(exist_ok=True)
    plans = []
    for i in range(cfg.clips):
        plans.append(_write_clip(root, cfg, i))
        if progress:
            progress(1)
    row = lambda p: [f"audio/{p.stem}.wav", f"video/{p.stem}.mp4"]  # noqa: E731
    _write_tsv(root / "meta.csv", ["filename_audio", "filename_video", "scene_label", "identifier"],
               [row(p) + [p.scene, p.identifier] for p in plans])
    train, evaluate = _split(plans, cfg.evaluate_fraction)
    labelled = ["filename_audio", "filename_video", "scene_label"]
    _write_tsv(root / "evaluation_setup" / "fold1_train.csv", labelled, [row(p) + [p.scene] for p in train])
    _write_tsv(root / "evaluation_setup" / "fold1_evaluate.csv", labelled, [row(p) + [p.scene] for p in evaluate])
    _write_tsv(root / "evaluation_setup" / "fold1_test.csv", ["filename_audio", "filename_video"],
               [row(p) for p in evaluate])
    sources = list(SOURCES) + ([pair for pairs in (congruence_plan(sc)[0] for sc in SCENES if congruence_plan(sc))
                                for pair in pairs if pair not in SOURCES] if cfg.congruence else [])
    truth = {
        "config": cfg.to_dict(),
        "world": WORLD_VERSION,
        "sources": [list(s) for s in dict.fromkeys(sources)],
        "clips": {p.stem: {"scene": p.scene, "events": list(p.events), "objects": list(p.objects),
                           "pairs": [list(x) for x in p.pairs]} for p in plans},
    }
    truth["ceilings"] = tag_ceilings(truth["clips"], [p.stem for p in train], [p.stem for p in evaluate],
                                     [tuple(s) for s in truth["sources"]])
    (root / GROUND_TRUTH_FILE).write_text(json.dumps(truth, indent=1))
    return root


STAMP_FILE = "synth_config.json"


def generate_once(out: str | os.PathLike, cfg: SynthConfig, progress: Callable[[int], None] | None = None) -> bool:
    """``generate`` unless ``out`` already holds this config's dataset of this world; True if written."""
    if generated(out, cfg):
        return False
    generate(Path(out), cfg, progress)
    (Path(out) / STAMP_FILE).write_text(made_by(cfg))
    return True


def made_by(cfg: SynthConfig) -> str:
    return json.dumps({"world": WORLD_VERSION, "config": cfg.to_dict()})


def generated(out: str | os.PathLike, cfg: SynthConfig) -> bool:
    """Whether ``out`` holds this config's dataset of this world."""
    stamp = Path(out) / STAMP_FILE
    return stamp.is_file() and stamp.read_text() == made_by(cfg)
