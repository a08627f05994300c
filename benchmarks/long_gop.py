"""``predict`` on long-GOP clips against decoding every video frame (PyAV, nothing else) and against
the floor (bench.floor), interleaved per clip in one process, medians over clips x repeats.

    python benchmarks/long_gop.py MODEL DATA [--clips 6] [--repeats 2] [--json out.json]
    python benchmarks/long_gop.py MODEL DATA --agreement          # deblocked or not: same predictions?

The keyframe policy's long-GOP fallback decodes I- and P-frames forward without H.264's deblocking
filter (``media.video.SKIP_DEBLOCKING_FORWARD``); "predict, deblocked" times it with the filter, in
the same run. ``--agreement``: every clip of DATA (a model trained on other data) predicted both ways: accuracy of
each against the ground truth, top-1 agreement, the largest score difference.

DATA: a TAU-layout folder, e.g. ``avsc-edge synth --profile longgop --out DATA --clips 20``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from avsc_edge.media import video


def full_decode_ms(path: str) -> float:
    import av

    t0 = time.perf_counter()
    with av.open(path) as c:
        for _ in c.decode(video=0):
            pass
    return (time.perf_counter() - t0) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--agreement", action="store_true")
    args = ap.parse_args()
    from avsc_edge import Classifier
    from avsc_edge.bench.floor import floor_ms
    from avsc_edge.data import TauDataset

    evaluate = TauDataset(args.data).clips("evaluate")
    evaluate = evaluate[: args.clips] if args.clips else evaluate
    clips = [str(c.video) for c in evaluate]
    clf = Classifier(args.model)
    if args.agreement:    # every clip of the folder: the model was trained elsewhere
        return agreement(clf, TauDataset(args.data).clips("evaluate") + TauDataset(args.data).clips("train"), args.json)
    clf.predict(clips[0])    # warm-up
    times: dict[str, list[float]] = {"predict": [], "predict_deblocked": [], "floor": [], "full_decode": []}
    for _ in range(args.repeats):
        for clip in clips:
            for name, skip in (("predict", True), ("predict_deblocked", False)):
                video.SKIP_DEBLOCKING_FORWARD = skip
                t0 = time.perf_counter()
                clf.predict(clip)
                times[name].append((time.perf_counter() - t0) * 1e3)
            video.SKIP_DEBLOCKING_FORWARD = True
            times["floor"].append(floor_ms(clip, clf.info.clip_config)["total_ms"])
            times["full_decode"].append(full_decode_ms(clip))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.model} on {args.data}: predict {med['predict']:.1f} ms (deblocked {med['predict_deblocked']:.1f} ms), floor {med['floor']:.1f} ms, decoding every "
          f"frame {med['full_decode']:.1f} ms; every frame / predict {med['full_decode'] / med['predict']:.2f}x, "
          f"predict / floor {med['predict'] / med['floor']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "data": args.data, "ms": times, "median_ms": med},
                                              indent=1))
    return 0


def agreement(clf, clips, out: str | None) -> int:
    import numpy as np

    scores, accuracy = {}, {}
    for name, skip in (("skipped", True), ("deblocked", False)):
        video.SKIP_DEBLOCKING_FORWARD = skip
        preds = [clf.predict(c.video) for c in clips]
        scores[name] = np.array([[p.scores[k] for k in sorted(p.scores)] for p in preds])
        accuracy[name] = float(np.mean([p.label == c.label for p, c in zip(preds, clips)]))
    video.SKIP_DEBLOCKING_FORWARD = True
    same = float(np.mean(scores["skipped"].argmax(1) == scores["deblocked"].argmax(1)))
    diff = float(np.abs(scores["skipped"] - scores["deblocked"]).max())
    print(f"{len(clips)} clips: accuracy deblocking skipped {accuracy['skipped']:.3f}, deblocked "
          f"{accuracy['deblocked']:.3f}; top-1 agreement {same:.3f}; max |score diff| {diff:.4f}")
    if out:
        Path(out).write_text(json.dumps({"clips": len(clips), "accuracy": accuracy, "top1_agreement": same,
                                         "max_abs_score_diff": diff}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
