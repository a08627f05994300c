"""Outputs never overwrite an input (also through a symbolic link), are of a kind the writer makes,
and every argument is checked before any work: one line and exit code 2, no traceback."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from avsc_edge.cli import main

CLI = [sys.executable, "-m", "avsc_edge.cli"]


def fake_model(folder):
    """Files named as an exported model and its split graphs (never loaded: the checks come first)."""
    files = {name: folder / name for name in ("m.onnx", "m.audio_tokens.onnx", "m.audio_slots.onnx", "m.frames.onnx",
                                              "m.heads.onnx")}
    for name, path in files.items():
        path.write_bytes(name.encode() * 10)
    return files


def unchanged(files) -> dict:
    return {p: p.read_bytes() for p in files.values()}


@pytest.mark.parametrize("flag,target", [("--json", "m.onnx"), ("--markdown", "m.heads.onnx"),
                                         ("--plot", "m.frames.onnx"), ("--json", "link.json")])
def test_bench_outputs_never_overwrite_a_model(tmp_path, capsys, flag, target):
    files = fake_model(tmp_path)
    (tmp_path / "link.json").symlink_to(files["m.audio_slots.onnx"])
    before = unchanged(files)
    assert main(["bench", str(files["m.onnx"]), "--data", str(tmp_path), flag, str(tmp_path / target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("a file of a benchmarked model" in err[0] or "PNG" in err[0]), err
    assert unchanged(files) == before


@pytest.mark.parametrize("out,message", [("link.png", "is also an input"), ("clip.mp4", "PNG"),
                                         ("m.heads.onnx", "PNG"), ("adir", "is a folder"),
                                         ("missing/x.png", "does not exist")])
def test_explain_output_is_checked_before_the_model_runs(tmp_path, capsys, out, message):
    files = fake_model(tmp_path)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not decoded: the check comes first")
    (tmp_path / "link.png").symlink_to(files["m.heads.onnx"])
    (tmp_path / "adir").mkdir()
    before = unchanged(files)
    assert main(["explain", str(clip), "--model", str(files["m.onnx"]), "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert unchanged(files) == before


@pytest.mark.parametrize("args", [["explain", "c.mp4", "--model", "m.onnx", "--frames", "100000"],
                                  ["explain", "c.mp4", "--model", "m.onnx", "--frames", "0"],
                                  ["bench", "--repeats", "0"], ["bench", "--batch", "x"], ["bench", "--batch", "1,0"],
                                  ["bench", "--clips", "-1"]])
def test_bad_numbers_are_refused_before_any_work(args):
    out = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("avsc-edge"), out.stderr


def test_a_plot_api_call_with_another_suffix_is_refused(tmp_path):
    from avsc_edge.errors import InputError
    from avsc_edge.plots import plot_confusion

    pytest.importorskip("matplotlib")
    with pytest.raises(InputError, match="PNG"):
        plot_confusion([[1, 0], [0, 1]], ("a", "b"), tmp_path / "cm.mp4")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_stream_names_special_files_for_what_they_are(tiny_checkpoint, tmp_path, capsys, special):
    path = tmp_path / "pipe.mp4"
    if special == "fifo":
        os.mkfifo(path)
    else:
        path = special
    assert main(["stream", str(path), "--model", str(tiny_checkpoint)]) == 2
    err = capsys.readouterr().err
    assert ("FIFO" if special == "fifo" else "character device") in err and "not found" not in err
