"""Real files in several containers and codecs, and a corpus of malformed ones: each either
classifies (degrading to one modality where one is missing) or raises a typed AVSCError."""
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")

from avsc_edge import Classifier, media  # noqa: E402
from avsc_edge.data.synth import write_av, write_wav  # noqa: E402
from avsc_edge.errors import ArtifactError, AVSCError, InputError, MediaError  # noqa: E402

CONTAINERS = [("mp4", "libx264", "aac"), ("mkv", "libx264", "aac"), ("mov", "libx264", "aac"),
              ("avi", "mpeg4", "mp3"), ("webm", "libvpx-vp9", "libopus"), ("avi", "mjpeg", "pcm_s16le")]


@pytest.fixture(scope="module")
def clf(tiny_checkpoint):
    return Classifier(tiny_checkpoint)


@pytest.fixture(scope="module")
def content():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (8, 48, 64, 3), dtype=np.uint8)
    audio = (rng.standard_normal((2, 48000 * 2)) * 0.1).astype(np.float32)
    return frames, audio


@pytest.mark.parametrize("ext,vcodec,acodec", CONTAINERS)
def test_containers_and_codecs(clf, content, tmp_path, ext, vcodec, acodec):
    frames, audio = content
    path = tmp_path / f"clip.{ext}"
    write_av(path, frames, 5.0, audio, 48000, vcodec, acodec)
    p = clf.predict(path)
    assert p.modalities == ("audio", "visual") and p.label == max(p.scores, key=p.scores.get)
    assert sum(p.scores.values()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("sr,channels", [(8000, 1), (192000, 2), (48000, 6), (44100, 1)])
def test_odd_rates_and_channel_counts(clf, content, tmp_path, sr, channels):
    frames, _ = content
    audio = (np.random.default_rng().standard_normal((channels, sr)) * 0.1).astype(np.float32)
    wav = tmp_path / "a.wav"
    write_av(wav, None, 0, audio, sr, audio_codec="pcm_s16le") if channels == 6 else write_wav(wav, audio, sr)
    video = tmp_path / "v.mp4"
    write_av(video, frames, 5.0, None, 48000)
    p = clf.predict(audio=wav, video=video)
    assert p.modalities == ("audio", "visual")
    assert media.load_audio(wav, 16000).shape[0] == 1


MIC_ARRAYS = [(8, "m4a", "aac"), (8, "mkv", "aac"), (8, "mkv", "libopus"), (8, "wav", "pcm_s16le"),
              (12, "wav", "pcm_s16le"), (16, "mka", "pcm_f32le"), (24, "mka", "pcm_f32le")]


@pytest.mark.parametrize("channels,ext,codec", MIC_ARRAYS)
def test_microphone_arrays_downmix_to_the_channel_mean(channels, ext, codec, tmp_path):
    """8 and more channels (7.1, 7.1.4, 16- and 24-channel arrays): PyAV 18 crashed converting
    planar frames of 8+ channels; the downmix is still the mean of every channel."""
    rng = np.random.default_rng()
    audio = (rng.standard_normal((channels, 24000)) * 0.1 + np.linspace(-0.2, 0.2, channels)[:, None])
    audio = audio.astype(np.float32)
    path = tmp_path / f"array.{ext}"
    write_av(path, None, 0, audio, 48000, audio_codec=codec)
    got = media.load_audio(path, 48000)[0]
    if codec == "pcm_f32le":    # lossless: exactly the mean
        np.testing.assert_allclose(got, audio.mean(axis=0), atol=1e-6)
    else:                       # the mean's DC and level survive the codec
        n = min(got.size, 24000)
        assert abs(got[:n].mean() - audio.mean()) < 0.01 and 0.3 < got[:n].std() / audio.mean(axis=0).std() < 3


def test_a_7_1_video_classifies_and_streams(clf, content, tmp_path):
    frames, _ = content
    audio = (np.random.default_rng().standard_normal((8, 48000 * 2)) * 0.1).astype(np.float32)
    path = tmp_path / "surround.mkv"
    write_av(path, frames, 5.0, audio, 48000, "libx264", "aac")
    assert clf.predict(path).modalities == ("audio", "visual")
    assert all(p.modalities == ("audio", "visual") for p in clf.stream(path, hop=0.5))


def test_one_frame_video_and_short_audio(clf, content, tmp_path):
    frames, audio = content
    one = tmp_path / "one.mp4"
    write_av(one, frames[:1], 5.0, audio[:, :4800], 48000)  # 1 frame, 0.1 s of audio
    p = clf.predict(one)
    assert p.modalities == ("audio", "visual")


def test_wrong_extension_is_probed_by_content(clf, content, tmp_path):
    frames, audio = content
    write_av(tmp_path / "real.mp4", frames, 5.0, audio, 48000)
    shutil.copy(tmp_path / "real.mp4", tmp_path / "named.wav")
    assert clf.predict(tmp_path / "named.wav").modalities == ("audio", "visual")


def test_audio_only_file(clf, content, tmp_path):
    _, audio = content
    write_wav(tmp_path / "a.wav", audio, 48000)
    p = clf.predict(tmp_path / "a.wav")
    assert p.modalities == ("audio",)


def test_truncated_zero_and_text_files(clf, content, tmp_path):
    frames, audio = content
    write_av(tmp_path / "good.mp4", frames, 5.0, audio, 48000)
    data = (tmp_path / "good.mp4").read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video\n" * 100)
    for name in ("truncated.mp4", "zero.mp4", "text.mp4"):
        before = (tmp_path / name).read_bytes()
        with pytest.raises(MediaError):
            clf.predict(tmp_path / name)
        assert (tmp_path / name).read_bytes() == before  # nothing the user gave is modified


def test_huge_frames_are_refused(clf, content, tmp_path, monkeypatch):
    frames, audio = content
    write_av(tmp_path / "v.mp4", frames, 5.0, audio, 48000)
    monkeypatch.setattr(media.container, "MAX_FRAME_PIXELS", 32 * 32)  # the limit is 8192x8192; test it cheaply
    for policy in ("keyframe", "exact"):
        with pytest.raises(MediaError, match="too large"):
            media.sample_frames(tmp_path / "v.mp4", [0.5], policy=policy)
    with pytest.raises(MediaError, match="too large"):
        clf.predict(tmp_path / "v.mp4")


@pytest.mark.parametrize("frames,fps", [(np.zeros((4, 8, 8), np.uint8), 2.0), (np.zeros((4, 8, 8, 3), np.float32), 2.0),
                                        (np.zeros((4, 8, 8, 3), np.uint8), None), (np.zeros((0, 8, 8, 3), np.uint8), 2.0)])
def test_bad_frame_arrays(clf, frames, fps):
    with pytest.raises(InputError):
        clf.predict(frames=frames, fps=fps)


def test_bad_sample_rates_for_arrays(clf):
    x = np.zeros(1000, np.float32)
    for sr in (0, 10, 10_000_000):
        with pytest.raises(InputError):
            clf.predict(audio=x, sample_rate=sr)
    with pytest.raises(InputError, match="sample_rate"):
        clf.predict(audio=x)


def test_bad_artifacts(tiny_checkpoint, tmp_path):
    data = tiny_checkpoint.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.safetensors").write_bytes(b"\xff" * 64)
    (tmp_path / "m.pt").write_bytes(b"\x80\x04K\x01.")
    for name in ("trunc.safetensors", "garbage.safetensors", "m.pt", "missing.onnx"):
        with pytest.raises(ArtifactError):
            Classifier(tmp_path / name)


def test_every_failure_is_caught_as_an_avsc_error(clf, tmp_path):
    """What the CLI relies on to print one line: each kind of failure is an AVSCError."""
    silent = tmp_path / "silent.mkv"
    write_av(silent, np.zeros((5, 48, 64, 3), np.uint8), 5.0, None, 48000)
    failures = (lambda: clf.predict(tmp_path / "missing.mp4"),                        # MediaError
                lambda: clf.predict(audio=np.full(100, np.nan, np.float32), sample_rate=16000),   # InputError
                lambda: Classifier(tmp_path / "missing.onnx"),                          # ArtifactError
                lambda: next(media.audio_blocks(silent, 16000)))                        # MissingStreamError
    for fail in failures:
        with pytest.raises(AVSCError):
            fail()
