"""CUDA kernels against the CPU references. Skipped where no GPU is visible (CI has none); run on a
GPU machine with: AVSC_EDGE_CUDA=1 pip install -e . && pytest tests/test_cuda.py"""
import numpy as np
import pytest

from avsc_edge import _native, kernels
from avsc_edge.config import FeatureConfig
from avsc_edge.features import log_mel_cuda, log_mel_reference

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not (_native.cuda_available() and torch.cuda.is_available()),
                                reason="needs avsc_edge built with CUDA and an NVIDIA GPU")


@pytest.mark.parametrize("sr,n_fft,hop", [(16000, 512, 256), (48000, 2048, 480), (8000, 256, 97), (22050, 4096, 1024)])
@pytest.mark.parametrize("center,pad_mode,top_db", [(True, "constant", None), (True, "reflect", 80.0), (False, "constant", None)])
def test_log_mel_cuda_matches_reference(sr, n_fft, hop, center, pad_mode, top_db, rng):
    cfg = FeatureConfig(sr=sr, n_fft=n_fft, hop_length=hop, center=center, pad_mode=pad_mode, top_db=top_db)
    x = rng.standard_normal((3, sr // 2 + int(rng.integers(0, 999)))).astype(np.float32)
    out = log_mel_cuda(torch.from_numpy(x).cuda(), cfg)
    torch.cuda.synchronize()
    np.testing.assert_allclose(out.cpu().numpy(), log_mel_reference(x, cfg), atol=2e-3)


def test_log_mel_cuda_writes_into_given_buffer(rng):
    cfg = FeatureConfig()
    x = torch.from_numpy(rng.standard_normal((2, 16000)).astype(np.float32)).cuda()
    buf = torch.full((2, cfg.n_mels, cfg.num_frames(16000)), 7.0, device="cuda")
    assert log_mel_cuda(x, cfg, out=buf) is buf
    assert not torch.any(buf == 7.0)


@pytest.mark.parametrize("b,h,lq,lk,d", [(1, 1, 1, 1, 16), (4, 4, 12, 12, 16), (2, 8, 97, 1024, 64), (3, 2, 1024, 7, 128)])
def test_attention_cuda_matches_sdpa(b, h, lq, lk, d, rng):
    q, k, v = (torch.from_numpy(rng.standard_normal((b, h, n, d)).astype(np.float32)).cuda() for n in (lq, lk, lk))
    mask = torch.from_numpy(rng.random((b, lk)) < 0.3).cuda()
    mask[:, 0] = False
    ref = torch.nn.functional.scaled_dot_product_attention(q.double(), k.double(), v.double(),
                                                           attn_mask=~mask[:, None, None, :])
    noise = (torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=~mask[:, None, None, :]) - ref).abs().max()
    got = kernels.cross_attention_cuda(q, k, v, mask)
    assert (got - ref).abs().max() <= 2 * noise + 1e-5


def test_bidirectional_in_one_launch(rng):
    e = torch.from_numpy(rng.standard_normal((2, 4, 12, 16)).astype(np.float32)).cuda()
    o = torch.from_numpy(rng.standard_normal((2, 4, 9, 16)).astype(np.float32)).cuda()
    eo, oe = kernels.bidirectional_attention_cuda((e, o, o, None, None), (o, e, e, None, None))
    sdpa = torch.nn.functional.scaled_dot_product_attention
    torch.testing.assert_close(eo, sdpa(e, o, o), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(oe, sdpa(o, e, e), atol=1e-5, rtol=1e-4)
