"""What FFmpeg may open for a source: a local path is a file and nothing else; a URL only its own
protocol family.

FFmpeg reads a name as a protocol where it can: a local file named ``concat:a.mp4|b.mp4``,
``pipe:0`` or ``file:...`` would be opened as that protocol, and a local playlist (HLS ``.m3u8``),
concat list, image pattern or SDP description opens *other* files or sockets. So local files are
opened as ``file:<absolute path>`` with only the ``file`` protocol allowed and without the
demuxers that follow references; network URLs get the protocols of their scheme (an HLS playlist
over HTTP cannot pull a ``file://`` segment).
"""
from __future__ import annotations

import os
from functools import lru_cache

from ..errors import InputError

# demuxers that open other files, sockets or filter graphs named inside the input
REFERRING_DEMUXERS = frozenset({"hls", "dash", "concat", "image2", "sdp", "rtp", "rtsp", "lavfi",
                                "webm_dash_manifest"})

NETWORK_PROTOCOLS = {
    "http": "http,https,tcp,tls,crypto,httpproxy",
    "https": "http,https,tcp,tls,crypto,httpproxy",
    "rtsp": "rtsp,rtsps,rtp,srtp,udp,tcp,tls",
    "rtsps": "rtsp,rtsps,rtp,srtp,udp,tcp,tls",
    "rtmp": "rtmp,rtmps,rtmpt,tcp,tls",
    "rtmps": "rtmp,rtmps,tcp,tls",
    "udp": "udp",
    "rtp": "rtp,udp",
    "srt": "srt",
    "tcp": "tcp",
}


@lru_cache(maxsize=1)
def local_demuxers() -> str:
    """Every input format of PyAV's FFmpeg but those that follow references (comma-separated)."""
    import av

    names = (n for n in av.formats_available if av.ContainerFormat(n).is_input)
    return ",".join(sorted(n for n in names if not REFERRING_DEMUXERS.intersection(n.split(","))))


def local_url(path: str | os.PathLike) -> str:
    """The name FFmpeg opens for a local file: always the file protocol, whatever the file is called."""
    return "file:" + os.path.abspath(os.fspath(path))


def local_options() -> dict[str, str]:
    """Container options for a local file: the file protocol only, no referring demuxers."""
    return {"protocol_whitelist": "file", "format_whitelist": local_demuxers()}


def scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def network_options(url: str) -> dict[str, str]:
    """Container options for a network URL: the protocols of its scheme only."""
    allowed = NETWORK_PROTOCOLS.get(scheme(url))
    if allowed is None:
        raise InputError(f"{url}: unsupported URL scheme {scheme(url)!r}; use one of "
                         f"{', '.join(s + '://' for s in NETWORK_PROTOCOLS)}, or a local path")
    return {"protocol_whitelist": allowed}
