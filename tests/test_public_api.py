"""The public names of DESIGN §7 are what they say: types, fields and behaviour, not just existence."""
import dataclasses
import inspect

import numpy as np
import pytest

import avsc_edge


def test_public_names_behave():
    assert issubclass(avsc_edge.MediaError, avsc_edge.AVSCError) and issubclass(avsc_edge.InputError, ValueError)
    fields = set(inspect.signature(avsc_edge.FeatureConfig).parameters)
    assert fields == {"sr", "n_fft", "hop_length", "win_length", "window", "center", "pad_mode", "n_mels", "fmin",
                      "fmax", "power", "top_db"}
    params = inspect.signature(avsc_edge.kernels.cross_attention).parameters
    assert list(params)[:5] == ["q", "k", "v", "key_padding_mask", "scale"]
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    assert avsc_edge.features.log_mel(x, avsc_edge.FeatureConfig()).shape == (64, 16)
    q = np.random.default_rng(1).standard_normal((1, 2, 3, 8)).astype(np.float32)
    assert avsc_edge.kernels.cross_attention(q, q, q).shape == (1, 2, 3, 8)
    assert {"log_mel", "cross_attention"} <= set(avsc_edge.kernels.info())


def test_classifier_prediction_and_stream_classes():
    assert inspect.isclass(avsc_edge.Classifier)
    for method in ("predict", "predict_batch", "predict_many", "stream", "run_windows"):
        assert callable(getattr(avsc_edge.Classifier, method)), method
    names = {f.name for f in dataclasses.fields(avsc_edge.Prediction)}
    assert {"label", "confidence", "scores", "modalities", "events", "objects", "timings", "engine"} <= names
    p = avsc_edge.Prediction("bus", 0.7, {"bus": 0.7, "tram": 0.3}, ("audio",))
    assert p.top(1) == [("bus", 0.7)] and str(p) == "bus (70.0%, audio)"
    for method in ("push_audio", "push_frame", "close", "reset", "get"):
        assert callable(getattr(avsc_edge.StreamClassifier, method)), method
    assert avsc_edge.StreamConfig(hop=0.5).hop == 0.5
    with pytest.raises(avsc_edge.ConfigError):
        avsc_edge.StreamConfig(hop=0)
    with pytest.raises(AttributeError):
        avsc_edge.NotAName  # noqa: B018
