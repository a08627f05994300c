"""A real RTSP server on 127.0.0.1 (GStreamer's gst-rtsp-server through its introspection
bindings), for the tests and the soak benchmark: an H.264 + AAC clip, or a live test source.

    python scripts/rtsp_server.py --port 8554 --file clip.mp4     # rtsp://127.0.0.1:8554/clip
    python scripts/rtsp_server.py --port 8554 --live              # endless videotestsrc + audiotestsrc

Prints ``ready`` when it accepts connections; runs until killed.
"""
from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

LIVE = ("( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=10/1 ! videoconvert ! "
        "openh264enc gop-size=10 ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 "
        "audiotestsrc is-live=true wave=pink-noise ! audioconvert ! audioresample ! audio/x-raw,rate=48000 ! "
        "avenc_aac ! aacparse ! rtpmp4gpay name=pay1 pt=97 )")


def file_launch(path: str) -> str:
    """The clip's own H.264 and AAC, payloaded without re-encoding."""
    return (f"( filesrc location={path} ! qtdemux name=d d.video_0 ! queue ! h264parse ! "
            "rtph264pay name=pay0 pt=96 config-interval=1 d.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97 )")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", help="an MP4 with H.264 video and AAC audio")
    source.add_argument("--live", action="store_true", help="an endless live test source")
    ap.add_argument("--mount", default="/clip")
    args = ap.parse_args(argv)
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(LIVE if args.live else file_launch(args.file))
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print("ready", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
