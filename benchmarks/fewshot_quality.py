"""Few-shot accuracy on real recordings: labels learnt from 1, 3, 5, 10 recordings per label, tested
on other recordings, with the genuine taggers' embeddings against the same networks with random
weights, for each head kind of ``avsc-edge adapt``.

    python benchmarks/fewshot_quality.py DATA [--shots 1 3 5 10] [--draws 20] [--test 5] [--json out.json]

DATA: UrbanSound8K's layout (``fold*/FSID-CLASS-OCC-SLICE.wav``: the slices of one Freesound
recording share FSID and count as one recording, never split between support and test) or
``DATA/<label>/<files>`` (a file is a recording). Every window goes through the SDK's own input
path (``Recording``: decode, downmix, resample, the edge front end, windows padded to 10 s as
``predict`` pads them); the embeddings are the few-shot artifact's (the audio tokens pooled over
time) from the genuine weights or from the same networks at their random initialisation (torch,
seed 0); the heads are ``avsc_edge.tagging.heads``'. A draw picks, per label, ``shots`` support
recordings and up to ``--test`` other test recordings at random; accuracy is over test
recordings (mean of their windows' probabilities), mean and spread over draws.
"""
from __future__ import annotations

import argparse
import json
import re
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

US8K = re.compile(r"(\d+)-(\d)-\d+-\d+\.wav$")
US8K_CLASSES = ("air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling", "engine_idling",
                "gun_shot", "jackhammer", "siren", "street_music")


def recordings(data: Path) -> dict[str, dict[str, list[Path]]]:
    """label -> recording -> files."""
    out: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for f in sorted(data.rglob("*.wav")):
        m = US8K.search(f.name)
        if m:
            out[US8K_CLASSES[int(m.group(2))]][m.group(1)].append(f)
    if not out:
        for label in sorted(p for p in data.iterdir() if p.is_dir()):
            for f in sorted(label.rglob("*")):
                if f.is_file():
                    out[label.name][f.name].append(f)
    return out


def embedder(genuine: bool, own_length: bool = False):
    """file -> [windows, 384] audio embeddings through the SDK's windows and the given weights."""
    import torch

    from avsc_edge.config import ModelConfig
    from avsc_edge.model.genuine import GenuineTaggers
    from avsc_edge.model.taggers import load_audio_tagger
    from avsc_edge.preprocess.windows import Recording
    from avsc_edge.tagging.bundle import edge_weights, genuine_configs

    torch.manual_seed(0)
    taggers = GenuineTaggers().eval()
    if genuine:
        taggers.audio.load_state_dict(load_audio_tagger(edge_weights()[0], ModelConfig(audio_backbone="mn",
                                                                                         audio_width=0.4), 128).state_dict())
    features, clip = genuine_configs()

    def embed(path: Path) -> np.ndarray:
        rec = Recording.from_files(path, None, features, clip, threads=1)
        rec.pad_short = not own_length
        out = []
        for w in rec.windows():
            with torch.no_grad():
                out.append(taggers.audio_slots(taggers.audio_tokens(torch.from_numpy(w.log_mel[None])))[0][:, 0].numpy())
        return np.concatenate(out)
    return embed


def evaluate(emb: dict, labels: list[str], shots: int, test: int, draws: int, kind: str) -> list[float]:
    from avsc_edge.runtime.prediction import softmax
    from avsc_edge.tagging.heads import fit

    rng = np.random.default_rng(0)
    scores = []
    for _ in range(draws):
        xs, ys, tests = [], [], []
        for k, label in enumerate(labels):
            recs = list(emb[label])
            rng.shuffle(recs)
            if len(recs) < shots + 1:
                raise SystemExit(f"{label}: {len(recs)} recordings, not enough for {shots} shots and a test")
            for r in recs[:shots]:
                xs.append(emb[label][r])
                ys += [k] * len(emb[label][r])
            tests += [(k, emb[label][r]) for r in recs[shots:shots + test]]
        head = fit(kind, np.concatenate(xs), np.array(ys), len(labels))
        hits = [softmax(head.logits(x).astype(np.float64)).mean(axis=0).argmax() == k for k, x in tests]
        scores.append(float(np.mean(hits)))
    return scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--shots", type=int, nargs="+", default=[1, 3, 5, 10])
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--test", type=int, default=5, help="test recordings per label and draw")
    ap.add_argument("--max-recordings", type=int, default=16, help="recordings per label embedded (the first, sorted)")
    ap.add_argument("--own-length", action="store_true", help="windows shorter than 10 s at their own length")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from avsc_edge.tagging.heads import HEAD_KINDS

    found = recordings(args.data)
    labels = sorted(found)
    rows, report = [], {"data": str(args.data), "labels": labels, "shots": args.shots, "draws": args.draws,
                        "test_per_label": args.test, "results": {}}
    for weights in ("genuine", "random"):
        embed, t0 = embedder(weights == "genuine", args.own_length), time.perf_counter()
        emb = {label: {r: np.concatenate([embed(f) for f in files])
                       for r, files in sorted(found[label].items())[:args.max_recordings]} for label in labels}
        n = sum(len(v) for v in emb.values())
        print(f"{weights}: {n} recordings of {len(labels)} labels embedded in {time.perf_counter() - t0:.1f} s")
        for kind in HEAD_KINDS:
            for shots in args.shots:
                s = evaluate(emb, labels, shots, args.test, args.draws, kind)
                report["results"][f"{weights}/{kind}/{shots}"] = {"mean": float(np.mean(s)), "std": float(np.std(s))}
                rows.append(f"| {weights} | {kind} | {shots} | {np.mean(s):.3f} | {np.std(s):.3f} |")
    print(f"\n{len(labels)} labels, chance {1 / len(labels):.3f}; accuracy over test recordings, {args.draws} draws\n")
    print("| weights | head | recordings per label | accuracy | spread (std) |\n|---|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
