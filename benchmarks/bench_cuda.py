"""CUDA kernels and the PyTorch-CUDA backend on a GPU (run by ``scripts/gpu_check.sh``).

    AVSC_EDGE_CUDA=1 python setup.py build_ext --inplace && python benchmarks/bench_cuda.py --json out.json

1. log-mel at the base front end (32 kHz, n_fft 1024, hop 320, 64 mels), 1 and 32 windows of 10 s:
   the fused kernel through a plan (tables uploaded once, writing into a preallocated buffer) and
   one-shot, against the torch CUDA chain (stft -> power -> mel matmul -> log);
2. cross-attention both directions at the model's shapes vs torch SDPA;
3. predict of a synthetic clip with the tiny and base presets on the PyTorch-CUDA backend (log-mel
   on the GPU) against the CPU backend: scores and per-stage milliseconds.
CUDA events for kernels, medians after warm-up, all in one run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from avsc_edge import kernels
from avsc_edge.config import ModelConfig, preset
from avsc_edge.preprocess.cuda_features import LogMelCuda, log_mel_cuda
from avsc_edge.preprocess.audio_features import analysis_window, mel_filterbank


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


def bench_log_mel() -> list[dict]:
    cfg = preset("base")[0]
    window = torch.from_numpy(np.array(analysis_window(cfg))).cuda()
    mel = torch.from_numpy(np.array(mel_filterbank(cfg))).cuda()
    plan = LogMelCuda(cfg)
    rows = []
    for n in (1, 32):
        x = torch.randn(n, 10 * cfg.sr, device="cuda") * 0.1
        out = torch.empty(n, cfg.n_mels, cfg.num_frames(x.shape[1]), device="cuda")
        stream = torch.cuda.current_stream().cuda_stream

        def chain():
            s = torch.stft(x, cfg.n_fft, cfg.hop_length, window=window, center=True, pad_mode="constant",
                           return_complex=True)
            return 10 * torch.log10(torch.clamp(mel @ (s.real ** 2 + s.imag ** 2), min=1e-10))

        t_plan = cuda_median_ms(lambda: plan(x, out, stream))
        t_once = cuda_median_ms(lambda: log_mel_cuda(x, cfg, out=out, stream=stream))
        t_ref = cuda_median_ms(chain)
        err = (out - chain()).abs().max().item()
        rows.append({"windows": n, "plan_ms": t_plan, "one_shot_ms": t_once, "torch_chain_ms": t_ref,
                     "speedup_vs_torch": t_ref / t_plan, "max_abs_diff_db": err})
        print(f"log-mel {n} x 10 s @ 32 kHz: plan {t_plan:.3f} ms, one-shot {t_once:.3f} ms, torch chain "
              f"{t_ref:.3f} ms, speed-up {t_ref / t_plan:.2f}x, max |diff| {err:.2e} dB")
    return rows


def bench_attention() -> list[dict]:
    sdpa = torch.nn.functional.scaled_dot_product_attention
    rows = []
    for name in ("tiny", "base"):
        m = ModelConfig.preset(name)
        for b in (1, 32):
            e = torch.randn(b, m.heads, m.n_events, m.d // m.heads, device="cuda")
            o = torch.randn(b, m.heads, m.n_objects, m.d // m.heads, device="cuda")
            ours = cuda_median_ms(lambda: kernels.bidirectional_attention_cuda((e, o, o, None, None), (o, e, e, None, None)))
            ref = cuda_median_ms(lambda: (sdpa(e, o, o), sdpa(o, e, e)))
            rows.append({"preset": name, "batch": b, "ours_ms": ours, "sdpa_ms": ref, "speedup": ref / ours})
            print(f"attention {name} B={b}: ours {ours:.4f} ms, SDPA {ref:.4f} ms, speed-up {ref / ours:.2f}x")
    return rows


def bench_predict(tmp: Path) -> list[dict]:
    from avsc_edge import Classifier
    from avsc_edge.bench.defaults import untrained_checkpoint
    from avsc_edge.data.synth import SynthConfig, generate

    data = generate(tmp / "data", SynthConfig(clips=20, seed=3, duration=10.0, width=640, height=360, fps=30.0,
                                              gop_seconds=2.0))
    clip = sorted((data / "video").glob("*.mp4"))[0]
    rows = []
    for name in ("tiny", "base"):
        ckpt = untrained_checkpoint(tmp / f"{name}.safetensors", name)
        result = {"preset": name}
        for device in ("cuda", "cpu"):
            clf = Classifier(ckpt, device=device)
            clf.predict(clip)
            runs = [clf.predict(clip) for _ in range(5)]
            result[device] = {k: statistics.median(r.timings[k] for r in runs) for k in runs[0].timings}
            result[device]["features_on_gpu"] = not clf.host_features
            result[f"{device}_scores"] = runs[-1].scores
        diff = max(abs(result["cuda_scores"][k] - result["cpu_scores"][k]) for k in result["cpu_scores"])
        result["max_score_diff"] = diff
        rows.append(result)
        print(f"predict {name}: cuda {result['cuda']['total_ms']:.1f} ms (inference {result['cuda']['inference_ms']:.1f}), "
              f"cpu {result['cpu']['total_ms']:.1f} ms (inference {result['cpu']['inference_ms']:.1f}); "
              f"max |score diff| {diff:.2e}; features on the GPU: {result['cuda']['features_on_gpu']}")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json")
    args = ap.parse_args()
    assert torch.cuda.is_available(), "needs an NVIDIA GPU"
    report = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    print(report["gpu"])
    t0 = time.perf_counter()
    report["log_mel"] = bench_log_mel()
    report["attention"] = bench_attention()
    with tempfile.TemporaryDirectory() as tmp:
        report["predict"] = bench_predict(Path(tmp))
    report["seconds"] = time.perf_counter() - t0
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
