"""The `base` front ends as their references read inputs (issue 18), and what they cost, in one run:

1. the input path of one 10-s window of the TAU-like 720p30 clip (`synth --profile tau`: H.264 +
   AAC 48 kHz stereo): today's front ends (channel mean, soxr HQ, reflect padding, centre crop)
   against the previous ones (libswresample's mono downmix and filter, zero padding, squashed
   frames), medians after warm-up;
2. resampling 48 kHz stereo to 32 kHz mono: seconds per hour of audio, soxr HQ (what librosa and
   PANNs use) against libswresample's default filter, and each one's error against soxr in the
   top mel bins (white noise, base log-mel, mean over frames).

    python benchmarks/bench_front_ends.py --out out/front-ends [--repeats 9] [--json F]
"""
from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np


class PreviousResampler:
    """The audio front end before issue 18, kept here as the reference: libswresample resamples
    with its default filter and downmixes stereo to (L+R)/sqrt(2)."""

    channels = 1

    def __init__(self, sr: int, mono: bool = True) -> None:
        import av

        self.av, self.sr = av, sr
        self.r = av.AudioResampler(format="fltp", layout="mono", rate=sr)

    def _out(self, frames) -> np.ndarray:
        parts = [f.to_ndarray() for f in frames]
        return np.concatenate(parts, axis=1) if parts else np.zeros((1, 0), np.float32)

    def push_frame(self, frame) -> np.ndarray:
        return self._out(self.r.resample(frame))

    def push_array(self, x: np.ndarray, rate: int) -> np.ndarray:
        layout = {1: "mono", 2: "stereo"}[x.shape[0]]
        frame = self.av.AudioFrame.from_ndarray(np.ascontiguousarray(x, np.float32), format="fltp", layout=layout)
        frame.sample_rate = rate
        return self.push_frame(frame)

    def flush(self) -> np.ndarray:
        return self._out(self.r.resample(None))


@contextmanager
def previous_audio():
    from avsc_edge.media import audio

    current = audio.Resampler
    audio.Resampler = PreviousResampler
    try:
        yield
    finally:
        audio.Resampler = current


def resample_cost(resampler_cls, seconds: float = 60.0, repeats: int = 3) -> float:
    """Seconds per hour of 48 kHz stereo audio, fed in 1-s chunks."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, int(48000 * seconds))) * 0.1).astype(np.float32)
    runs = []
    for _ in range(repeats + 1):
        r = resampler_cls(32000, mono=True)
        t0 = time.perf_counter()
        for s in range(0, x.shape[1], 48000):
            r.push_array(x[:, s:s + 48000], 48000)
        r.flush()
        runs.append(time.perf_counter() - t0)
    return float(np.median(runs[1:])) * 3600 / seconds


def top_bins_db(resampler_cls, features) -> np.ndarray:
    """Mean log-mel of resampled white noise minus the soxr reference's, per mel bin (dB)."""
    import soxr

    from avsc_edge.preprocess.audio_features import log_mel

    rng = np.random.default_rng(1)
    x = (rng.standard_normal(48000 * 10) * 0.1).astype(np.float32)
    reference = soxr.resample(x, 48000, 32000, quality="HQ")
    r = resampler_cls(32000, mono=True)
    y = np.concatenate([r.push_array(x[None], 48000), r.flush()], axis=1)[0][:len(reference)]
    return log_mel(y, features).mean(axis=1) - log_mel(reference, features).mean(axis=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out/front-ends")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--json")
    args = ap.parse_args()

    from avsc_edge.bench.defaults import tau_dataset
    from avsc_edge.bench.pipeline import time_first_window
    from avsc_edge.config import preset
    from avsc_edge.data import TauDataset
    from avsc_edge.media.audio import Resampler

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clip_path = TauDataset(tau_dataset(out, print)).clips("evaluate")[0].video
    features, clip, _ = preset("base")
    old_features, old_clip = replace(features, pad_mode="constant"), replace(clip, frame_geometry="squash")
    result: dict = {"clip": str(clip_path)}

    # alternate the two paths so that machine load drifts hit both alike
    new_ms, old_ms = [], []
    for _ in range(args.repeats):
        new_ms.append(time_first_window(clip_path, features, clip, 1) * 1e3)
        with previous_audio():
            old_ms.append(time_first_window(clip_path, old_features, old_clip, 1) * 1e3)
    new, old = float(np.median(new_ms)), float(np.median(old_ms))
    result["window_ms"] = {"previous": old, "reference_front_ends": new, "ratio": new / old}
    print("1. one 10-s window of the 720p30 clip: decode + frames + log-mel (median ms)")
    print("| front ends | ms | vs previous |\n|---|---|---|")
    print(f"| previous (libswresample mono downmix, zero padding, squash) | {old:.1f} | 1.00x |")
    print(f"| as the references (channel mean + soxr HQ, reflect padding, centre crop) | {new:.1f} | "
          f"{new / old:.2f}x time |\n")

    cost = {"soxr_hq": resample_cost(Resampler), "libswresample": resample_cost(PreviousResampler)}
    err = {"soxr_hq": top_bins_db(Resampler, features), "libswresample": top_bins_db(PreviousResampler, features)}
    result["resample_s_per_hour"] = cost
    result["mel_bin_error_db"] = {k: [float(v.min()), float(v.max()), float(np.abs(v[:-4]).max())] for k, v in err.items()}
    print("2. 48 kHz stereo -> 32 kHz mono, per hour of audio (1-s chunks) and error vs soxr in the mel bins")
    print("| resampler | s per hour | mel bins: min / max dB | worst of bins 0-59 |\n|---|---|---|---|")
    for k in cost:
        e = err[k]
        print(f"| {k} | {cost[k]:.2f} | {e.min():+.3f} / {e.max():+.3f} | {np.abs(e[:-4]).max():.3f} |")
    print(f"soxr costs {cost['soxr_hq'] / cost['libswresample']:.2f}x libswresample's time")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
