"""The gst: path against the PyAV paths on the same clip, in one run: a 30-s 1280x720 30-fps
H.264 + AAC file streamed with a 1-s hop (as fast as decoding allows), per hop: wall time and CPU
time of the whole process (decoding, scaling, resampling, the model), medians over repeats after a
warm-up, and the ratios. Rows: ``pyav-file`` (a local file: only the frames the model samples are
decoded), ``pyav-url`` (the same file from a local HTTP server: every frame decoded, as for any
network stream), ``gst`` (``gst:PATH``: uridecodebin, every frame decoded, thinned, scaled and
cropped inside the pipeline), ``gst-url`` (``gst:http://...``).

    python benchmarks/bench_gst.py MODEL [--seconds 30] [--repeats 3] [--json out.json]
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from avsc_edge import Classifier


def make_clip(path: Path, seconds: float, fps: int = 30, size=(1280, 720), sr: int = 48000,
              gop_seconds: float | None = None) -> None:
    """A moving gradient with noise and stereo noise: enough texture for a realistic H.264 stream
    (``gop_seconds``: a keyframe that often; default x264's, one per 250 frames)."""
    from avsc_edge.data.synth import write_av

    w, h = size
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    rng = np.random.default_rng(0)

    def frames():
        for i in range(int(seconds * fps)):
            base = (x * 0.5 + y * 0.5 + 4 * i) % 256
            rgb = np.stack([base, np.roll(base, i, axis=1), 255 - base], -1)
            yield (rgb + rng.integers(0, 16, (h, w, 1))).clip(0, 255).astype(np.uint8)

    audio = (rng.standard_normal((2, int(seconds * sr))) * 0.1).astype(np.float32)
    options = {"preset": "ultrafast", "crf": "23"}
    if gop_seconds:
        options.update(g=str(round(gop_seconds * fps)), keyint_min=str(round(gop_seconds * fps)))
    write_av(path, frames(), fps, audio, sr, size=size, video_options=options)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def run(clf: Classifier, source: str) -> dict:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    preds = list(clf.stream(source, hop=1.0))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"hops": len(preds), "wall_ms_per_hop": wall * 1e3 / len(preds), "cpu_ms_per_hop": cpu * 1e3 / len(preds),
            "model_ms_per_hop": statistics.median(p.timings["total_ms"] for p in preds)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="any artifact (.onnx, .safetensors, .plan)")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clip", help="use this clip instead of generating one")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args(argv)
    clf = Classifier(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(args.clip) if args.clip else Path(tmp) / "clip.mkv"   # streamable over HTTP without seeking
        if not args.clip:
            t0 = time.perf_counter()
            make_clip(clip, args.seconds)
            print(f"wrote a {args.seconds:g}-s 1280x720 30-fps H.264 + AAC Matroska clip in {time.perf_counter() - t0:.1f} s")
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(clip.parent)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
        paths = {"pyav-file": str(clip), "pyav-url": url, "gst": f"gst:{clip}", "gst-url": f"gst:{url}"}
        for source in paths.values():    # warm-up
            run(clf, source)
        rows = {name: [run(clf, source) for _ in range(args.repeats)] for name, source in paths.items()}
        server.shutdown()
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in rows.items()}
    print(f"model {args.model}, {args.repeats} repeats, medians per 1-s hop:")
    print("| path | hops | wall ms | CPU ms | model ms |")
    print("|---|---|---|---|---|")
    for name, m in med.items():
        print(f"| {name} | {m['hops']:.0f} | {m['wall_ms_per_hop']:.1f} | {m['cpu_ms_per_hop']:.1f} | "
              f"{m['model_ms_per_hop']:.1f} |")
    ratio = {f"{a}/{b}": {k: med[a][k] / med[b][k] for k in ("wall_ms_per_hop", "cpu_ms_per_hop")}
             for a, b in (("gst", "pyav-file"), ("gst-url", "pyav-url"))}
    for name, r in ratio.items():
        print(f"{name}: wall {r['wall_ms_per_hop']:.2f}x, CPU {r['cpu_ms_per_hop']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "rows": rows, "medians": med, "ratio": ratio},
                                              indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
