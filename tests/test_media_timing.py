"""Real-world media timing and orientation: tracks placed by the container's timestamps (audio that
starts after the video, video that starts after the audio), and display matrices (phone video stored
sideways) applied on every frame path."""
from __future__ import annotations

import numpy as np
import pytest

from avsc_edge import media
from avsc_edge.config import ClipConfig, FeatureConfig
from avsc_edge.preprocess.windows import Recording

SR, FPS = 16000, 10


def shifted_clip(path, seconds: float, audio_start: float, video_start: float = 0.0):
    """H.264 frames whose brightness is their second (25 * floor(t)) from ``video_start``, and a
    1-kHz tone from ``audio_start`` to the end, each track stamped on the container's clock."""
    import av
    from fractions import Fraction

    with av.open(str(path), "w", format="matroska") as c:
        v = c.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.options = {"g": str(FPS)}
        a = c.add_stream("pcm_s16le", rate=SR)
        a.layout = "mono"
        a.time_base = Fraction(1, SR)
        packets = []
        for i in range(int((seconds - video_start) * FPS)):
            t = video_start + i / FPS
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), int(25 * np.floor(t)), np.uint8), format="rgb24")
            f.pts = int(round(t * FPS))
            f.time_base = Fraction(1, FPS)
            packets += v.encode(f)
        packets += v.encode(None)
        n = int((seconds - audio_start) * SR)
        tone = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(n) / SR)).astype(np.float32)
        for s in range(0, n, 1600):
            f = av.AudioFrame.from_ndarray(tone[None, s:s + 1600], format="flt", layout="mono")
            f.sample_rate, f.pts, f.time_base = SR, int(round(audio_start * SR)) + s, Fraction(1, SR)
            packets += a.encode(f)
        packets += a.encode(None)
        for p in sorted(packets, key=lambda p: float(p.dts * p.time_base)):   # interleaved in decoding order
            c.mux(p)
    return path


def window_levels(path, seconds=2.5):
    features, clip = FeatureConfig(sr=SR), ClipConfig(seconds=seconds, num_frames=2, frame_size=16, frame_policy="exact")
    rec = Recording.from_files(path, path, features, clip)
    out = [(w.log_mel.max() if w.log_mel is not None else None, float(w.frames.mean()), w.modalities)
           for w in rec.windows()]
    return out, rec.notes


def brightness_of(normalised_mean: float) -> float:
    """Mean pixel value (0..255) of a grey frame from its ImageNet-normalised mean."""
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    return float(np.mean((normalised_mean * std + mean) * 255))


def test_audio_that_starts_after_the_video_is_placed_by_its_timestamps(tmp_path):
    path = shifted_clip(tmp_path / "late-audio.mkv", 10.0, audio_start=5.0)
    windows, notes = window_levels(path)
    # the windows before the tone hold no audio at all: the video alone decides them, not padded silence
    assert [m for *_, m in windows] == [("visual",), ("visual",), ("audio", "visual"), ("audio", "visual")]
    assert [level > -20 for level, _, _ in windows[2:]] == [True, True]          # the tone starts at 5 s: window 2
    assert any("audio track starts 5.00 s after the video: windows before 5 s are classified from the video alone"
               in n for n in notes)
    # frames of window 0 come from 0-2.5 s (brightness 0 and 25), not from where the audio began
    assert brightness_of(windows[0][1]) < 30


def test_video_that_starts_after_the_audio(tmp_path):
    path = shifted_clip(tmp_path / "late-video.mkv", 10.0, audio_start=0.0, video_start=3.0)
    windows, notes = window_levels(path)
    assert all(level > -20 for level, _, _ in windows)
    assert any("video track starts 3.00 s after the audio" in n for n in notes)
    assert brightness_of(windows[2][1]) == pytest.approx(25 * 5.5, abs=15)   # 5-7.5 s: frames of 5.6 and 6.9 s


