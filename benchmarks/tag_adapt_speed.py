"""Wall time of ``avsc-edge tag`` and ``avsc-edge adapt`` as a user runs them (a fresh process, start-up
included) against the same work through PyTorch (the genuine taggers as torch modules, the same
input path and heads), in one run, medians over repeats.

    python benchmarks/tag_adapt_speed.py [--sdk-python VENV/bin/python] [--repeats 5] [--json out.json]

``--sdk-python``: the interpreter of a venv where the built wheel is installed without torch (the
point of the measurement); default: this interpreter with torch made unimportable. The PyTorch rows
run in this interpreter (it needs torch). Work:

* tag: one 6-s recording (``avsc_edge/samples/animals/dog.mp3``);
* adapt: 10 labels x 5 recordings of 10 s (48 kHz stereo WAV, made from the real animal
  recordings the package ships, each tiled to 10 s from another offset), through to the fitted
  heads and their leave-one-recording-out check.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NO_TORCH = "import sys; sys.modules['torch'] = None; "


def wall(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=tempfile.gettempdir())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def recordings(folder: Path, labels: int = 10, per_label: int = 5, seconds: float = 10.0, sr: int = 48000) -> Path:
    from avsc_edge.data.synth import write_wav
    from avsc_edge.media import load_audio
    from avsc_edge.tagging.bundle import SAMPLES

    sources = sorted((SAMPLES / "animals").glob("*.mp3"))[:labels]
    for src in sources:
        x = load_audio(src, sr)[0]
        (folder / src.stem).mkdir(parents=True, exist_ok=True)
        for i in range(per_label):
            tiled = np.roll(np.tile(x, int(np.ceil(seconds * sr / x.size)) + 1), -i * x.size // per_label)
            write_wav(folder / src.stem / f"{i}.wav", np.stack([tiled[:int(seconds * sr)]] * 2) * 0.9, sr)
    return folder


TORCH_TAG = """
import sys, numpy as np, torch
from avsc_edge.config import ModelConfig
from avsc_edge.media import load_audio
from avsc_edge.model.genuine import GenuineTaggers
from avsc_edge.model.taggers import load_audio_tagger
from avsc_edge.preprocess.audio_features import log_mel
from avsc_edge.tagging.bundle import edge_weights, genuine_configs
torch.set_num_threads(2)
t = GenuineTaggers().eval()
t.audio.load_state_dict(load_audio_tagger(edge_weights()[0], ModelConfig(audio_backbone="mn", audio_width=0.4), 128).state_dict())
features, _ = genuine_configs()
mel = torch.from_numpy(log_mel(load_audio(sys.argv[1], features.sr)[0], features)[None, None])
with torch.no_grad():
    p = torch.sigmoid(t.audio_tagger(mel)[0])[0].numpy()
print(np.argsort(-p)[:5])
"""

TORCH_ADAPT = """
import sys, numpy as np, torch
from pathlib import Path
from avsc_edge.config import ModelConfig
from avsc_edge.model.genuine import GenuineTaggers
from avsc_edge.model.taggers import load_audio_tagger
from avsc_edge.preprocess.windows import Recording
from avsc_edge.tagging.bundle import edge_weights, genuine_configs
from avsc_edge.tagging.fewshot import Support, leave_one_recording_out, fit_heads
torch.set_num_threads(2)
t = GenuineTaggers().eval()
t.audio.load_state_dict(load_audio_tagger(edge_weights()[0], ModelConfig(audio_backbone="mn", audio_width=0.4), 128).state_dict())
features, clip = genuine_configs()
root = Path(sys.argv[1])
labels = sorted(p.name for p in root.iterdir())
recs, rl, wr, audio = [], [], [], []
for k, label in enumerate(labels):
    for f in sorted((root / label).iterdir()):
        for w in Recording.from_files(f, f, features, clip, threads=1).windows():
            with torch.no_grad():
                audio.append(t.audio_slots(t.audio_tokens(torch.from_numpy(w.log_mel[None])))[0][0, 0].numpy())
            wr.append(len(recs))
        recs.append(str(f)); rl.append(k)
a = np.array(audio, np.float32)
s = Support(labels, recs, np.array(rl), np.array(wr), a, np.full((len(a), 256), np.nan, np.float32))
e = {k: leave_one_recording_out(k, s) for k in ("centroid", "logistic")}
fit_heads("centroid", s, np.arange(len(a)))
print({k: v.accuracy for k, v in e.items()})
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sdk-python", default=sys.executable)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from avsc_edge.tagging.bundle import SAMPLES

    clip = str(SAMPLES / "animals" / "dog.mp3")
    sdk = lambda *cli: [args.sdk_python, "-c", NO_TORCH + f"from avsc_edge.cli import main; sys.exit(main({list(cli)!r}))"]  # noqa: E731
    rows = {}
    rows["tag, SDK (ONNX Runtime, no torch)"] = wall(sdk("tag", clip), args.repeats)
    rows["tag, PyTorch"] = wall([sys.executable, "-c", TORCH_TAG, clip], args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        data = recordings(Path(tmp) / "recordings")
        rows["adapt 10 x 5 x 10 s, SDK (ONNX Runtime, no torch)"] = wall(
            sdk("adapt", str(data), "--out", str(Path(tmp) / "m.onnx")), max(1, args.repeats // 2))
        rows["adapt 10 x 5 x 10 s, PyTorch"] = wall([sys.executable, "-c", TORCH_ADAPT, str(data)],
                                                    max(1, args.repeats // 2))
    print("| work | wall s (median, start-up included) |\n|---|---|")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds:.2f} |")
    names = list(rows)
    print(f"\ntag: SDK {rows[names[0]]:.2f} s vs PyTorch {rows[names[1]]:.2f} s ({rows[names[1]] / rows[names[0]]:.1f}x); "
          f"adapt: SDK {rows[names[2]]:.2f} s vs PyTorch {rows[names[3]]:.2f} s ({rows[names[3]] / rows[names[2]]:.1f}x)")
    if args.json:
        args.json.write_text(json.dumps({"sdk_python": args.sdk_python, "wall_s": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
