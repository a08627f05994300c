"""An export over an earlier artifact, killed (SIGTERM, SIGINT) at random points or run into a full
disk: each time the folder holds either the old or the new artifact, whole, and nothing else."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from avsc_edge import Classifier  # noqa: E402
from avsc_edge.formats.artifact import part_paths  # noqa: E402
from avsc_edge.export.onnx_export import read_onnx_info  # noqa: E402
from avsc_edge.export.pipeline import run_recipe  # noqa: E402
from avsc_edge.export.recipes import load_recipe  # noqa: E402
from terminal import ctrl_c_as_in_a_terminal  # noqa: E402


def export_process(checkpoint, out) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "avsc_edge.cli", "export", str(checkpoint), "--recipe", "cpu-fp32",
                             "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=ctrl_c_as_in_a_terminal)


def artifact_state(out: Path) -> str:
    """The export id of the whole artifact in ``out``'s folder; fails if anything else is there or
    the graphs are not one export."""
    names = {p.name for p in out.parent.iterdir()}
    assert names == {out.name, *(p.name for p in part_paths(out).values())}, sorted(names)
    ids = {read_onnx_info(p).export_id for p in (out, *part_paths(out).values())}
    assert len(ids) == 1, ids
    Classifier(out)
    return ids.pop()


@pytest.mark.slow
def test_kills_at_random_points_leave_the_old_or_the_new_artifact_whole(tiny_checkpoint, tmp_path):
    out = tmp_path / "model" / "model.onnx"
    out.parent.mkdir()
    run_recipe(tiny_checkpoint, load_recipe("cpu-fp32"), out)
    current = artifact_state(out)
    t0 = time.monotonic()
    assert export_process(tiny_checkpoint, out).wait(120) == 0
    duration = time.monotonic() - t0
    current = artifact_state(out)
    rng = np.random.default_rng()
    outcomes = []
    for i in range(10):
        p = export_process(tiny_checkpoint, out)
        time.sleep(rng.uniform(0.2, 1.1) * duration)
        p.send_signal(signal.SIGTERM if i % 2 else signal.SIGINT)
        code = p.wait(120)
        state = artifact_state(out)
        outcomes.append("old" if state == current else "new")
        assert code in (0, 130, -signal.SIGTERM, -signal.SIGINT), p.stderr.read()
        current = state
    print("kill outcomes:", outcomes)   # which ones finished depends on the machine's load; both are whole


@pytest.mark.slow
def test_two_exports_to_one_path_at_once_leave_one_of_them_whole(tiny_checkpoint, tmp_path):
    out = tmp_path / "model" / "model.onnx"
    out.parent.mkdir()
    procs = [export_process(tiny_checkpoint, out) for _ in range(2)]
    assert [p.wait(120) for p in procs] == [0, 0]
    artifact_state(out)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI runs as root)")
@pytest.mark.parametrize("room", [0.1, 0.6, 1.2])   # the disk fills at different steps of the export
def test_a_full_disk_leaves_the_earlier_artifact_whole(tiny_checkpoint, tmp_path, room):
    staging = tmp_path / "scratch" / "model.onnx"
    staging.parent.mkdir()
    run_recipe(tiny_checkpoint, load_recipe("cpu-fp32"), staging)
    size = sum(p.stat().st_size for p in staging.parent.iterdir())
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size + int(size * room)}", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        out = disk / "model.onnx"
        for p in staging.parent.iterdir():
            (disk / p.name).write_bytes(p.read_bytes())
        before = artifact_state(out)
        p = export_process(tiny_checkpoint, out)
        assert p.wait(120) != 0
        message = p.stderr.read().decode()
        assert "No space left" in message and "Traceback" not in message, message
        assert artifact_state(out) == before
    finally:
        subprocess.run(["umount", str(disk)], check=False)
