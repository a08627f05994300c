"""Streaming: incremental == from scratch == the full model on the same window, the push API from
several threads, modality drop-out and recovery, late chunks and clock jumps, a 10-minute soak."""
import resource
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from avsc_edge import Classifier  # noqa: E402
from avsc_edge.errors import InputError  # noqa: E402
from avsc_edge.features import log_mel, preprocess_frames  # noqa: E402
from avsc_edge.stream import StreamClassifier, StreamConfig, StreamState  # noqa: E402
from avsc_edge.stream.encoders import open_encoders  # noqa: E402

SR, FPS = 16000, 10.0


@pytest.fixture(scope="module")
def enc(tiny_checkpoint):
    return open_encoders(tiny_checkpoint)


def synthetic(seconds, rng):
    audio = (rng.standard_normal(int(SR * seconds)) * 0.1).astype(np.float32)
    frames = rng.integers(0, 255, (int(seconds * FPS), 48, 64, 3), dtype=np.uint8)
    return audio, frames


def feed(state, audio, frames, rng, audio_ok=lambda t: True, video_ok=lambda t: True):
    preds, pos, fi = [], 0, 0
    while pos < len(audio):
        n = int(rng.integers(50, 4000))
        if audio_ok(pos / SR):
            preds += state.add_audio(audio[pos:pos + n], pos / SR)
        pos += n
        while fi < len(frames) and fi / FPS <= pos / SR:
            if video_ok(fi / FPS):
                preds += state.add_frame(frames[fi], fi / FPS)
            fi += 1
    return preds


def test_incremental_equals_from_scratch_and_the_model(enc, rng):
    audio, frames = synthetic(7.0, rng)
    inc = feed(StreamState(enc, SR, StreamConfig(hop=0.5)), audio, frames, np.random.default_rng(3))
    scratch_state = StreamState(enc, SR, StreamConfig(hop=0.5, incremental=False))
    scratch = feed(scratch_state, audio, frames, np.random.default_rng(4))
    assert len(inc) == len(scratch) == 11  # window ends 1.5, 2.0, ... 6.5 s
    for a, b in zip(inc, scratch):
        assert a.timestamp == b.timestamp and a.modalities == b.modalities == ("audio", "visual")
        assert max(abs(a.scores[k] - b.scores[k]) for k in a.scores) < 1e-5
    # the whole model, from scratch, on the same window (stream log-mel frames, grid frames)
    f, clip = enc.info.feature_config, enc.info.clip_config
    full = log_mel(audio, f)
    T = f.num_frames(int(clip.seconds * f.sr))
    for p in inc[::3]:
        e = int(np.floor(p.timestamp * f.sr / f.hop_length + 1e-9))
        mel = full[:, e - T + 1:e + 1][None, None]
        grid = scratch_state.frame_grid(p.timestamp)
        picked = frames[np.rint(grid * FPS).astype(int)]
        with torch.no_grad():
            out = enc.model(torch.from_numpy(mel), torch.from_numpy(preprocess_frames(picked, clip)[None]))
        probs = torch.softmax(out.scene_logits, -1)[0].numpy()
        assert np.abs(probs - np.array(list(p.scores.values()))).max() < 1e-4


def test_incremental_reuses_frame_embeddings(enc, rng):
    audio, frames = synthetic(6.0, rng)
    a, b = StreamState(enc, SR, StreamConfig(hop=0.375)), StreamState(enc, SR, StreamConfig(hop=0.375, incremental=False))
    feed(a, audio, frames, rng)
    feed(b, audio, frames, rng)
    assert a.stats["predictions"] == b.stats["predictions"] > 5
    assert a.stats["frames_embedded"] < b.stats["frames_embedded"] / 2


def test_modality_dropout_and_recovery(enc, rng):
    audio, frames = synthetic(16.0, rng)
    preds = feed(StreamState(enc, SR, StreamConfig(hop=0.5, stall=1.0)), audio, frames, rng,
                 audio_ok=lambda t: not 9.0 <= t < 13.0, video_ok=lambda t: not 3.0 <= t < 7.0)
    by_time = {round(p.timestamp, 2): p for p in preds}
    assert by_time[2.5].modalities == ("audio", "visual")
    assert by_time[5.5].modalities == ("audio",) and "visual missing or stalled" in by_time[5.5].notes
    assert by_time[8.5].modalities == ("audio", "visual")
    assert by_time[11.5].modalities == ("visual",) and "audio missing or stalled" in by_time[11.5].notes
    assert by_time[15.5].modalities == ("audio", "visual")
    times = [p.timestamp for p in preds]
    assert times == sorted(set(times))  # no duplicates, in order


