"""The model alone, several artifacts interleaved: each round times every artifact once
(``avsc_edge.bench.e2e.model_alone_ms``: one window of random inputs, batch 1, warm-up first), so
that drift of a shared machine falls on all of them alike; prints the median over rounds and each
artifact's ratio to the first.

    python benchmarks/model_alone.py BASE.int8.onnx EDGE.int8.onnx [...] --rounds 5 [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from avsc_edge import Classifier
from avsc_edge.bench.e2e import model_alone_ms


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("artifacts", nargs="+")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    clfs = {a: Classifier(a, batch_size=1) for a in args.artifacts}
    times: dict[str, list[float]] = {a: [] for a in args.artifacts}
    for _ in range(args.rounds):
        for a, clf in clfs.items():
            times[a].append(model_alone_ms(clf))
    first = statistics.median(times[args.artifacts[0]])
    print("| artifact | preset | precision | model alone ms (median of rounds) | first / this |\n|---|---|---|---|---|")
    rows = []
    for a, clf in clfs.items():
        med = statistics.median(times[a])
        rows.append({"artifact": a, "precision": clf.engine.precision, "ms": med, "rounds": times[a]})
        print(f"| {Path(a).parent.name}/{Path(a).name} | {clf.info.model_config.audio_backbone}+"
              f"{clf.info.model_config.visual_backbone} | {clf.engine.precision} | {med:.1f} | {first / med:.1f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
