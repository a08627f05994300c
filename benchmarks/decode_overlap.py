"""Do the audio decode and the frame decode of a predict overlap on two threads?

    python benchmarks/decode_overlap.py CLIP.mp4 [--repeats 15]

Times (median, warm-up first) the edge preset's frame work (3 keyframes at 128 px, as `predict`
samples them) and the audio track's demux + decode, alone, one after the other, and on two
threads; then each beside a C job that releases the GIL (matrix products) and beside a pure-Python
loop. "ideal" is the longer of the two alone: what two cores could reach.
"""
from __future__ import annotations

import argparse
import os
import threading

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")   # the C job on one core, as each decoder is
import numpy as np  # noqa: E402

from avsc_edge.bench.timing import median_time  # noqa: E402

EDGE_FRAME_TIMES = (10 / 6, 5.0, 50 / 6)   # 3 frames per 10-s window, at the centres of its thirds


def frame_work(path: str) -> np.ndarray:
    from avsc_edge.media.video import FrameSampler

    with FrameSampler(path, 128, "keyframe") as sampler:
        return sampler.sample(EDGE_FRAME_TIMES)[0]


def audio_work(path: str) -> None:
    import av

    with av.open(path) as container:
        stream = container.streams.audio[0]
        stream.thread_type = "NONE"
        for packet in container.demux(stream):
            packet.decode()


MATRIX = np.random.default_rng(0).random((400, 400))


def c_work() -> None:
    for _ in range(12):
        MATRIX @ MATRIX


def python_work() -> None:
    total = 0
    for i in range(300_000):
        total += i


def median_ms(job, repeats: int) -> float:
    return median_time(job, repeats, warmup=2) * 1e3


def in_a_worker_process(pool, path: str, b):
    """The frames decoded in another process (its own GIL) while ``b`` runs here."""
    def both() -> None:
        frames = pool.submit(frame_work, path)
        b()
        frames.result()
    return both


def on_two_threads(a, b):
    def both() -> None:
        other = threading.Thread(target=a)
        other.start()
        b()
        other.join()
    return both


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", help="a video file with an audio track (e.g. synth --profile tau)")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    frames, audio = (lambda: frame_work(args.clip)), (lambda: audio_work(args.clip))
    alone = {name: median_ms(job, args.repeats) for name, job in
             (("frames", frames), ("audio", audio), ("C job", c_work), ("Python loop", python_work))}
    print("alone: " + ", ".join(f"{k} {v:.1f} ms" for k, v in alone.items()))
    for a, b in (("frames", "audio"), ("frames", "C job"), ("audio", "C job"), ("frames", "Python loop")):
        jobs = {"frames": frames, "audio": audio, "C job": c_work, "Python loop": python_work}
        serial = alone[a] + alone[b]
        ideal = max(alone[a], alone[b])
        threaded = median_ms(on_two_threads(jobs[a], jobs[b]), args.repeats)
        print(f"{a} + {b}: one after the other {serial:.1f} ms, two threads {threaded:.1f} ms, ideal {ideal:.1f} ms "
              f"(overlap {max(0.0, serial - threaded) / max(1e-9, serial - ideal):.0%} of what two cores allow)")
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(frame_work, args.clip).result()   # started and warm, as a long-lived worker would be
        worker = median_ms(in_a_worker_process(pool, args.clip, audio), args.repeats)
    serial, ideal = alone["frames"] + alone["audio"], max(alone["frames"], alone["audio"])
    print(f"frames in a worker process + audio here: {worker:.1f} ms (one after the other {serial:.1f}, ideal {ideal:.1f}; "
          f"overlap {max(0.0, serial - worker) / max(1e-9, serial - ideal):.0%}; the frames come back pickled)")


if __name__ == "__main__":
    main()