def test_late_chunks_gaps_and_clock_jumps(enc, rng):
    st = StreamState(enc, SR, StreamConfig(hop=0.5, audio_gap=0.3))
    chunk = (rng.standard_normal(1600) * 0.1).astype(np.float32)
    for i in range(20):
        st.add_audio(chunk, i * 0.1)
    assert st.add_audio(chunk, 0.5) == [] and st.stats["late_audio_chunks"] == 1   # from the past
    st.add_audio(chunk, 2.0 - 0.01)                                                # within jitter: contiguous
    st.add_audio(chunk, 2.1 + 0.015)
    assert st.stats["late_audio_chunks"] == 1 and st.stats["audio_gaps_filled"] == 0
    st.add_audio(chunk, 2.4)                                                       # 0.2-s gap: filled
    assert st.stats["audio_gaps_filled"] == 1
    st.add_audio(chunk, 60.0)                                                      # clock jump: restart
    assert st.stats["audio_restarts"] == 1
    with pytest.raises(InputError):
        st.add_audio(np.full(100, np.nan, np.float32), 61.0)
    with pytest.raises(InputError):
        st.add_frame(np.zeros((4, 4), np.uint8), 61.0)


def test_resampled_input_and_smoothing(enc, rng):
    audio = (rng.standard_normal(48000 * 4) * 0.1).astype(np.float32)
    frames = rng.integers(0, 255, (40, 48, 64, 3), dtype=np.uint8)
    st = StreamState(enc, 48000, StreamConfig(hop=0.5, smoothing=0.8))
    preds = []
    for i in range(40):
        preds += st.add_audio(audio[i * 4800:(i + 1) * 4800], i * 0.1)
        preds += st.add_frame(frames[i], i * 0.1)
    assert len(preds) >= 4 and all(abs(sum(p.scores.values()) - 1) < 1e-6 for p in preds)
    assert np.std([p.confidence for p in preds]) < 0.2


