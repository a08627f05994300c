"""GStreamer sources with real components started here: test-source pipelines, decodebin of the
test clips, a real RTSP server (gst-rtsp-server, scripts/rtsp_server.py) killed and restarted, a
local HTTP server killed midway; and Jetson element selection with a registry stand-in.

Locally these skip without GStreamer's Python bindings (the reason names what to install); in CI
(``CI`` set) a missing GStreamer is a failure."""
from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from avsc_edge import Classifier
from avsc_edge.config import ClipConfig
from avsc_edge.data import TauDataset
from avsc_edge.errors import DependencyError, InputError, MediaError
from avsc_edge.stream.gst import Elements, GstSpec, choose_elements, describe

import peak_rss
from terminal import ctrl_c_as_in_a_terminal

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "avsc_edge.cli"]


@pytest.fixture(scope="module")
def gst():
    from avsc_edge.stream.gst import load_gst

    try:
        return load_gst()
    except DependencyError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- element selection (no GStreamer needed) -----------------------------------------------------
JETSON = {"nvv4l2decoder", "nvvidconv", "nvarguscamerasrc", "videoscale", "v4l2src"}
DESKTOP = {"videoscale", "v4l2src", "avdec_h264"}


@pytest.mark.parametrize("registry,decoder,expected", [
    (JETSON, "auto", Elements("nvvidconv", True, "nvarguscamerasrc")),
    (JETSON, "nvdec", Elements("nvvidconv", True, "nvarguscamerasrc")),
    (JETSON, "cpu", Elements("videoscale", False, "v4l2src")),
    (DESKTOP, "auto", Elements("videoscale", False, "v4l2src")),
    (DESKTOP, "nvdec", Elements("videoscale", False, "v4l2src")),      # falls back, with a warning
    (JETSON - {"nvarguscamerasrc"}, "auto", Elements("nvvidconv", True, "v4l2src")),
])
def test_jetson_elements_are_used_where_the_registry_has_them(registry, decoder, expected, caplog):
    assert choose_elements(registry.__contains__, decoder) == expected
    assert ("nvdec requested" in caplog.text) == (decoder == "nvdec" and "nvvidconv" not in registry)


def test_the_decoder_choice_follows_the_environment(monkeypatch):
    monkeypatch.setenv("AVSC_EDGE_DECODER", "cpu")
    assert choose_elements(JETSON.__contains__) == Elements("videoscale", False, "v4l2src")


def test_source_strings_parse_to_kinds_never_to_pipeline_text(tmp_path):
    clip = tmp_path / "clip with space & bang!.mp4"
    clip.write_bytes(b"x")
    assert GstSpec.parse(f"gst:{clip}") == GstSpec("uri", "file://" + str(clip).replace(" ", "%20").replace("&", "%26")
                                                  .replace("!", "%21"))
    assert GstSpec.parse("gst:rtsp://cam/1").kind == "uri" and GstSpec.parse("gst:camera:1") == GstSpec("camera", "1")
    assert GstSpec.parse("gst-pipeline:videotestsrc name=video").kind == "pipeline"
    with pytest.raises(MediaError, match="file not found.*gst-pipeline:"):
        GstSpec.parse("gst:videotestsrc ! fakesink")
    for bad in ("gst:camera:abc", "gst:camera:-1", "gst:", "gst-pipeline: ", "gst:gopher://x/y"):
        with pytest.raises(InputError):
            GstSpec.parse(bad)


def test_described_pipelines_get_the_sdk_tails():
    cpu = Elements("videoscale", False, "v4l2src")
    teed = describe("v4l2src ! tee name=t t. ! queue ! fakesink t. ! queue name=video", 16000, cpu)
    assert "video. ! videoscale name=avsc_scaler" in teed and "audio." not in teed
    assert "nvvidconv name=avsc_scaler" in describe("x name=video", 16000, Elements("nvvidconv", True, "v4l2src"))
    assert "rate=16000" in describe("x name=audio", 16000, cpu)


