"""Kernel benchmarks: the fused log-mel against librosa and a torch chain (``torch.stft`` -> power
-> mel matmul -> log), and the fused cross-attention against torch SDPA, at 1 and 2 threads.
Prints medians (ms) and the speed-up over each reference measured in the same run."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .. import kernels
from ..config import FeatureConfig
from ..kernels import native as _native
from ..preprocess.audio_features import analysis_window, log_mel, mel_filterbank
from .timing import fmt_ms, median_time


@dataclass
class Row:
    kernel: str
    case: str
    threads: int
    ours_ms: float
    reference: str
    reference_ms: float

    @property
    def speedup(self) -> float:
        return self.reference_ms / self.ours_ms


def _set_threads(torch, n: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(n)
    if torch is not None:
        torch.set_num_threads(n)


def torch_log_mel(torch, cfg: FeatureConfig):
    """The torch chain the issue names, with the same window and filterbank as ours."""
    window = torch.from_numpy(np.array(analysis_window(cfg)))
    mel = torch.from_numpy(np.array(mel_filterbank(cfg)))

    def run(x):
        spec = torch.stft(x, cfg.n_fft, cfg.hop_length, window=window, center=cfg.center, pad_mode=cfg.pad_mode,
                          return_complex=True)
        power = spec.real ** 2 + spec.imag ** 2
        return 10.0 * torch.log10(torch.clamp(mel @ power, min=1e-10))

    return run


def bench_log_mel(threads: tuple[int, ...] = (1, 2), batch: int = 32, repeats: int = 10) -> list[Row]:
    import librosa
    import torch

    cfgs = {"48k n_fft=2048 hop=480 64 mels": FeatureConfig(sr=48000, n_fft=2048, hop_length=480, n_mels=64),
            "16k n_fft=512 hop=256 64 mels (SDK default)": FeatureConfig()}
    rng = np.random.default_rng()
    rows = []
    for name, cfg in cfgs.items():
        for n_signals in (1, batch):
            x = rng.standard_normal((n_signals, 10 * cfg.sr)).astype(np.float32)
            xt = torch.from_numpy(x)
            chain = torch_log_mel(torch, cfg)
            reps = repeats if n_signals == 1 else max(3, repeats // 3)
            for t in threads:
                _set_threads(torch, t)
                ours = median_time(lambda: log_mel(x, cfg, threads=t), reps)
                case = f"{name}, {n_signals} x 10 s"
                ref = median_time(lambda: chain(xt), reps)
                rows.append(Row("log_mel", case, t, ours * 1e3, "torch chain", ref * 1e3))
                lib = median_time(lambda: librosa.power_to_db(librosa.feature.melspectrogram(
                    y=x, sr=cfg.sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels, fmin=cfg.fmin,
                    pad_mode=cfg.pad_mode), ref=1.0, amin=1e-10, top_db=None), max(3, reps // 3), warmup=1)
                rows.append(Row("log_mel", case, t, ours * 1e3, "librosa", lib * 1e3))
    return rows


def bench_attention(threads: tuple[int, ...] = (1, 2), repeats: int = 200) -> list[Row]:
    """Both directions (events->objects, objects->events) at the model's shapes."""
    import torch

    from ..config import ModelConfig

    rng = np.random.default_rng()
    rows = []
    sdpa = torch.nn.functional.scaled_dot_product_attention
    for preset in ("tiny", "base"):
        cfg = ModelConfig.preset(preset)
        dh = cfg.d // cfg.heads
        for b in (1, 32):
            e = rng.standard_normal((b, cfg.heads, cfg.n_events, dh)).astype(np.float32)
            o = rng.standard_normal((b, cfg.heads, cfg.n_objects, dh)).astype(np.float32)
            et, ot = torch.from_numpy(e), torch.from_numpy(o)
            for t in threads:
                _set_threads(torch, t)
                ours = median_time(lambda: kernels.bidirectional_attention((e, o, o, None), (o, e, e, None),
                                                                           threads=t), repeats)
                with torch.inference_mode():
                    ref = median_time(lambda: (sdpa(et, ot, ot), sdpa(ot, et, et)), repeats)
                case = f"{preset}: B={b} H={cfg.heads} L={cfg.n_events}x{cfg.n_objects} D={dh}, both directions"
                rows.append(Row("cross_attention", case, t, ours * 1e3, "torch SDPA", ref * 1e3))
    return rows


def markdown(rows: list[Row]) -> str:
    lines = ["| kernel | case | threads | ours (ms) | reference | reference (ms) | speed-up |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.kernel} | {r.case} | {r.threads} | {fmt_ms(r.ours_ms / 1e3)} | {r.reference} | "
                     f"{fmt_ms(r.reference_ms / 1e3)} | {r.speedup:.1f}x |")
    return "\n".join(lines)


def run(which: str = "all", threads: tuple[int, ...] = (1, 2)) -> list[Row]:
    if not _native.available():
        raise RuntimeError("avsc_edge._C is not built: nothing to benchmark but the references")
    rows = []
    if which in ("all", "attention"):
        rows += bench_attention(threads)
    if which in ("all", "log_mel"):
        rows += bench_log_mel(threads)
    return rows
