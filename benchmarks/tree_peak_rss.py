"""Peak memory of a command and every process it starts, summed: what the machine must hold.

    python benchmarks/tree_peak_rss.py avsc-edge bench

``/usr/bin/time -v`` reports the largest single process; a command that builds in child
processes (the default bench) needs the sum of the parent and its children at the same moment.
Samples /proc every 20 ms (a short spike between samples can be missed: read it beside
``/usr/bin/time -v``'s figure for the largest process).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def tree_rss_bytes(root: int) -> int:
    """Resident memory of ``root`` and all its descendants now."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:   # the process ended while we looked
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * page
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments")
    command = parser.parse_args(argv).command
    if not command:
        parser.error("give a command to run")
    process = subprocess.Popen(command)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss_bytes(process.pid))
        time.sleep(0.02)
    print(f"peak RSS of the process tree: {peak / 2**20:.0f} MB (exit status {process.returncode})", file=sys.stderr)
    return process.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
