"""CUDA kernels against the CPU references. Skipped where no GPU is visible (CI has none); run on a
GPU machine with: AVSC_EDGE_CUDA=1 pip install -e . && pytest tests/test_cuda.py"""
import numpy as np
import pytest

from avsc_edge.kernels import native as _native
from avsc_edge import kernels
from avsc_edge.config import FeatureConfig
from avsc_edge.preprocess.cuda_features import log_mel_cuda
from avsc_edge.preprocess.audio_features import log_mel_reference

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


def test_log_mel_cuda_matches_reference_with_the_edge_front_end(rng):
    """EfficientAT's front end (pre-emphasis, symmetric window, Kaldi bank, ln + normalisation)."""
    from avsc_edge.config import preset

    cfg = preset("edge")[0]
    x = (rng.standard_normal((3, 32000 + int(rng.integers(0, 999)))) * 0.1).astype(np.float32)
    out = log_mel_cuda(torch.from_numpy(x).cuda(), cfg)
    torch.cuda.synchronize()
    np.testing.assert_allclose(out.cpu().numpy(), log_mel_reference(x, cfg), atol=2e-4)


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


def test_log_mel_plan_reuses_its_tables_and_writes_raw_buffers(rng):
    """The plan a GPU backend keeps: device arrays in, or host windows into a raw device pointer
    (a TensorRT input binding); equal to the reference both ways."""
    from avsc_edge.preprocess.cuda_features import LogMelCuda

    cfg = FeatureConfig(sr=32000, n_fft=1024, hop_length=320, n_mels=64, fmin=50.0, fmax=14000.0)
    plan = LogMelCuda(cfg)
    for n in (32000, 32000 * 3 + 17):
        x = rng.standard_normal((2, n)).astype(np.float32)
        ref = log_mel_reference(x, cfg)
        out = torch.empty((2, cfg.n_mels, plan.frames(n)), device="cuda")
        plan(torch.from_numpy(x).cuda(), out, torch.cuda.current_stream().cuda_stream)
        torch.cuda.synchronize()
        np.testing.assert_allclose(out.cpu().numpy(), ref, atol=2e-3)
        raw = torch.full((2, cfg.n_mels, plan.frames(n)), 7.0, device="cuda")
        plan.run_host(x, raw.data_ptr(), torch.cuda.current_stream().cuda_stream, capacity=raw.numel())
        torch.cuda.synchronize()
        np.testing.assert_allclose(raw.cpu().numpy(), ref, atol=2e-3)
    with pytest.raises(ValueError, match="floats"):
        plan.run_host(x, raw.data_ptr(), 0, capacity=10)


def test_pytorch_cuda_backend_computes_features_on_the_gpu(tiny_checkpoint, tiny_dataset):
    from avsc_edge import Classifier
    from avsc_edge.data import TauDataset

    clip = TauDataset(tiny_dataset).clips("evaluate")[0].video
    gpu, cpu = Classifier(tiny_checkpoint, device="cuda"), Classifier(tiny_checkpoint)
    assert gpu.backend.device_features and not gpu.host_features and gpu.engine.device == "cuda"
    a, b = gpu.predict(clip), cpu.predict(clip)
    assert max(abs(a.scores[k] - b.scores[k]) for k in a.scores) < 1e-3


def test_fused_attention_on_cuda_equals_pytorch_ops(rng):
    from avsc_edge.config import preset
    from avsc_edge.model import AVSCModel

    f, c, m = preset("tiny")
    plain = AVSCModel(m, f.n_mels).cuda().eval()
    fused = AVSCModel(m, f.n_mels).cuda().eval()
    fused.load_state_dict(plain.state_dict())
    fused.use_fused_attention(True)
    frames = torch.from_numpy(rng.standard_normal((6, 3, c.frame_size, c.frame_size)).astype(np.float32)).cuda()
    with torch.inference_mode():
        torch.testing.assert_close(fused.encode_frames(frames)[0], plain.encode_frames(frames)[0], atol=1e-5, rtol=1e-4)
