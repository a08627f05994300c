"""Run a command and write its peak RSS (KB) to a file: ``python peak_rss.py REPORT CMD...``.

Linux keeps a process's high-water RSS across execve, so a CLI started straight from a pytest that
has grown to 1.5 GB reports at least 1.5 GB whatever it used itself. Started from this small
launcher, the command inherits the launcher's small high-water mark instead. The exit status is the
command's; a signal that kills the launcher's session kills the command too.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_measured(argv: list, cwd=None, kill_after: float = 120.0) -> tuple[int, str, str, int, float]:
    """(exit code, stdout, stderr, peak RSS in KB, wall seconds) of ``argv``, killed after ``kill_after`` s."""
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile("w+") as out, \
            tempfile.TemporaryFile("w+") as err:
        report = Path(tmp) / "peak_rss"
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, __file__, str(report), *map(str, argv)], cwd=cwd, stdout=out,
                                stderr=err, text=True, start_new_session=True)
        try:
            code = proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
        wall = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        rss = int(report.read_text()) if report.exists() else -1
        return code, out.read(), err.read(), rss, wall


def main() -> int:
    report, command = Path(sys.argv[1]), sys.argv[2:]
    proc = subprocess.Popen(command)
    _, status, usage = os.wait4(proc.pid, 0)
    report.write_text(str(usage.ru_maxrss))
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
