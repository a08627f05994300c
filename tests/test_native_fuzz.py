"""Throw thousands of odd arguments at the extension's entry points: every call must either return
a correct-shaped result or raise TypeError/ValueError; a crash takes the test process down."""
import numpy as np
import pytest

from avsc_edge.kernels import native as _native
from avsc_edge.config import FeatureConfig
from avsc_edge.preprocess.audio_features import analysis_window, mel_filterbank

pytestmark = pytest.mark.skipif(not _native.available(), reason="avsc_edge._C is not built")
C = _native.module()

DTYPES = [np.float32, np.float32, np.float32, np.float64, np.float16, np.int16, np.int64, np.complex64, bool]


def odd_array(rng, shape, allow_weird=True):
    dtype = DTYPES[rng.integers(len(DTYPES))] if allow_weird else np.float32
    a = (rng.standard_normal(shape) * 3).astype(dtype)
    if not allow_weird:
        return a
    r = rng.random()
    if r < 0.1 and a.ndim >= 1 and a.shape[-1] > 1:
        a = a[..., ::2]                                   # strided view
    elif r < 0.2 and a.ndim == 2:
        a = a.T                                           # Fortran order
    elif r < 0.3 and a.dtype == np.float32 and a.size:
        raw = np.frombuffer(bytearray(a.nbytes + 1), dtype=np.uint8)[1:]
        a = raw.view(np.float32).reshape(a.shape)         # misaligned
    elif r < 0.35 and a.dtype.kind == "f" and a.size:
        a.flat[rng.integers(a.size)] = np.nan
    elif r < 0.4:
        return [1.0, 2.0]                                 # not an array
    return a


def maybe(rng, valid, invalid, p=0.08):
    """Usually ``valid``; with probability ``p`` one of ``invalid``."""
    return invalid[rng.integers(len(invalid))] if rng.random() < p else valid


def test_fuzz_log_mel():
    rng = np.random.default_rng()
    ok = 0
    for _ in range(1500):
        n_fft = int(2 ** rng.integers(3, 12)) if rng.random() < 0.9 else int(rng.integers(0, 3000))
        n_bins = n_fft // 2 + 1 if rng.random() < 0.9 else int(rng.integers(0, 40))
        shape = (int(rng.integers(0, 4)), int(rng.integers(0, 5000)))
        if rng.random() < 0.1:
            shape = shape[:1] if rng.random() < 0.5 else (*shape, 2)
        x = odd_array(rng, shape, allow_weird=rng.random() < 0.3)
        window = odd_array(rng, (max(n_fft, 0),), allow_weird=rng.random() < 0.1)
        mel = odd_array(rng, (int(rng.integers(0, 70)), n_bins), allow_weird=rng.random() < 0.1)
        hop = maybe(rng, int(rng.integers(1, 3000)), [0, -2, 10 ** 9])
        args = (x, window, mel, hop, bool(rng.random() < 0.5), maybe(rng, int(rng.integers(0, 2)), [-1, 2]),
                maybe(rng, float(rng.choice([1.0, 2.0])), [3.0, np.nan]), maybe(rng, float(rng.choice([np.nan, 80.0])), [-5.0]),
                # EfficientAT's front end: pre-emphasis, ln, normalisation (top_db with them is refused)
                maybe(rng, float(rng.choice([0.0, 0.97])), [1.5, np.nan]), maybe(rng, int(rng.integers(0, 2)), [2, -1]),
                maybe(rng, 1e-5, [0.0, -1.0, np.inf]), maybe(rng, float(rng.choice([0.0, 4.5])), [np.nan]),
                maybe(rng, float(rng.choice([1.0, 5.0])), [0.0, np.inf]),
                maybe(rng, int(rng.integers(0, 3)), [-1, 5000]))
        try:
            out = C.log_mel(*args)
        except (TypeError, ValueError):
            continue
        ok += 1
        assert out.dtype == np.float32 and out.shape[:2] == (x.shape[0], mel.shape[0])
        assert np.isfinite(out).all()
    assert ok > 20  # the sweep also exercised the happy path


def test_fuzz_cross_attention():
    rng = np.random.default_rng()
    ok = 0
    for _ in range(1500):
        b, h, lq, lk, d = (maybe(rng, int(rng.integers(1, 6)), [0]) for _ in range(5))
        q = odd_array(rng, (b, h, lq, d), rng.random() < 0.2)
        k = odd_array(rng, (b, h, lk + int(rng.random() < 0.05), d), rng.random() < 0.2)
        v = odd_array(rng, (b, h, lk, d), rng.random() < 0.2)
        mask = None if rng.random() < 0.5 else odd_array(rng, (b, lk), False) > 0.5
        try:
            out = C.cross_attention(q, k, v, mask, maybe(rng, float(rng.uniform(0.01, 2)), [0.0, -1.0, np.inf, np.nan]),
                                    maybe(rng, int(rng.integers(0, 3)), [-1, 5000]))
        except (TypeError, ValueError):
            continue
        ok += 1
        assert out.shape == q.shape and np.isfinite(out).all()
    assert ok > 20


def test_huge_sizes_are_refused_without_allocating():
    x = np.broadcast_to(np.float32(0), (1, 1))
    cfg = FeatureConfig()
    with pytest.raises(ValueError, match="too large|C-contiguous"):
        big = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=(70000, 70000), strides=(0, 0))
        C.log_mel(big, analysis_window(cfg), mel_filterbank(cfg), 256, True, 0, 2.0, np.nan, 0)
    assert x.shape == (1, 1)