def test_push_api_from_several_threads(tiny_checkpoint, rng):
    audio, frames = synthetic(8.0, rng)
    received = []
    sc = StreamClassifier(tiny_checkpoint, sample_rate=SR, hop=0.5, on_prediction=received.append)

    def mic():
        for i in range(80):
            sc.push_audio(audio[i * 1600:(i + 1) * 1600], i * 0.1)

    def cam(offset):
        for i in range(offset, len(frames), 2):  # two camera threads interleave frames
            sc.push_frame(frames[i], i / FPS)

    threads = [threading.Thread(target=mic), threading.Thread(target=cam, args=(0,)),
               threading.Thread(target=cam, args=(1,))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sc.close()
    preds = list(sc)
    assert [p.timestamp for p in preds] == [p.timestamp for p in received]
    times = [p.timestamp for p in preds]
    assert times == sorted(set(times)) and len(times) >= 12
    assert sc.stats["dropped_inputs"] == 0 and sc.error is None
    with pytest.raises(InputError, match="closed"):
        sc.push_audio(audio[:100], 100.0)


def test_slow_consumer_drops_oldest_and_counts(tiny_checkpoint, rng):
    audio, _ = synthetic(12.0, rng)
    sc = StreamClassifier(tiny_checkpoint, sample_rate=SR, hop=0.25, max_predictions=3)
    for i in range(120):
        sc.push_audio(audio[i * 1600:(i + 1) * 1600], i * 0.1)
    sc.close()
    preds = list(sc)
    assert len(preds) == 3 and sc.stats["dropped_predictions"] > 0
    assert len(preds) + sc.stats["dropped_predictions"] == sc.stats["predictions"]


@pytest.mark.slow
def test_soak_ten_minutes_bounded_memory(enc):
    """10 minutes of synthetic audio-video as fast as possible: every prediction once, memory flat."""
    rng = np.random.default_rng(0)
    st = StreamState(enc, SR, StreamConfig(hop=1.0))
    chunk_s, seconds = 0.25, 600
    frames = rng.integers(0, 255, (8, 48, 64, 3), dtype=np.uint8)
    times, rss = [], []
    for i in range(int(seconds / chunk_s)):
        t = i * chunk_s
        for p in st.add_audio((rng.standard_normal(int(SR * chunk_s)) * 0.1).astype(np.float32), t):
            times.append(p.timestamp)
        for j in range(int(chunk_s * FPS)):
            for p in st.add_frame(frames[(i + j) % 8], t + j / FPS):
                times.append(p.timestamp)
        if i % 400 == 0:
            rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    expected = np.arange(1.5, seconds - 0.05, 1.0)
    assert len(times) == len(expected) and np.allclose(times, expected)
    growth_mb = (rss[-1] - rss[1]) / 1024
    print(f"soak: {len(times)} predictions, peak RSS {rss[1] / 1024:.0f} -> {rss[-1] / 1024:.0f} MB")
    assert growth_mb < 20, f"peak RSS grew by {growth_mb:.1f} MB over the soak"
    assert len(st.frames) < 64 and len(st.embeddings) < 64


def test_classifier_stream_over_a_file_torch_and_onnx(tiny_checkpoint, tiny_dataset, tmp_path):
    from avsc_edge.data.synth import write_av
    from avsc_edge.export.pipeline import run_recipe
    from avsc_edge.export.recipes import load_recipe
    from avsc_edge.export.split import export_split

    rng = np.random.default_rng(5)
    path = tmp_path / "long.mp4"
    write_av(path, rng.integers(0, 255, (40, 48, 64, 3), dtype=np.uint8), 5.0,
             (rng.standard_normal((2, 48000 * 8)) * 0.1).astype(np.float32), 48000)
    torch_preds = list(Classifier(tiny_checkpoint).stream(path, hop=1.0))
    onnx_path = tmp_path / "m.onnx"
    run_recipe(tiny_checkpoint, load_recipe("cpu-fp32"), onnx_path)
    export_split(tiny_checkpoint, onnx_path)
    onnx_preds = list(Classifier(onnx_path).stream(path, hop=1.0))
    assert len(torch_preds) == len(onnx_preds) >= 6
    for a, b in zip(torch_preds, onnx_preds):
        assert a.label == b.label and max(abs(a.scores[k] - b.scores[k]) for k in a.scores) < 1e-4


def test_stream_without_split_graphs_is_a_clear_error(tiny_checkpoint, tmp_path):
    from avsc_edge.errors import ArtifactError
    from avsc_edge.export.pipeline import run_recipe
    from avsc_edge.export.recipes import load_recipe

    run_recipe(tiny_checkpoint, load_recipe("cpu-fp32"), tmp_path / "m.onnx")
    with pytest.raises(ArtifactError, match="--split"):
        next(iter(Classifier(tmp_path / "m.onnx").stream(tmp_path / "whatever.mp4")))


def test_example_producer_runs(tiny_checkpoint):
    script = Path(__file__).parent.parent / "examples" / "push_producer.py"
    out = subprocess.run([sys.executable, str(script), str(tiny_checkpoint)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "stats:" in out.stdout and "audio+visual" in out.stdout


def test_missing_devices_are_clear_errors(tiny_checkpoint):
    from avsc_edge.errors import MediaError

    clf = Classifier(tiny_checkpoint)
    with pytest.raises(MediaError, match="camera 97"):
        next(iter(clf.stream(97)))
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError):
        with pytest.raises(MediaError, match="sounddevice"):
            next(iter(clf.stream(None, microphone=True)))


def test_network_stream_reopens_with_backoff(tmp_path):
    """A loopback HTTP server refuses the first request (503); the source backs off, re-opens and
    streams the MPEG-TS it serves. Only 127.0.0.1 is contacted."""
    import functools
    import http.server

    from avsc_edge.data.synth import write_av
    from avsc_edge.errors import MediaError
    from avsc_edge.stream.sources import is_live, reconnecting_events

    rng = np.random.default_rng(0)
    write_av(tmp_path / "s.ts", rng.integers(0, 255, (20, 48, 64, 3), dtype=np.uint8), 5.0,
             (rng.standard_normal((2, 48000 * 4)) * 0.1).astype(np.float32), 48000)
    calls = []

    class Flaky(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            calls.append(self.path)
            if len(calls) == 1:
                self.send_error(503, "warming up")
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Flaky, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        events = list(reconnecting_events(f"{base}/s.ts", 16000, 4.0, False, retries=3, backoff=0.05))
        assert len(calls) == 2
        assert sum(e[0] == "audio" for e in events) > 50 and sum(e[0] == "frame" for e in events) >= 8
        times = [t for k, _, t in events if k == "audio"]
        assert times == sorted(times)
        with pytest.raises(MediaError, match="cannot open"):
            list(reconnecting_events(f"{base}/missing.ts", 16000, 4.0, False, retries=1, backoff=0.01))
    finally:
        server.shutdown()
    assert is_live("rtsp://cam/1") and is_live("udp://0.0.0.0:5000") and not is_live(f"{base}/s.ts")
