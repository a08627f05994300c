"""Soak: a live RTSP stream (scripts/rtsp_server.py, gst-rtsp-server on 127.0.0.1) classified with a
1-s hop for MINUTES, the server killed once midway and restarted after a pause. Reports the
process's RSS after the first minute (min, max, spread), when predictions resumed after the
server came back, and the stream's stats.

    python benchmarks/rtsp_soak.py MODEL [--minutes 10] [--path gst|pyav] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from avsc_edge import Classifier

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "rtsp_server.py"), "--port", str(port), "--live"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--path", default="gst", choices=["gst", "pyav"])
    ap.add_argument("--pause", type=float, default=3.0, help="seconds the server stays down")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"rtsp://127.0.0.1:{port}/clip"
    server = {"proc": start_server(port)}
    events: dict[str, float] = {}

    def restart() -> None:
        time.sleep(args.minutes * 30)
        server["proc"].kill()
        server["proc"].wait()
        events["killed"] = time.monotonic()
        time.sleep(args.pause)
        server["proc"] = start_server(port)
        events["back"] = time.monotonic()

    threading.Thread(target=restart, daemon=True).start()
    clf = Classifier(args.model)
    samples, resumed, t0 = [], None, time.monotonic()
    stream = clf.stream(("gst:" if args.path == "gst" else "") + url, hop=1.0)
    try:
        for p in stream:
            now = time.monotonic()
            samples.append((now - t0, rss_mb()))
            if "back" in events and resumed is None and now > events["back"]:
                resumed = now - events["back"]
            if now - t0 > args.minutes * 60:
                break
    finally:
        stream.close()
        server["proc"].kill()
    steady = [r for t, r in samples if t > 60]
    result = {"path": args.path, "minutes": args.minutes, "predictions": len(samples),
              "rss_after_first_minute_mb": {"min": min(steady), "max": max(steady), "spread": max(steady) - min(steady)},
              "resumed_s_after_server_back": resumed, "server_down_s": args.pause}
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({**result, "samples": samples}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