def test_a_stream_of_the_file_hears_the_audio_where_predict_does(tmp_path):
    from avsc_edge.stream.sources import file_events

    path = shifted_clip(tmp_path / "late-audio.mkv", 8.0, audio_start=5.0)
    clip = ClipConfig(seconds=2.0, num_frames=2, frame_size=16, frame_policy="exact")
    loud_from, frames = None, []
    for kind, data, t in file_events(path, SR, clip):
        if kind == "audio" and loud_from is None and np.abs(data).max() > 0.1:
            loud_from = t + np.argmax(np.abs(data) > 0.1) / SR
        if kind == "frame":
            frames.append((t, float(data.mean())))
    assert loud_from == pytest.approx(5.0, abs=0.01)
    assert frames[0][0] == pytest.approx(0.5) and frames[0][1] < 5


def test_a_late_audio_track_leaves_the_first_windows_to_the_video_in_predict_and_stream(tiny_checkpoint, tmp_path):
    from avsc_edge import Classifier

    clf = Classifier(tiny_checkpoint)      # 1.5-s windows
    path = shifted_clip(tmp_path / "late-audio.mkv", 6.0, audio_start=3.0)
    p = clf.predict(path)
    assert [w["modalities"] for w in p.windows] == [["visual"], ["visual"], ["audio", "visual"], ["audio", "visual"]]
    streamed = list(clf.stream(path, hop=1.5))
    assert [s.modalities for s in streamed] == [("visual",), ("visual",), ("audio", "visual"), ("audio", "visual")]


def rotated_clip(path, degrees: int):
    """A landscape 64x48 clip with a white block in its stored top-left corner and a display matrix."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.set_display_rotation(degrees)
        img = np.zeros((48, 64, 3), np.uint8)
        img[:16, :16] = 255
        for _ in range(5):
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


@pytest.mark.parametrize("degrees,corner", [(-90, "top-right"), (90, "bottom-left"), (180, "bottom-right"),
                                            (0, "top-left")])
@pytest.mark.parametrize("policy", ["keyframe", "exact"])
def test_display_matrix_is_applied_on_every_frame_path(tmp_path, degrees, corner, policy):
    """-90: how phones store portrait video; players turn it clockwise (FFmpeg's autorotate)."""
    path = rotated_clip(tmp_path / f"rot{degrees}.mp4", degrees)
    full, _ = media.sample_frames(path, [0.1], None, policy)
    assert full.shape[1:3] == ((64, 48) if degrees % 180 else (48, 64))
    for geometry in ("squash", "center_crop"):
        small, _ = media.sample_frames(path, [0.1], 32, policy, geometry=geometry)
        grey = small[0].mean(axis=-1)
        quadrants = {"top-left": grey[:8, :8], "top-right": grey[:8, -8:], "bottom-left": grey[-8:, :8],
                     "bottom-right": grey[-8:, -8:]}
        assert max(quadrants, key=lambda q: quadrants[q].mean()) == corner, geometry


def test_a_matroska_video_shorter_than_its_audio_ends_where_its_duration_tag_says(tmp_path):
    """Matroska stores no per-stream duration header, only a DURATION tag: 3 s of video under 9 s
    of audio is audio-only from the window that starts at 3 s, and the note says when it ends."""
    from avsc_edge.data.synth import write_av

    rng = np.random.default_rng(0)
    path = tmp_path / "short-video.mkv"
    write_av(path, rng.integers(0, 255, (30, 48, 64, 3), dtype=np.uint8), 10.0,
             (rng.standard_normal((1, SR * 9)) * 0.1).astype(np.float32), SR, audio_codec="pcm_s16le")
    clip = ClipConfig(seconds=1.5, num_frames=2, frame_size=16)
    rec = Recording.from_files(path, path, FeatureConfig(sr=SR), clip)
    modalities = [w.modalities for w in rec.windows()]
    assert modalities == [("audio", "visual")] * 2 + [("audio",)] * 4
    assert "video track ends at 3.0 s: windows from 3 s on are classified from the audio alone" in rec.notes
