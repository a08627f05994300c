"""A plain Python producer feeding the push API from two threads (audio and camera), as a robot's
drivers would, and a consumer printing predictions. Run: python examples/push_producer.py MODEL
(MODEL: a .safetensors checkpoint or an .onnx from `avsc-edge export`, which writes the split graphs
the stream runs beside it). Synthetic input."""
from __future__ import annotations

import sys
import threading
import time

import numpy as np

from avsc_edge.stream import StreamClassifier


def main(model: str, seconds: float = 6.0, sr: int = 16000, fps: float = 10.0, speed: float = 20.0) -> int:
    """Producers are paced like live drivers, ``speed`` times faster than real time."""
    rng = np.random.default_rng(0)
    predictions = []
    with StreamClassifier(model, sample_rate=sr, hop=0.5) as sc:
        def microphone():
            chunk = sr // 10
            for i in range(int(seconds * 10)):
                sc.push_audio((rng.standard_normal(chunk) * 0.1).astype(np.float32), timestamp=i * chunk / sr)
                time.sleep(chunk / sr / speed)

        def camera():
            for i in range(int(seconds * fps)):
                sc.push_frame(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), timestamp=i / fps)
                time.sleep(1 / fps / speed)

        producers = [threading.Thread(target=microphone), threading.Thread(target=camera)]
        for t in producers:
            t.start()
        for t in producers:
            t.join()
        sc.close()
        for p in sc:
            predictions.append(p)
            print(f"{p.timestamp:5.2f}s {p.label:<18} {p.confidence:.2f} {'+'.join(p.modalities)}")
        print("stats:", sc.stats)
    return 0 if predictions else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
