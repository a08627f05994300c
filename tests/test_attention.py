"""Cross-attention parity with torch's scaled_dot_product_attention on fresh random inputs.

Tolerance from measured noise: the kernel's max error against a float64 SDPA must be at most 2x
the error of float32 SDPA against the same float64 result, plus 1e-6.
"""
import itertools

import numpy as np
import pytest

from avsc_edge import kernels
from avsc_edge.errors import InputError

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHAPES = [(b, h, lq, lk, d) for (b, h), (lq, lk), d in itertools.product(
    [(1, 1), (3, 4)], [(1, 1), (12, 12), (7, 97), (97, 7), (1024, 33), (12, 1024)], [16, 59, 64, 128])]


def sdpa(q, k, v, mask, scale, dtype):
    t = lambda a: torch.from_numpy(a).to(dtype)  # noqa: E731
    attn_mask = None if mask is None else ~torch.from_numpy(mask)[:, None, None, :]
    return F.scaled_dot_product_attention(t(q), t(k), t(v), attn_mask=attn_mask, scale=scale).numpy()


@pytest.mark.parametrize("b,h,lq,lk,d", SHAPES)
@pytest.mark.parametrize("masked", [False, True])
def test_matches_sdpa(b, h, lq, lk, d, masked, rng):
    q = rng.standard_normal((b, h, lq, d)).astype(np.float32)
    k = rng.standard_normal((b, h, lk, d)).astype(np.float32)
    v = rng.standard_normal((b, h, lk, d)).astype(np.float32)
    mask = None
    if masked:
        mask = rng.random((b, lk)) < 0.3
        mask[np.arange(b), rng.integers(0, lk, b)] = False  # every row keeps a key
    scale = None if rng.random() < 0.5 else float(rng.uniform(0.05, 0.5))
    exact = sdpa(q, k, v, mask, scale, torch.float64)
    noise = np.abs(sdpa(q, k, v, mask, scale, torch.float32) - exact).max()
    got = kernels.cross_attention(q, k, v, mask, scale)
    assert got.shape == (b, h, lq, d) and got.dtype == np.float32
    assert np.abs(got - exact).max() <= 2 * noise + 1e-6


def test_large_logits_stay_finite(rng):
    """Logits near +-1024 overflow or underflow exp() in float32 and float64 unless the max is taken out.

    The inputs are small integers, so every logit is exact in float32 and the comparison measures the
    softmax alone: random float32 inputs scaled by 100 make logits whose own rounding (about 0.01)
    moves the weights by more than any useful tolerance.
    """
    q = rng.integers(-2, 3, (1, 2, 5, 16)).astype(np.float32)
    k = rng.integers(-2, 3, (1, 2, 9, 16)).astype(np.float32)
    q[..., 0] = 64 * rng.choice([-1, 1], (1, 2, 5))  # with k[..., 0] = 64: a shared offset of +-1024 after scaling
    k[..., 0] = 64
    v = rng.standard_normal((1, 2, 9, 16)).astype(np.float32)
    out = kernels.cross_attention(q, k, v)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, sdpa(q, k, v, None, None, torch.float64), atol=1e-5)


def test_reference_matches_sdpa(rng):
    q, k, v = (rng.standard_normal((2, 3, n, 24)).astype(np.float32) for n in (5, 11, 11))
    mask = rng.random((2, 11)) < 0.4
    mask[:, 0] = False
    np.testing.assert_allclose(kernels.cross_attention_reference(q, k, v, mask),
                               sdpa(q, k, v, mask, None, torch.float64), atol=1e-5)


def test_bidirectional_equals_two_calls(rng):
    e = rng.standard_normal((3, 4, 12, 16)).astype(np.float32)
    o = rng.standard_normal((3, 4, 9, 16)).astype(np.float32)
    mask_o = rng.random((3, 9)) < 0.3
    mask_o[:, 0] = False
    eo, oe = kernels.bidirectional_attention((e, o, o, mask_o), (o, e, e, None))
    np.testing.assert_allclose(eo, sdpa(e, o, o, mask_o, None, torch.float64), atol=1e-5)
    np.testing.assert_allclose(oe, sdpa(o, e, e, None, None, torch.float64), atol=1e-5)


def test_non_contiguous_inputs_are_accepted(rng):
    q = rng.standard_normal((2, 3, 5, 32)).astype(np.float32)[..., ::2]
    k = rng.standard_normal((2, 3, 7, 16)).astype(np.float32)
    np.testing.assert_allclose(kernels.cross_attention(q, k, k), sdpa(np.ascontiguousarray(q), k, k, None, None,
                                                                      torch.float64), atol=1e-5)


@pytest.fixture(params=["native", "reference"])
def implementation(request, monkeypatch):
    monkeypatch.setenv("AVSC_EDGE_KERNELS", request.param)
    return request.param


@pytest.mark.parametrize("case", ["all_masked", "nan", "rank", "dtype", "mismatch", "mask_shape", "scale"])
def test_bad_inputs(case, rng, implementation):
    q = rng.standard_normal((2, 1, 3, 8)).astype(np.float32)
    k = rng.standard_normal((2, 1, 4, 8)).astype(np.float32)
    v = k.copy()
    mask, scale = None, None
    if case == "all_masked":
        mask = np.ones((2, 4), bool)
    elif case == "nan":
        q[0, 0, 0, 0] = np.nan
    elif case == "rank":
        q = q[0]
    elif case == "dtype":
        k = k.astype(np.float64)
    elif case == "mismatch":
        v = v[:, :, :3]
    elif case == "mask_shape":
        mask = np.zeros((2, 5), bool)
    elif case == "scale":
        scale = -1.0
    with pytest.raises(InputError):
        kernels.cross_attention(q, k, v, mask, scale)


def test_info_names_the_active_implementation(monkeypatch, rng):
    """The built extension is active, and AVSC_EDGE_KERNELS=reference switches every kernel (and what
    info() reports) to the NumPy reference."""
    import importlib.util

    built = importlib.util.find_spec("avsc_edge._C") is not None
    assert kernels.info()["cross_attention"] == ("c++" if built else "reference (numpy)")
    q = rng.standard_normal((1, 2, 3, 8)).astype(np.float32)
    calls, original = [], kernels.cross_attention_reference
    monkeypatch.setattr(kernels, "cross_attention_reference", lambda *a, **k: calls.append(1) or original(*a, **k))
    monkeypatch.setenv("AVSC_EDGE_KERNELS", "reference")
    assert kernels.info()["cross_attention"] == "reference (numpy)" and kernels.info()["forced_reference"]
    kernels.cross_attention(q, q, q)
    assert calls, "the reference path did not run"
