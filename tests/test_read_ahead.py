"""The read-ahead thread that decodes a file stream's next events while the model runs: the same
items in order, bounded, errors raised where they happened, and a consumer that stops early stops
(and closes) the producer."""
import os
import signal
import threading
import time
from contextlib import contextmanager

import pytest

from avsc_edge.errors import MediaError
from avsc_edge.read_ahead import read_ahead


def test_items_arrive_in_order_from_another_thread():
    seen_on = set()

    def items():
        for i in range(500):
            seen_on.add(threading.current_thread().name)
            yield i

    assert list(read_ahead(items(), depth=7, name="producer")) == list(range(500))
    assert seen_on == {"producer"}


def test_the_producer_runs_at_most_depth_ahead():
    made = []

    def items():
        for i in range(100):
            made.append(i)
            yield i

    it = read_ahead(items(), depth=4)
    assert next(it) == 0
    time.sleep(0.3)
    assert len(made) <= 1 + 4 + 1     # the one taken, a full queue, one waiting to be put
    it.close()


def test_an_error_comes_after_the_items_before_it_with_its_type():
    def items():
        yield 1
        yield 2
        raise MediaError("truncated at 3")

    got = []
    with pytest.raises(MediaError, match="truncated at 3"):
        for x in read_ahead(items(), depth=1):
            got.append(x)
    assert got == [1, 2]


def test_leaving_early_closes_the_source_on_its_thread_and_ends_the_worker():
    closed_on = []

    def items():
        try:
            for i in range(10**9):
                yield i
        finally:
            closed_on.append(threading.current_thread().name)

    before = {t.name for t in threading.enumerate()}
    for x in read_ahead(items(), depth=3, name="early-stop"):
        if x == 5:
            break
    assert closed_on == ["early-stop"]
    assert "early-stop" not in {t.name for t in threading.enumerate()} - before


class Interrupted(Exception):
    pass


@contextmanager
def interrupt_inside_start_of(prefix: str):
    """A real SIGINT sent while the main thread is inside ``Thread.start`` of a thread named
    ``prefix...`` (just after it began): unless held back, it is raised there, before the caller can
    note the thread to join."""
    def on_interrupt(signum, frame):
        raise Interrupted

    original = threading.Thread.start

    def start_then_interrupt(self):
        original(self)
        if self.name.startswith(prefix) and threading.current_thread() is threading.main_thread():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    threading.Thread.start = start_then_interrupt
    try:
        yield
    finally:
        threading.Thread.start = original
        signal.signal(signal.SIGINT, previous)


def _alive(prefix: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()]


def test_an_interrupt_while_the_worker_starts_still_stops_and_joins_it():
    def endless():
        i = 0
        while True:
            time.sleep(0.01)
            yield i
            i += 1

    with interrupt_inside_start_of("started-then-interrupted"), pytest.raises(Interrupted):
        for _ in read_ahead(endless(), depth=2, name="started-then-interrupted"):
            pass
    assert _alive("started-then-interrupted") == []


def test_an_interrupt_while_a_decoder_starts_leaves_no_decoder_running(tiny_checkpoint, tiny_dataset):
    """The CLI's Ctrl-C/SIGTERM during `predict`: a decoder thread still in native code when the
    interpreter exits aborts the process, so every one started must be joined."""
    from avsc_edge import Classifier

    clf = Classifier(tiny_checkpoint)
    with interrupt_inside_start_of("avsc-decode"), pytest.raises(Interrupted):
        for _ in clf.predict_many(tiny_dataset / "video", workers=1):
            pass
    assert _alive("avsc-decode") == []


def test_a_file_stream_gives_the_same_predictions_read_ahead_or_not(enc_clip):
    from avsc_edge.stream import StreamConfig

    clf, clip = enc_clip
    ahead = list(clf.stream(clip, config=StreamConfig(hop=0.5)))
    serial = list(clf.stream(clip, config=StreamConfig(hop=0.5, read_ahead=0)))
    assert len(ahead) == len(serial) >= 3
    assert [p.timestamp for p in ahead] == [p.timestamp for p in serial]
    assert all(a.scores == s.scores and a.modalities == s.modalities for a, s in zip(ahead, serial))


def test_read_ahead_is_checked():
    from avsc_edge.errors import ConfigError
    from avsc_edge.stream import StreamConfig

    with pytest.raises(ConfigError, match="read_ahead"):
        StreamConfig(read_ahead=-1)


@pytest.fixture
def enc_clip(tiny_checkpoint, tmp_path):
    import numpy as np

    from avsc_edge import Classifier
    from avsc_edge.data.synth import write_av

    rng = np.random.default_rng(5)
    frames = rng.integers(0, 255, (40, 48, 64, 3), dtype=np.uint8)
    audio = (rng.standard_normal((2, 48000 * 4)) * 0.1).astype(np.float32)
    path = tmp_path / "clip.mp4"
    write_av(path, frames, 10.0, audio, 48000)
    return Classifier(tiny_checkpoint), path
