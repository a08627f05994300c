"""Log-mel parity: the fused C++ kernel and the NumPy reference against librosa.

Tolerance from measured noise (flash-attention's rule): librosa computes in float32, our NumPy
reference in float64. A float32 FFT's rounding error is absolute, of the order of eps times the
frame's energy, so it is measured as |P_kernel - P_exact| / (frame's largest mel power): the kernel
must stay within 2x librosa's own float32 error in that measure (+1e-7). On top, every bin must
agree within 0.01 dB. (Per-bin dB error alone is ill-conditioned: 40-50 dB below a frame's peak
either float32 implementation can be off by 1e-4 dB, depending on where its rounding lands.)
"""
import itertools

import numpy as np
import pytest

from avsc_edge.kernels import native as _native
from avsc_edge.config import FeatureConfig
from avsc_edge.errors import ConfigError, InputError
from avsc_edge.preprocess.audio_features import StreamingLogMel, log_mel, log_mel_reference

librosa = pytest.importorskip("librosa")

needs_native = pytest.mark.skipif(not _native.available(), reason="avsc_edge._C is not built")


def librosa_log_mel(x, cfg):
    s = librosa.feature.melspectrogram(
        y=x, sr=cfg.sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, window=cfg.window,
        center=cfg.center, pad_mode=cfg.pad_mode, power=cfg.power, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax)
    if x.ndim == 1:
        return librosa.power_to_db(s, ref=1.0, amin=1e-10, top_db=cfg.top_db)
    flat = s.reshape(-1, *s.shape[-2:])
    return np.stack([librosa.power_to_db(m, ref=1.0, amin=1e-10, top_db=cfg.top_db) for m in flat]).reshape(s.shape)


def energy_error(db, exact_db):
    """Max |P - P_exact| / max_mel(P_exact) per frame (linear power, normalised by frame energy)."""
    exact = 10.0 ** (exact_db.astype(np.float64) / 10)
    scale = np.maximum(exact.max(axis=-2, keepdims=True), 1e-10)
    return float((np.abs(10.0 ** (db.astype(np.float64) / 10) - exact) / scale).max())


def assert_parity(x, cfg):
    expected = librosa_log_mel(x, cfg)
    exact = log_mel_reference(x, cfg)
    assert exact.shape == expected.shape
    assert np.abs(expected - exact).max() < 0.01, "the float64 reference disagrees with librosa"
    got = log_mel(x, cfg)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.abs(got - exact).max() < 0.01
    if cfg.top_db is None:  # a clamp floor is exact by construction; compare the unclamped spectra
        noise, err = energy_error(expected, exact), energy_error(got, exact)
        assert err <= 2 * noise + 1e-7, f"kernel error {err:.2e} vs librosa float32 noise {noise:.2e} ({cfg})"


SWEEP = list(itertools.product([8000, 16000, 22050, 44100, 48000], [256, 512, 1024, 2048, 4096]))


@needs_native
@pytest.mark.parametrize("sr,n_fft", SWEEP)
def test_parity_sweep_sample_rates_and_fft_sizes(sr, n_fft, rng):
    hop = int(rng.choice([n_fft // 4, n_fft // 2, 160, 441]))
    length = int(rng.integers(n_fft // 3, sr // 2))  # from shorter than one frame to half a second
    cfg = FeatureConfig(sr=sr, n_fft=n_fft, hop_length=max(1, hop), n_mels=int(rng.choice([32, 64, 128])),
                        fmin=float(rng.uniform(0, 100)))
    assert_parity(rng.standard_normal(length).astype(np.float32) * rng.uniform(0.01, 1), cfg)


@needs_native
@pytest.mark.parametrize("shape", [(1,), (2,), (3, 2)])
@pytest.mark.parametrize("center,pad_mode", [(True, "constant"), (True, "reflect"), (False, "constant")])
def test_parity_channels_batches_and_padding(shape, center, pad_mode, rng):
    cfg = FeatureConfig(sr=16000, n_fft=512, hop_length=160, center=center, pad_mode=pad_mode)
    x = rng.standard_normal((*shape, 16000 + int(rng.integers(1, 999)))).astype(np.float32)
    assert_parity(x[0] if shape == (1,) else x, cfg)


@needs_native
@pytest.mark.parametrize("kwargs", [dict(power=1.0), dict(top_db=80.0), dict(top_db=0.0), dict(win_length=400),
                                    dict(window="hamming"), dict(window="ones", win_length=301), dict(fmax=5000.0)])
def test_parity_options(kwargs, rng):
    cfg = FeatureConfig(sr=16000, n_fft=512, hop_length=128, **kwargs)
    x = rng.standard_normal(8000 + int(rng.integers(0, 500))).astype(np.float32)
    x[2000:4000] *= 1e-4  # a quiet stretch so that top_db clamps something
    assert_parity(x, cfg)


def test_reference_parity_without_the_kernel(rng, monkeypatch):
    monkeypatch.setenv("AVSC_EDGE_KERNELS", "reference")
    assert not _native.available()
    cfg = FeatureConfig()
    x = rng.standard_normal((2, 5001)).astype(np.float32)
    np.testing.assert_allclose(log_mel(x, cfg), librosa_log_mel(x, cfg), atol=0.05)


def test_silence_is_the_floor():
    out = log_mel(np.zeros(4000, np.float32), FeatureConfig())
    assert np.all(out == -100.0)


@pytest.mark.parametrize("bad", [np.array([1.0, np.nan] * 600, np.float32), np.zeros(0, np.float32),
                                 np.array(["a"] * 10), np.float32(3.0)])
def test_bad_waveforms(bad):
    with pytest.raises(InputError):
        log_mel(bad, FeatureConfig())


def test_short_signal_without_center():
    with pytest.raises(InputError):
        log_mel_reference(np.ones(100, np.float32), FeatureConfig(center=False))


@pytest.mark.parametrize("center,pad_mode", [(False, "constant"), (True, "constant"), (True, "reflect")])
def test_streaming_equals_offline(center, pad_mode, rng):
    cfg = FeatureConfig(sr=16000, n_fft=512, hop_length=160, center=center, pad_mode=pad_mode)
    x = rng.standard_normal((2, 20000)).astype(np.float32)
    stream = StreamingLogMel(cfg, channels=2)
    pieces, pos = [], 0
    while pos < x.shape[1]:
        n = int(rng.integers(1, 3000))
        expected = stream.frames_after(min(n, x.shape[1] - pos))     # what a stream counts before computing
        pieces.append(stream.push(x[:, pos:pos + n]))
        assert stream.frames_emitted == expected
        pos += n
    streamed = np.concatenate(pieces, axis=-1)
    offline = log_mel(x, cfg)
    assert streamed.shape[-1] == stream.frames_emitted and streamed.shape[-1] <= offline.shape[-1]
    assert offline.shape[-1] - streamed.shape[-1] <= ((cfg.n_fft // 2) // cfg.hop_length + 1 if center else 0)
    np.testing.assert_allclose(streamed, offline[..., :streamed.shape[-1]], atol=1e-3)
    stream.reset()
    assert stream.frames_emitted == 0


def test_streaming_checks():
    with pytest.raises(ConfigError):
        StreamingLogMel(FeatureConfig(top_db=80.0))
    s = StreamingLogMel(FeatureConfig(), channels=2)
    with pytest.raises(InputError):
        s.push(np.zeros(100, np.float32))
