"""Classifier on the PyTorch reference: containers, TAU pairs, arrays, missing modalities."""
import numpy as np
import pytest

pytest.importorskip("torch")

from avsc_edge import Classifier, Prediction  # noqa: E402
from avsc_edge.data.synth import write_av  # noqa: E402
from avsc_edge.errors import ArtifactError, InputError, MediaError  # noqa: E402
from avsc_edge.media import load_audio, sample_frames  # noqa: E402


@pytest.fixture(scope="module")
def clf(tiny_checkpoint):
    return Classifier(tiny_checkpoint)


@pytest.fixture(scope="module")
def clip(tiny_dataset):
    from avsc_edge.data import TauDataset

    return TauDataset(tiny_dataset).clips("evaluate")[0]


def test_container_pair_and_arrays_agree(clf, clip):
    from_container = clf.predict(clip.video)
    from_pair = clf.predict(audio=clip.audio, video=clip.video)
    wave = load_audio(clip.audio, 48000, mono=False)
    frames, _ = sample_frames(clip.video, np.arange(0, 1.5, 0.2))
    from_arrays = clf.predict(audio=wave, sample_rate=48000, frames=frames, fps=5.0)
    for p in (from_container, from_pair, from_arrays):
        assert isinstance(p, Prediction) and p.modalities == ("audio", "visual")
        assert sum(p.scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert p.top(1)[0] == (p.label, p.confidence)
        assert {"decode_ms", "features_ms", "inference_ms"} <= set(p.timings)
    # the WAV and the AAC track of the MP4 carry the same audio, up to the codec's loss
    assert abs(from_container.confidence - from_pair.confidence) < 0.05


def test_video_without_audio_track_falls_back(clf, tmp_path, clip, rng):
    frames = rng.integers(0, 255, (8, 48, 64, 3), dtype=np.uint8)
    path = tmp_path / "silent.mp4"
    write_av(path, frames, 5.0, None, 48000)
    p = clf.predict(path)
    assert p.modalities == ("visual",) and not p.events
    with pytest.raises(InputError, match="strict"):
        Classifier(clf.path, strict=True).predict(path)


def test_audio_only_array(clf, rng):
    p = clf.predict(audio=rng.normal(0, 0.1, 16000).astype(np.float32), sample_rate=16000)
    assert p.modalities == ("audio",) and p.events


def test_predictions_say_what_the_model_was_trained_on(clf, tmp_path, rng):
    p = clf.predict(audio=rng.normal(0, 0.1, 16000).astype(np.float32), sample_rate=16000)
    assert any("trained on synthetic scenes" in n for n in p.notes)
    assert clf.info.metrics["data"]["synthetic"] is True
    from avsc_edge.bench.defaults import untrained_checkpoint

    untrained = Classifier(untrained_checkpoint(tmp_path / "u.safetensors", "tiny"))
    p = untrained.predict(audio=rng.normal(0, 0.1, 16000).astype(np.float32), sample_rate=16000)
    assert any("untrained (random weights)" in n for n in p.notes)


@pytest.mark.parametrize("seconds,windows", [(4.0, 3), (3.7, 2), (1.52, 1), (0.3, 1)])
def test_long_input_is_windowed(clf, rng, seconds, windows):
    """1.5-s windows: a trailing part counts when it holds at least half a window (4.0 s -> 3)."""
    p = clf.predict(audio=rng.normal(0, 0.1, (2, int(48000 * seconds))).astype(np.float32), sample_rate=48000)
    assert len(p.windows) == windows    # the per-window timeline, also for one window
    padded = {4.0: ["the last window (from 3 s) holds 1.0 s of audio: padded with silence"], 3.7: [], 1.52: [],
              0.3: ["the recording (0.3 s of audio) is shorter than the model's 1.5-s window: it is padded with silence"]}
    assert [n for n in p.notes if "padded" in n] == padded[seconds]


@pytest.mark.parametrize("bad", [np.full(1000, np.nan, np.float32), np.zeros((0,), np.float32),
                                 np.zeros((2, 3, 4), np.float32)])
def test_bad_arrays(clf, bad):
    with pytest.raises(InputError):
        clf.predict(audio=bad, sample_rate=16000)


def test_bad_files(clf, tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 50)
    for name in ("empty.mp4", "text.mp4", "missing.mp4"):
        with pytest.raises(MediaError):
            clf.predict(tmp_path / name)
    with pytest.raises(ArtifactError):
        Classifier(tmp_path / "text.mp4")


def test_predict_batch_over_a_folder_a_glob_and_a_tau_root(clf, tiny_dataset):
    videos = sorted((tiny_dataset / "video").glob("*.mp4"))
    one_by_one = [clf.predict(v) for v in videos[:3]]
    by_glob = clf.predict_batch(str(tiny_dataset / "video" / "*.mp4"))
    by_folder = clf.predict_batch(tiny_dataset / "video")
    assert len(by_glob) == len(by_folder) == 20
    for a, b in zip(one_by_one, by_glob[:3]):  # decoding on worker threads changes nothing
        assert a.label == b.label and max(abs(a.scores[k] - b.scores[k]) for k in a.scores) < 1e-6
    by_root = clf.predict_batch(tiny_dataset)  # a TAU root: its fold1_test pairs (WAV + MP4)
    assert len(by_root) == 10 and all(p.modalities == ("audio", "visual") for p in by_root)


def test_a_gpu_feature_backend_gets_samples_not_log_mel(tiny_checkpoint, clip, monkeypatch):
    """A backend with ``device_features`` (PyTorch on CUDA, TensorRT) is handed each window's
    samples and computes the log-mel itself; here a CPU stand-in computes it on the host, and the
    prediction equals the host-feature path."""
    from avsc_edge.preprocess.audio_features import log_mel

    clf = Classifier(tiny_checkpoint)
    reference = clf.predict(clip.video)
    seen = []

    def tokens_from_wave(waves):
        seen.append(waves.shape)
        return clf.backend.audio_tokens(log_mel(waves, clf.info.feature_config)[:, None])

    monkeypatch.setattr(clf.backend, "device_features", True, raising=False)
    monkeypatch.setattr(clf.backend, "audio_tokens_from_wave", tokens_from_wave, raising=False)
    assert not clf.host_features
    p = clf.predict(clip.video)
    assert seen and seen[0][1] == int(clf.info.clip_config.seconds * clf.info.feature_config.sr)
    assert max(abs(p.scores[k] - reference.scores[k]) for k in p.scores) < 1e-5
