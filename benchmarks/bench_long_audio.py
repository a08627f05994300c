"""Long recordings in bounded memory (issue 10): a 2-hour 16-bit WAV, a 2-hour float WAV and a
100-minute Opus file, each with a short (20-s) video, classified by `predict` window by window.
Each run is a separate process; its peak RSS (ru_maxrss) and wall time are reported, with a
30-minute file of each kind for the time's linearity.

    python benchmarks/bench_long_audio.py MODEL --out out/long-audio [--json results/long_audio.json]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

KINDS = {"wav16": ("pcm_s16le", "s16", ".wav"), "wavf32": ("pcm_f32le", "flt", ".wav"), "opus": ("libopus", "flt", ".opus")}


def write_audio(path: Path, minutes: float, codec: str, fmt: str, sr: int = 48000) -> Path:
    """Stereo noise with a slow tone, written in 10-s blocks (never held whole)."""
    import av

    if path.is_file():
        return path
    rng = np.random.default_rng(0)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    with av.open(str(tmp), "w") as c:
        s = c.add_stream(codec, rate=sr)
        s.layout = "stereo"
        if codec == "libopus":
            s.bit_rate = 64000
        resampler = av.AudioResampler(format=s.codec_context.codec.audio_formats[0].name, layout="stereo", rate=sr,
                                      frame_size=s.codec_context.frame_size or None)
        t0 = 0
        for _ in range(int(minutes * 6)):
            n = sr * 10
            t = (t0 + np.arange(n)) / sr
            block = (0.05 * rng.standard_normal((2, n)) + 0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
            t0 += n
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            frame.sample_rate = sr
            for f in resampler.resample(frame):
                for p in s.encode(f):
                    c.mux(p)
        for f in resampler.resample(None):
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    tmp.rename(path)
    return path


RUN = """
import json, resource, sys, time
from avsc_edge import Classifier
t0 = time.perf_counter()
p = Classifier(sys.argv[1], threads=2).predict(audio=sys.argv[2], video=sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "windows": len(p.windows), "modalities": sorted({tuple(w["modalities"]) for w in p.windows}),
                  "label": p.label, "notes": p.notes}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--out", default="out/long-audio")
    ap.add_argument("--json")
    args = ap.parse_args()
    from avsc_edge.data.synth import write_av

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    video = out / "short.mp4"
    if not video.is_file():
        rng = np.random.default_rng(1)
        write_av(video, rng.integers(0, 255, (100, 96, 128, 3), dtype=np.uint8), 5.0, None, 48000)  # 20 s
    rows = []
    for kind, (codec, fmt, suffix) in KINDS.items():
        for minutes in ((30, 100) if kind == "opus" else (30, 120)):
            t0 = time.perf_counter()
            audio = write_audio(out / f"{kind}-{minutes}min{suffix}", minutes, codec, fmt)
            made = time.perf_counter() - t0
            res = subprocess.run([sys.executable, "-c", RUN, args.model, str(audio), str(video)], capture_output=True,
                                 text=True)
            if res.returncode != 0:
                print(res.stderr[-2000:], file=sys.stderr)
                return 1
            row = {"kind": kind, "minutes": minutes, "file_mb": audio.stat().st_size / 1e6, **json.loads(res.stdout)}
            rows.append(row)
            print(f"{kind:7s} {minutes:4d} min ({row['file_mb']:7.0f} MB, written in {made:5.1f} s): "
                  f"{row['seconds']:6.1f} s, {row['windows']} windows, peak RSS {row['peak_rss_mb']:.0f} MB, "
                  f"modalities {row['modalities']}", flush=True)
    print("\n| file | minutes | size MB | time s | s per audio hour | windows | peak RSS MB |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['kind']} | {r['minutes']} | {r['file_mb']:.0f} | {r['seconds']:.1f} | "
              f"{r['seconds'] / (r['minutes'] / 60):.1f} | {r['windows']} | {r['peak_rss_mb']:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
