"""The public names of DESIGN §7 exist and are what they say."""
import inspect

import avsc_edge


def test_public_names():
    for name in ("Classifier", "Prediction", "StreamClassifier", "AVSCError", "FeatureConfig"):
        assert hasattr(avsc_edge, name), name
    assert issubclass(avsc_edge.MediaError, avsc_edge.AVSCError)
    assert callable(avsc_edge.features.log_mel) and callable(avsc_edge.kernels.cross_attention)
    assert isinstance(avsc_edge.kernels.info(), dict)
    fields = set(inspect.signature(avsc_edge.FeatureConfig).parameters)
    assert fields == {"sr", "n_fft", "hop_length", "win_length", "window", "center", "pad_mode", "n_mels", "fmin",
                      "fmax", "power", "top_db"}
    params = inspect.signature(avsc_edge.kernels.cross_attention).parameters
    assert list(params)[:5] == ["q", "k", "v", "key_padding_mask", "scale"]