def test_without_gstreamer_a_gst_source_is_one_line(tiny_checkpoint):
    code = ("import sys; sys.modules['gi'] = None; from avsc_edge.cli import main; "
            f"sys.exit(main(['stream', 'gst-pipeline:videotestsrc name=video', '--model', r'{tiny_checkpoint}']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    errors = [line for line in out.stderr.splitlines() if not line.startswith("stream: note:")]
    assert out.returncode == 2 and len(errors) == 1 and errors[0].startswith("avsc-edge stream: error:")
    assert "apt-get install gstreamer1.0-plugins-base" in out.stderr and "avsc-edge[gstreamer]" in out.stderr


def test_cpp_exceptions_after_gstreamer_loaded_do_not_crash(gst):
    """libgstreamer brings libunwind into the global scope; a torch C++ exception thrown after that
    (its first one) used to end the process with a segmentation fault."""
    pytest.importorskip("torch")
    code = ("from avsc_edge.stream.gst import load_gst; load_gst(); import torch\n"
            "try:\n    torch.zeros(2) + torch.zeros(3)\nexcept RuntimeError:\n    print('caught')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "caught", (out.returncode, out.stderr[-500:])


# -- real pipelines --------------------------------------------------------------------------------
def test_test_sources_stream_through_the_classifier(gst, tiny_checkpoint):
    clf = Classifier(tiny_checkpoint)
    pipeline = ("gst-pipeline:videotestsrc num-buffers=90 pattern=ball ! video/x-raw,width=320,height=180,framerate=30/1 "
                "! videoconvert name=video audiotestsrc num-buffers=150 samplesperbuffer=1024 wave=pink-noise ! "
                "audio/x-raw,rate=44100,channels=2 ! audioconvert name=audio")
    preds = list(clf.stream(pipeline, hop=0.5))
    assert len(preds) >= 2 and all(p.modalities == ("audio", "visual") for p in preds[:2])
    assert all(abs(sum(p.scores.values()) - 1) < 1e-6 for p in preds)
    assert np.all(np.diff([p.timestamp for p in preds]) > 0)


@pytest.mark.parametrize("form", ["uri", "decodebin"])
def test_a_file_through_gstreamer_scores_as_predict(gst, tiny_checkpoint, tiny_dataset, form):
    clf = Classifier(tiny_checkpoint)
    clip = TauDataset(tiny_dataset).clips("evaluate")[0].video
    source = (f"gst:{clip}" if form == "uri" else
              f"gst-pipeline:filesrc location={clip} ! decodebin name=d d. ! videoconvert name=video d. ! audioconvert name=audio")
    streamed = list(clf.stream(source, hop=1.5))
    p = clf.predict(clip)
    assert len(streamed) == 1 and streamed[0].modalities == ("audio", "visual")
    # the pipeline scales (videoscale) and resamples (audioresample) where predict uses libswscale
    # and soxr: within today's INT8-vs-FP32 stream tolerance
    assert max(abs(p.scores[k] - streamed[0].scores[k]) for k in p.scores) < 0.2


def test_frames_arrive_at_the_model_size_cropped_by_the_geometry(gst):
    from avsc_edge.stream.gst import GstSource

    clip = ClipConfig(seconds=1.0, num_frames=4, frame_size=48, frame_geometry="center_crop")
    # a 320x180 picture whose left and right eighths are red: the centre crop (short side to 55,
    # then the middle 48) keeps none of the red
    src = ("videotestsrc num-buffers=5 pattern=solid-color foreground-color=0xff00ff00 ! "
           "video/x-raw,width=320,height=180,format=RGB ! videobox left=-0 ! videoconvert name=video")
    frames = [d for k, d, _ in GstSource("gst-pipeline:" + src, 16000, clip, max_rate=30).events() if k == "frame"]
    assert frames and all(f.shape == (48, 48, 3) and f.dtype == np.uint8 for f in frames)
    assert abs(int(frames[0][..., 1].mean()) - 255) <= 2


# -- a real RTSP server, killed and restarted ------------------------------------------------------
def start_server(port: int, *args) -> subprocess.Popen:
    log = tempfile.TemporaryFile("w+")   # a file, not a pipe nobody drains: a chatty server never blocks
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "rtsp_server.py"), "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        log.seek(0)
        pytest.fail(f"the RTSP server did not start: {log.read()}")
    return proc


def stream_cli(source: str, model, *extra) -> subprocess.Popen:
    # stderr to a file (read by interrupt()): warnings while the test reads stdout never fill a pipe;
    # -X faulthandler: a client that does not stop can be made to print where it is
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen([sys.executable, "-X", "faulthandler", *CLI[1:], "stream", source, "--model", str(model),
                             "--json", "--hop", "0.5", *extra], stdout=subprocess.PIPE, stderr=log, text=True,
                            preexec_fn=ctrl_c_as_in_a_terminal)
    proc.stderr_log = log
    return proc


def interrupt(client: subprocess.Popen, timeout: float = 60) -> str:
    """Ctrl-C for the client; its stderr. One that does not end within ``timeout`` fails the test
    with its signal state and every thread's stack (SIGABRT under faulthandler), and is killed."""
    client.send_signal(signal.SIGINT)
    try:
        client.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        status = Path(f"/proc/{client.pid}/status").read_text()
        state = " ".join(line for line in status.splitlines() if line.startswith(("State", "Sig", "Shd")))
        client.send_signal(signal.SIGABRT)
        try:
            client.wait(timeout=30)
        finally:
            client.kill()
        pytest.fail(f"the client did not stop within {timeout:g} s of Ctrl-C ({state}); its stderr:\n{stderr(client)}")
    return stderr(client)


def stderr(proc: subprocess.Popen) -> str:
    proc.stderr_log.seek(0)
    return proc.stderr_log.read()


def read_lines(proc: subprocess.Popen, count: int, timeout: float) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while len(lines) < count and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
    return lines


@pytest.mark.parametrize("path", ["pyav", "gst"])
def test_an_rtsp_clip_is_classified_and_ctrl_c_ends_with_one_line(gst, tiny_checkpoint, tmp_path, path):
    # a clip longer than the model's window: the first line must come while the stream still runs
    # (with a one-window clip it came at the end of the stream, racing Ctrl-C against the EOF)
    from avsc_edge.data.synth import write_av

    rng = np.random.default_rng(3)
    clip = tmp_path / "long.mp4"
    write_av(clip, rng.integers(0, 255, (60, 48, 64, 3), dtype=np.uint8), 5.0,
             (rng.standard_normal((1, 16000 * 12)) * 0.1).astype(np.float32), 16000, "libx264", "aac")
    port = free_port()
    server = start_server(port, "--file", str(clip))
    try:
        url = f"rtsp://127.0.0.1:{port}/clip"
        client = stream_cli(url if path == "pyav" else f"gst:{url}", tiny_checkpoint)
        lines = read_lines(client, 1, 60)
        err = interrupt(client)
    finally:
        server.kill()
    assert lines and '"label"' in lines[0], err
    assert client.returncode == 130 and err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err, \
        f"exit {client.returncode}: {err}"


@pytest.mark.parametrize("path", ["pyav", "gst"])
def test_an_rtsp_server_that_restarts_is_rejoined(gst, tiny_checkpoint, path):
    port = free_port()
    server = start_server(port, "--live")
    url = f"rtsp://127.0.0.1:{port}/clip"
    client = stream_cli(url if path == "pyav" else f"gst:{url}", tiny_checkpoint, "--retries", "4")
    try:
        before = read_lines(client, 2, 90)
        server.kill()
        server.wait()
        time.sleep(1.5)
        server = start_server(port, "--live")
        after = read_lines(client, 8, 90)
    finally:
        try:
            err = interrupt(client)
        finally:              # never leave the server running
            server.kill()
    assert len(before) == 2 and len(after) == 8, err
    assert any("re-opened after" in line for line in after), after
    assert "stream lost" in err and "Traceback" not in err and client.returncode == 130, f"exit {client.returncode}: {err}"


# -- a local HTTP server killed midway -------------------------------------------------------------
class _Slow(http.server.BaseHTTPRequestHandler):
    """Serves the first half of a file slowly, then the server dies (the connection drops)."""

    payload = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        half = len(self.payload) // 2
        for i in range(0, half, 4096):
            self.wfile.write(self.payload[i:i + 4096])
            time.sleep(0.002)
        self.connection.close()

    def log_message(self, *args):
        pass


def test_an_http_clip_cut_midway_ends_with_one_line_after_bounded_retries(tiny_checkpoint, tiny_dataset, tmp_path):
    clip = TauDataset(tiny_dataset).clips("evaluate")[0].video
    _Slow.payload = Path(clip).read_bytes()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/clip.mp4"
    try:
        t0 = time.monotonic()
        out = subprocess.run([*CLI, "stream", url, "--model", str(tiny_checkpoint), "--retries", "2"],
                             capture_output=True, text=True, timeout=120)
        took = time.monotonic() - t0
    finally:
        server.shutdown()
    errors = [line for line in out.stderr.splitlines() if "error" in line]
    assert out.returncode == 2 and len(errors) == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.count("re-opening") == 2 and took < 60


# -- hostile sources -----------------------------------------------------------------------------
def test_a_source_string_cannot_add_elements(gst, tiny_checkpoint, tiny_dataset, tmp_path):
    """``gst:`` is a path or URI, a property value: pipeline syntax in it (or in a file's name) adds
    nothing; the file named like that is simply read as a file."""
    clip = TauDataset(tiny_dataset).clips("evaluate")[0].video
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    written = tmp_path / "written.bin"
    injected = f"x.mp4 ! fakesink async=false filesrc location={clip} ! filesink location={written}"
    out = subprocess.run([*CLI, "stream", f"gst:{injected}", "--model", str(tiny_checkpoint)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 2 and "file not found" in out.stderr and not written.exists()
    named = tmp_path / injected.replace("/", "_")
    named.write_bytes(Path(clip).read_bytes())
    assert list(Classifier(tiny_checkpoint).stream(f"gst:{named}", hop=1.5)) and not written.exists()
    uri = f"file://{clip} ! filesink location={victim} decodebin"
    with pytest.raises(MediaError):
        list(Classifier(tiny_checkpoint).stream(f"gst:{uri}", hop=1.5))
    assert victim.read_text() == "keep me\n"


def test_an_http_playlist_cannot_pull_a_local_file_through_gstreamer(gst, tiny_checkpoint, tiny_dataset):
    clip = TauDataset(tiny_dataset).clips("evaluate")[0].video

    class Playlist(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = (f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.5,\nfile://{clip}\n"
                    "#EXT-X-ENDLIST\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.apple.mpegurl")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Playlist)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(MediaError, match="refused: it asked for a file source"):
            list(Classifier(tiny_checkpoint).stream(f"gst:http://127.0.0.1:{server.server_address[1]}/live.m3u8",
                                                    config=_quick()))
    finally:
        server.shutdown()


def _quick(**kw):
    from avsc_edge.stream import StreamConfig

    return StreamConfig(hop=0.5, retries=0, timeout=2.0, **kw)


@pytest.mark.parametrize("keep", ["audio", "video"])
def test_a_file_with_one_track_ends(gst, tiny_checkpoint, tmp_path, keep):
    from avsc_edge.data.synth import write_av

    rng = np.random.default_rng()
    path = tmp_path / f"{keep}.mkv"
    write_av(path, rng.integers(0, 255, (8, 48, 64, 3), dtype=np.uint8) if keep == "video" else None, 4.0,
             (rng.standard_normal((1, 32000)) * 0.1).astype(np.float32) if keep == "audio" else None, 16000)
    t0 = time.monotonic()
    preds = list(Classifier(tiny_checkpoint).stream(f"gst:{path}", config=_quick()))
    assert preds and time.monotonic() - t0 < 30
    assert all(p.modalities == (("audio",) if keep == "audio" else ("visual",)) for p in preds)


def _endless_headers(conn) -> None:
    conn.recv(4096)
    conn.sendall(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n")
    while True:
        conn.sendall(b"X-Junk: " + b"a" * 1000 + b"\r\n")


def _slow_loris(conn) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 100000000\r\n\r\n")
    while True:
        conn.sendall(b"\x00")
        time.sleep(0.5)


@pytest.mark.parametrize("scheme,behaviour", [("rtsp", _endless_headers), ("http", _slow_loris)])
def test_hostile_servers_are_bounded_in_time_and_memory(gst, tiny_checkpoint, scheme, behaviour):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=lambda: _swallow(behaviour, conn), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    url = f"gst:{scheme}://127.0.0.1:{sock.getsockname()[1]}/x"
    code, _, err, rss, wall = peak_rss.run_measured(
        [*CLI, "stream", url, "--model", tiny_checkpoint, "--retries", "1", "--timeout", "2"])
    sock.close()
    assert code == 2 and "Traceback" not in err, err
    assert "no data" in err or "nothing arrived" in err or "stream broken" in err
    assert wall < 60 and rss < 1024 * 1024, (wall, rss)


def _swallow(behaviour, conn) -> None:
    try:
        behaviour(conn)
    except OSError:
        pass


def test_sigterm_ends_a_stream_stuck_on_a_hostile_server(gst, tiny_checkpoint):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    threading.Thread(target=lambda: _swallow(_endless_headers, sock.accept()[0]), daemon=True).start()
    proc = subprocess.Popen([*CLI, "stream", f"gst:rtsp://127.0.0.1:{sock.getsockname()[1]}/x", "--model",
                             str(tiny_checkpoint)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    sock.close()
    assert proc.returncode == 130 and "Traceback" not in err and time.monotonic() - t0 < 15, err


def test_wrong_samples_into_the_audio_appsink_are_a_clear_error(gst, tiny_checkpoint):
    pipeline = ("gst-pipeline:audiotestsrc num-buffers=20 ! audio/x-raw,format=S16LE,rate=16000,channels=1 ! "
                "appsink name=avsc_audio sync=false")
    with pytest.raises(MediaError, match="S16LE.*needs F32LE mono at 16000 Hz"):
        list(Classifier(tiny_checkpoint).stream(pipeline, config=_quick()))
