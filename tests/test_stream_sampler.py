"""Frames no window will use are dropped before they are copied or scaled (stream.sampler): the
frame nearest each grid point is always kept, and the predictions are those of keeping every frame."""
import time

import numpy as np
import pytest

from avsc_edge.stream.sampler import RATE_KNOWN_AFTER, FrameSampler

torch = pytest.importorskip("torch")

from avsc_edge import Classifier  # noqa: E402
from avsc_edge.stream import StreamClassifier, StreamConfig, StreamState  # noqa: E402

SR = 16000


def arrivals(rng, seconds: float, fps: float, jitter: float = 0.15, drop: float = 0.0) -> np.ndarray:
    gaps = (1 + rng.uniform(-jitter, jitter, int(seconds * fps * 1.2))) / fps
    t = 0.37 + np.cumsum(gaps)
    t = t[t < seconds]
    return t[rng.random(len(t)) >= drop]


@pytest.mark.parametrize("fps,seg", [(30.0, 10 / 3), (10.0, 1.25), (24.0, 0.5), (4.0, 10 / 3)])
def test_the_frame_nearest_each_grid_point_is_kept(fps, seg, rng):
    times = arrivals(rng, 60.0, fps)
    origin = 0.2
    sampler = FrameSampler(seg)
    kept = np.array([t for t in times if sampler.wants(float(t), origin)])
    grid = origin + (np.arange(int(60 / seg)) + 0.5) * seg
    grid = grid[(grid > times[0]) & (grid < times[-1])]
    for g in grid:
        assert times[np.abs(times - g).argmin()] in kept
    if seg > 4 / fps:
        assert len(kept) <= 3 * len(grid) + 3     # about two per grid point


def test_a_lost_frame_near_a_grid_point_keeps_the_next_one(rng):
    times = arrivals(rng, 30.0, 30.0, jitter=0.0)
    seg = 10 / 3
    grid = (np.arange(9) + 0.5) * seg
    near = np.abs(times[:, None] - grid[None]).min(axis=1) < 0.1      # a camera stalls around each grid point
    sampler = FrameSampler(seg)
    kept = np.array([t for t in times[~near] if sampler.wants(float(t), 0.0)])
    for g in grid[(grid > times[0]) & (grid < times[-1])]:
        after = kept[kept >= g]
        assert len(after) and after[0] - g < 0.15


def test_a_long_interval_after_short_ones_keeps_the_nearest_frame():
    """A jittery camera: 0.1-s intervals, then 0.085-s ones, then a 0.115-s interval around the grid
    point at 2.5 s. The frame 0.057 s before it is the nearest and must be kept (a smoothed mean of
    the intervals, 0.089 s, kept only frames within 0.053 s)."""
    before = 2.5 - 0.057
    times = [before - 0.51 - 0.1 * j for j in range(5, 0, -1)] + [before - 0.085 * k for k in range(6, 0, -1)]
    times += [before, 2.5 + 0.058, 2.5 + 0.058 + 0.1]
    sampler = FrameSampler(1.0)
    kept = [t for t in times if sampler.wants(t, 0.0)]
    assert before in kept


def test_unknown_origin_or_rate_keeps_everything():
    sampler = FrameSampler(1.0)
    assert sampler.wants(0.0, None) and sampler.wants(0.1, None)      # no origin yet
    assert FrameSampler(1.0).wants(0.3, 0.0)                          # first frame: no rate yet
    sampler = FrameSampler(1.0)
    assert all(sampler.wants(i / 100, 0.0) for i in range(RATE_KNOWN_AFTER))   # rate not known yet
    assert not sampler.wants(RATE_KNOWN_AFTER / 100, 0.0)             # 0.46 s before the grid point at 0.5
    assert sampler.wants(0.01, 0.0)                                   # out of order


def _feed(state, audio, frames, fps):
    preds, pos, fi, chunk = [], 0, 0, 1600
    while pos < len(audio):
        preds += state.add_audio(audio[pos:pos + chunk], pos / SR)
        pos += chunk
        while fi < len(frames) and fi / fps <= pos / SR:
            preds += state.add_frame(frames[fi], fi / fps)
            fi += 1
    return preds + state.finish()


class _KeepAll(FrameSampler):
    def wants(self, t, origin):
        return True


def test_thinned_stream_predicts_as_keeping_every_frame(tiny_checkpoint, rng):
    clf = Classifier(tiny_checkpoint)
    fps, seconds = 30.0, 8.0
    audio = (rng.standard_normal(int(SR * seconds)) * 0.1).astype(np.float32)
    frames = rng.integers(0, 255, (int(seconds * fps), 72, 96, 3), dtype=np.uint8)
    thinned = StreamState(clf, SR, StreamConfig(hop=0.5))
    a = _feed(thinned, audio, frames, fps)
    every = StreamState(clf, SR, StreamConfig(hop=0.5))
    every.sampler = _KeepAll(1.0)
    b = _feed(every, audio, frames, fps)
    assert len(a) == len(b) >= 10
    for p, q in zip(a, b):
        assert p.timestamp == q.timestamp and p.modalities == q.modalities == ("audio", "visual")
        assert p.scores == q.scores
    assert thinned.stats["frames_skipped"] > 0.5 * len(frames)
    assert thinned.stats["frames_embedded"] == every.stats["frames_embedded"] < 0.5 * len(frames)

    pushed = StreamClassifier(clf, sample_rate=SR, hop=0.5)
    for i in range(int(seconds * 10)):
        while pushed.pending > 64:     # 320 inputs would overflow the queue (256) if the worker fell behind
            time.sleep(0.001)
        pushed.push_audio(audio[i * 1600:(i + 1) * 1600], i * 0.1)
        for k in range(3):
            pushed.push_frame(frames[3 * i + k], (3 * i + k) / fps)
    assert 0 <= pushed.pending <= 4 * int(seconds * 10)
    pushed.close()
    assert pushed.pending == 0
    c = list(pushed)
    assert [p.timestamp for p in c] == [p.timestamp for p in a]
    # a dropped input moves scores by ~1e-2; with none dropped the scores were equal in every run seen
    assert pushed.stats["dropped_inputs"] == 0
    assert all(abs(p.scores[k] - q.scores[k]) < 1e-6 for p, q in zip(c, a) for k in p.scores)
    assert pushed.stats["frames_skipped"] > 0.5 * len(frames) and pushed.error is None
