"""CUDA kernels vs torch on the GPU (NOT RUN yet: no GPU was available to the sessions so far).

    AVSC_EDGE_CUDA=1 pip install -e ".[train,dev]" && python benchmarks/bench_cuda.py

log-mel of 32 x 10 s at 48 kHz: avsc_edge's CUDA kernel (writing into a preallocated buffer) vs the
torch CUDA chain (stft -> power -> mel matmul -> log); cross-attention both directions at the
model's shapes vs torch SDPA. CUDA events, medians after warm-up, same run.
"""
from __future__ import annotations

import statistics

import numpy as np
import torch

from avsc_edge import kernels
from avsc_edge.config import FeatureConfig, ModelConfig
from avsc_edge.features import analysis_window, log_mel_cuda, mel_filterbank


def cuda_median_ms(fn, repeats: int = 50, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main() -> int:
    assert torch.cuda.is_available(), "needs an NVIDIA GPU"
    print(torch.cuda.get_device_name(0))
    cfg = FeatureConfig(sr=48000, n_fft=2048, hop_length=480, n_mels=64)
    x = torch.randn(32, 10 * cfg.sr, device="cuda")
    window = torch.from_numpy(np.array(analysis_window(cfg))).cuda()
    mel = torch.from_numpy(np.array(mel_filterbank(cfg))).cuda()
    out = torch.empty(32, cfg.n_mels, cfg.num_frames(x.shape[1]), device="cuda")

    def chain():
        s = torch.stft(x, cfg.n_fft, cfg.hop_length, window=window, center=True, pad_mode="constant",
                       return_complex=True)
        return 10 * torch.log10(torch.clamp(mel @ (s.real ** 2 + s.imag ** 2), min=1e-10))

    ours = cuda_median_ms(lambda: log_mel_cuda(x, cfg, out=out, stream=torch.cuda.current_stream().cuda_stream))
    ref = cuda_median_ms(chain)
    err = (out - chain()).abs().max().item()
    print(f"log-mel 32 x 10 s @ 48 kHz: ours {ours:.3f} ms, torch chain {ref:.3f} ms, speed-up {ref / ours:.2f}x "
          f"(target >= 3x), max |diff| {err:.2e} dB")
    sdpa = torch.nn.functional.scaled_dot_product_attention
    for preset in ("tiny", "base"):
        m = ModelConfig.preset(preset)
        for b in (1, 32):
            e = torch.randn(b, m.heads, m.n_events, m.d // m.heads, device="cuda")
            o = torch.randn(b, m.heads, m.n_objects, m.d // m.heads, device="cuda")
            ours = cuda_median_ms(lambda: kernels.bidirectional_attention_cuda((e, o, o, None, None), (o, e, e, None, None)))
            ref = cuda_median_ms(lambda: (sdpa(e, o, o), sdpa(o, e, e)))
            print(f"attention {preset} B={b}: ours {ours:.4f} ms, SDPA {ref:.4f} ms, speed-up {ref / ours:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
