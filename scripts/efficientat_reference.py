"""EfficientAT's own tags of real recordings, for the parity test (tests/test_genuine_taggers.py).

    python scripts/efficientat_reference.py --efficientat EFFICIENTAT_REPO --weights mn04_as_mAP_432.pt \\
        --out tests/data/efficientat_reference.json FILE [FILE ...]

Runs EfficientAT's code from a checkout of its repository (``models.mn.model.get_model``,
``models.preprocess.AugmentMelSTFT`` in eval mode, the steps of its ``inference.py``: the whole
clip at 32 kHz, one forward, sigmoid) with the published ``mn04_as`` weights, and stores the 527
probabilities per file with the file's sha256 and the EfficientAT commit. Audio is loaded as
``inference.py`` loads it (``librosa.load(path, sr=32000, mono=True)``); a container librosa has no
backend for (WebM) is decoded with PyAV and downmixed and resampled with librosa as ``load`` would.

Needs what EfficientAT needs (torch, torchaudio, torchvision, librosa) in its own environment;
nothing of EfficientAT's is copied into this project.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def load(path: Path, sr: int = 32000) -> np.ndarray:
    import librosa

    try:
        return librosa.load(str(path), sr=sr, mono=True)[0]
    except Exception:   # noqa: BLE001 -- librosa's audioread fallback raises its own NoBackendError
        import av

        with av.open(str(path)) as c:
            stream = c.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout=None)
            parts = [f.to_ndarray().reshape(-1, stream.channels).T for frame in c.decode(stream)
                     for f in resampler.resample(frame)]
            rate = stream.rate
        return librosa.resample(librosa.to_mono(np.concatenate(parts, axis=1)), orig_sr=rate, target_sr=sr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--efficientat", type=Path, required=True, help="a checkout of fschmid56/EfficientAT")
    ap.add_argument("--weights", type=Path, required=True, help="mn04_as_mAP_432.pt")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    files, out_path, weights = [p.resolve() for p in args.files], args.out.resolve(), args.weights.resolve()
    os.chdir(args.efficientat)     # its helpers read metadata/class_labels_indices.csv from the working folder
    sys.path.insert(0, str(args.efficientat.resolve()))
    import torch
    from models.mn.model import get_model
    from models.preprocess import AugmentMelSTFT

    model = get_model(width_mult=0.4, pretrained_name=None, head_type="mlp")
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    mel = AugmentMelSTFT(n_mels=128, sr=32000, win_length=800, hopsize=320).eval()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = {"efficientat_commit": commit, "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
           "files": {}}
    for path in files:
        waveform = torch.from_numpy(load(path)[None])
        with torch.no_grad():
            logits, _ = model(mel(waveform).unsqueeze(0))
        probs = torch.sigmoid(logits.float()).squeeze().numpy()
        out["files"][path.name] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                   "samples": int(waveform.shape[-1]),
                                   "probabilities": [float(f"{p:.7g}") for p in probs]}
        top = np.argsort(-probs)[:3]
        print(path.name, [(int(i), round(float(probs[i]), 3)) for i in top])
    out_path.write_text(json.dumps(out, indent=0) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
