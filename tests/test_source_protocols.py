"""What a source string may make the SDK open: a local path is that file and nothing else (never an
FFmpeg protocol its name looks like, never the files a playlist or list names); a URL only its own
protocol family; a silent server is a typed timeout within the retry budget, not Ctrl-C."""
from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from avsc_edge import media
from avsc_edge.data.synth import write_av
from avsc_edge.errors import InputError, MediaError, SourceTimeoutError
from avsc_edge.stream.sources import media_events

CLI = [sys.executable, "-m", "avsc_edge.cli"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("proto") / "clip.mp4"
    write_av(path, rng.integers(0, 255, (10, 48, 64, 3), dtype=np.uint8), 5.0,
             (rng.standard_normal((1, 32000)) * 0.1).astype(np.float32), 16000)
    return path


@pytest.mark.parametrize("name", ["concat:clip.mp4|clip.mp4", "pipe:0", "file:clip.mp4", "subfile,,start,0,end,9,,:x",
                                  "crypto:clip.mp4"])
def test_local_files_named_like_protocols_are_read_as_files(clip, tmp_path, name):
    (tmp_path / name).write_bytes(b"\x00" * 64)    # not media: a file read as a protocol would open clip.mp4
    shutil.copy(clip, tmp_path / "clip.mp4")
    with pytest.raises(MediaError, match="not a readable media file"):
        media.probe(tmp_path / name)
    shutil.copy(clip, tmp_path / name)              # the same name holding a real clip: that clip is read
    assert media.probe(tmp_path / name).has_video


@pytest.mark.parametrize("text", ["#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\n{clip}\n#EXT-X-ENDLIST\n",
                                  "ffconcat version 1.0\nfile '{clip}'\n"])
def test_local_playlists_and_lists_that_name_other_files_are_refused(clip, tmp_path, text):
    for suffix in (".m3u8", ".txt", ".mp4"):
        listed = tmp_path / f"list{suffix}"
        listed.write_text(text.format(clip=clip))
        with pytest.raises(MediaError) as refused:   # whatever FFmpeg's probe takes it for, clip.mp4 is not read
            media.probe(listed)
        if suffix == ".m3u8" or text.startswith("ffconcat"):
            assert "refers to other files" in str(refused.value)


class _Playlist(http.server.BaseHTTPRequestHandler):
    body = ""

    def do_GET(self):
        data = self.body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.apple.mpegurl")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def serve(handler) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_an_http_playlist_cannot_pull_a_local_file(clip):
    _Playlist.body = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\nfile://{clip}\n#EXT-X-ENDLIST\n"
    server, url = serve(_Playlist)
    try:
        with pytest.raises(MediaError):
            events = list(media_events(url + "/list.m3u8", 16000, timeout=5))
            assert not events
    finally:
        server.shutdown()


def test_unknown_url_schemes_are_refused_with_the_list():
    with pytest.raises(InputError, match="unsupported URL scheme 'gopher'.*http://"):
        next(media_events("gopher://127.0.0.1/x", 16000))


def silent_server() -> tuple[socket.socket, list]:
    """Accepts connections and never says a word (a hung server, or a slow loris)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held = []
    threading.Thread(target=lambda: [held.append(sock.accept()) for _ in range(8)], daemon=True).start()
    return sock, held


def test_a_silent_server_is_a_typed_timeout_not_ctrl_c():
    sock, _ = silent_server()
    t0 = time.monotonic()
    with pytest.raises(SourceTimeoutError, match="no answer within 1 s"):
        next(media_events(f"http://127.0.0.1:{sock.getsockname()[1]}/x.mp4", 16000, timeout=1.0))
    assert time.monotonic() - t0 < 10
    sock.close()


def test_udp_without_a_sender_times_out():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceTimeoutError):
        next(media_events(f"udp://127.0.0.1:{port}", 16000, timeout=1.0))


def test_the_cli_retries_a_silent_server_within_its_budget_then_one_line(tiny_checkpoint):
    sock, held = silent_server()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/x.mp4"
    t0 = time.monotonic()
    out = subprocess.run([*CLI, "stream", url, "--model", str(tiny_checkpoint), "--retries", "1", "--timeout", "1"],
                         capture_output=True, text=True, timeout=120)
    sock.close()
    errors = [line for line in out.stderr.splitlines() if "error" in line]
    assert out.returncode == 2 and "interrupted" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert len(errors) == 1 and "no answer within 1 s" in errors[0] and "gave up after 1 re-open" in errors[0]
    assert out.stderr.count("re-opening") == 1 and len(held) == 2 and time.monotonic() - t0 < 60


def test_a_server_that_always_cuts_off_gets_no_more_reopens_than_retries(tiny_checkpoint, tmp_path):
    """Each open delivers predictions and then breaks: that used to earn a fresh budget every time."""
    rng = np.random.default_rng(1)
    clip = tmp_path / "long.mkv"
    write_av(clip, rng.integers(0, 255, (60, 48, 64, 3), dtype=np.uint8), 10.0,
             (rng.standard_normal((1, 16000 * 6)) * 0.1).astype(np.float32), 16000)
    data = clip.read_bytes()
    requests = []

    class Cut(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "video/x-matroska")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: int(len(data) * 0.6)])
            self.connection.close()

        def log_message(self, *args):
            pass

    server, url = serve(Cut)
    try:
        out = subprocess.run([*CLI, "stream", url + "/long.mkv", "--model", str(tiny_checkpoint), "--retries", "1",
                              "--hop", "0.5", "--json"], capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    assert out.stdout.count('"label"') >= 2 and "Traceback" not in out.stderr, out.stderr
    assert len(requests) == 2 and out.stderr.count("re-opening") == 1
