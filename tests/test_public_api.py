"""The public API (``avsc_edge.__all__``, docs/design.md) is what it says: types, fields and behaviour."""
import dataclasses
import inspect

import numpy as np
import pytest

import avsc_edge


def test_public_names_behave():
    assert issubclass(avsc_edge.MediaError, avsc_edge.AVSCError) and issubclass(avsc_edge.InputError, ValueError)
    fields = set(inspect.signature(avsc_edge.FeatureConfig).parameters)
    assert fields == {"sr", "n_fft", "hop_length", "win_length", "window", "center", "pad_mode", "n_mels", "fmin",
                      "fmax", "power", "top_db",
                      # 0.4.1: the fields of other published front ends (EfficientAT's, the edge preset)
                      "preemphasis", "periodic", "mel_scale", "log", "log_offset", "norm_shift", "norm_scale"}
    params = inspect.signature(avsc_edge.kernels.cross_attention).parameters
    assert list(params)[:5] == ["q", "k", "v", "key_padding_mask", "scale"]
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    assert avsc_edge.preprocess.log_mel(x, avsc_edge.FeatureConfig()).shape == (64, 16)
    q = np.random.default_rng(1).standard_normal((1, 2, 3, 8)).astype(np.float32)
    assert avsc_edge.kernels.cross_attention(q, q, q).shape == (1, 2, 3, 8)
    assert {"log_mel", "cross_attention"} <= set(avsc_edge.kernels.info())


def test_prediction_fields_and_text():
    names = {f.name for f in dataclasses.fields(avsc_edge.Prediction)}
    assert {"label", "confidence", "scores", "modalities", "events", "objects", "timings", "engine"} <= names
    p = avsc_edge.Prediction("bus", 0.7, {"bus": 0.7, "tram": 0.3}, ("audio",))
    assert p.top(1) == [("bus", 0.7)] and str(p) == "bus (70.0%, audio)"


def test_classifier_and_stream_classifier_do_what_they_say(tiny_checkpoint):
    """The front doors, used as a user would: predict, predict_batch, predict_many, stream, and the
    push API's push/get/reset/close."""
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    clf = avsc_edge.Classifier(tiny_checkpoint)
    audio = (rng.standard_normal(16000 * 3) * 0.1).astype(np.float32)
    frames = rng.integers(0, 255, (30, 48, 64, 3), dtype=np.uint8)
    p = clf.predict(audio=audio, sample_rate=16000, frames=frames, fps=10.0)
    assert p.label == max(p.scores, key=p.scores.get) and p.modalities == ("audio", "visual")
    with avsc_edge.StreamClassifier(clf, 16000, hop=0.5) as stream:
        for i in range(30):
            stream.push_audio(audio[i * 1600:(i + 1) * 1600], i / 10)
            stream.push_frame(frames[i], i / 10)
        first = stream.get(timeout=30)
        assert isinstance(first, avsc_edge.Prediction) and first.timestamp >= 1.5
        stream.reset()
    assert all(isinstance(x, avsc_edge.Prediction) for x in stream)   # closed: iteration ends
    with pytest.raises(avsc_edge.InputError, match="closed"):
        stream.push_audio(audio[:160], 10.0)
    assert avsc_edge.StreamConfig(hop=0.5).hop == 0.5
    with pytest.raises(avsc_edge.ConfigError):
        avsc_edge.StreamConfig(hop=0)
    with pytest.raises(AttributeError):
        avsc_edge.NotAName  # noqa: B018
