"""Children that take Ctrl-C as a terminal's foreground process does, however pytest was started.

A shell starts a background job (``pytest &``, no job control) with SIGINT and SIGQUIT ignored; its
children inherit that, and Python then never installs its KeyboardInterrupt handler, so a SIGINT a
test sends is silently dropped (the four RTSP tests failed that way in background runs here).
Pass ``preexec_fn=ctrl_c_as_in_a_terminal`` to every Popen a test sends SIGINT to."""
from __future__ import annotations

import signal


def ctrl_c_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
