"""The hostile probes of hardening round 4 in CI-sized form, run as a user would run them (the CLI in
a subprocess): no segfault, no traceback, no file written or read outside the named inputs and
outputs, peak RSS <= 1 GB and wall <= 60 s per input, and a batch with bad files keeps its summary
and every good row."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from avsc_edge.data.synth import write_av, write_wav

import peak_rss
from test_hostile_inputs import sparse_mkv

CLI = [sys.executable, "-m", "avsc_edge.cli"]
LIMIT_RSS_KB, LIMIT_S = 1024 * 1024, 60.0


def run_measured(args, cwd) -> tuple[int, str, str, int, float]:
    """(exit code, stdout, stderr, peak RSS in KB, wall seconds) of the CLI on ``args``."""
    return peak_rss.run_measured([*CLI, *args], cwd=cwd, kill_after=2 * LIMIT_S)


def hostile_corpus(folder: Path, good: Path) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 255, (8, 48, 64, 3), dtype=np.uint8)
    files = {}

    def add(name, write):
        path = folder / name
        write(path)
        files[name] = path

    add("surround-7.1.mkv", lambda p: write_av(p, frames, 5.0, (rng.standard_normal((8, 32000)) * 0.1)
                                                .astype(np.float32), 16000, "libx264", "aac"))
    add("array-16ch.wav", lambda p: write_av(p, None, 0, (rng.standard_normal((16, 16000)) * 0.1).astype(np.float32),
                                             16000, audio_codec="pcm_s16le"))
    add("concat:good.mp4|good.mp4", lambda p: p.write_bytes(b"\0" * 256))
    add("pipe:0", lambda p: p.write_bytes(b"\0" * 256))
    add("list.m3u8", lambda p: p.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\n{good}\n"
                                            "#EXT-X-ENDLIST\n"))
    add("list.ffconcat", lambda p: p.write_text(f"ffconcat version 1.0\nfile '{good}'\n"))
    add("sparse.mkv", sparse_mkv)
    add("truncated.mp4", lambda p: p.write_bytes(good.read_bytes()[: good.stat().st_size // 3]))
    add("noise.wav", lambda p: p.write_bytes(os.urandom(4000)))
    add("silence.wav", lambda p: write_wav(p, np.zeros((1, 100), np.float32), 16000))
    add("empty.mp4", lambda p: p.write_bytes(b""))
    return files


@pytest.fixture(scope="module")
def corpus(tiny_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    good = folder / "good.mp4"
    shutil.copy(next((tiny_dataset / "video").glob("*.mp4")), good)
    return folder, good, hostile_corpus(folder, good)


def listing(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in folder.rglob("*") if not p.is_symlink()}


def test_a_batch_with_every_hostile_file_keeps_its_summary_and_good_rows(tiny_checkpoint, corpus, tmp_path):
    folder, good, files = corpus
    before = listing(folder)
    csv = tmp_path / "rows.csv"
    code, out, err, rss, wall = run_measured(["predict", tiny_checkpoint, *files.values(), good, "--csv", csv],
                                             tmp_path)
    assert code == 1 and "Traceback" not in err and "Segmentation" not in err, err[-2000:]
    assert rss <= LIMIT_RSS_KB and wall <= LIMIT_S, (rss, wall)
    summary = err.strip().splitlines()[-1]
    ok = ("surround-7.1.mkv", "array-16ch.wav", "silence.wav", "good.mp4")
    assert summary.startswith(f"predict: {len(ok)} ok, {len(files) + 1 - len(ok)} failed"), summary
    rows = [line.split("\t")[0] for line in csv.read_text().splitlines()[1:]]
    assert sorted(rows) == sorted(ok)
    assert listing(folder) == before                               # nothing written beside the inputs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv", "rows.errors.tsv"]


@pytest.mark.parametrize("name", ["surround-7.1.mkv", "array-16ch.wav", "concat:good.mp4|good.mp4", "list.m3u8",
                                  "sparse.mkv", "truncated.mp4"])
def test_each_hostile_file_streams_within_bounds(tiny_checkpoint, corpus, tmp_path, name):
    folder, _, files = corpus
    before = listing(folder)
    code, out, err, rss, wall = run_measured(["stream", files[name], "--model", tiny_checkpoint, "--json"], tmp_path)
    assert code in (0, 2) and "Traceback" not in err, err[-2000:]
    assert rss <= LIMIT_RSS_KB and wall <= LIMIT_S, (rss, wall)
    assert (code == 0) == (name in ("surround-7.1.mkv", "array-16ch.wav")), err
    assert listing(folder) == before and not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["surround-7.1.mkv", "sparse.mkv"])
def test_explain_on_hostile_files_within_bounds(tiny_checkpoint, corpus, tmp_path, name):
    pytest.importorskip("matplotlib")
    _, _, files = corpus
    code, out, err, rss, wall = run_measured(["explain", files[name], "--model", tiny_checkpoint, "--out",
                                              tmp_path / "x.png", "--frames", "64"], tmp_path)
    assert code == (0 if name == "surround-7.1.mkv" else 2) and "Traceback" not in err, err[-2000:]
    assert rss <= LIMIT_RSS_KB and wall <= LIMIT_S, (rss, wall)
