"""Where the time of `predict` goes: cProfile over decode -> features -> inference on one clip.

    python benchmarks/profile_predict.py MODEL [CLIP] [--repeats 20]

Prints the median per-stage split and the functions with the most own time.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import tempfile
from pathlib import Path

from avsc_edge import Classifier
from avsc_edge.data.synth import SynthConfig, generate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("clip", nargs="?")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip or sorted((generate(Path(tmp), SynthConfig(clips=20, seed=5, duration=10.0)) / "video").glob("*.mp4"))[0]
        clf = Classifier(args.model)
        clf.predict(clip)
        prof = cProfile.Profile()
        prof.enable()
        runs = [clf.predict(clip) for _ in range(args.repeats)]
        prof.disable()
    stages = {k: statistics.median(r.timings[k] for r in runs) for k in runs[0].timings}
    print("median ms per stage:", {k: round(v, 2) for k, v in stages.items()})
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(10)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
