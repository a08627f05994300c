"""`avsc-edge bench` in a small configuration: it runs, and its JSON has every field."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import pytest

pytest.importorskip("torch")

from avsc_edge.bench.e2e import ROW_FIELDS  # noqa: E402
from avsc_edge.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def artifacts(tiny_checkpoint, tiny_dataset, tmp_path_factory):
    from avsc_edge.export.pipeline import run_recipe
    from avsc_edge.export.recipes import load_recipe

    out = tmp_path_factory.mktemp("bench")
    fp32 = run_recipe(tiny_checkpoint, load_recipe("cpu-fp32"), out / "m.onnx").artifact
    int8 = run_recipe(tiny_checkpoint, load_recipe("cpu-int8"), out / "m.int8.onnx", str(tiny_dataset)).artifact
    return [str(tiny_checkpoint), str(fp32), str(int8)]


def test_bench_json_markdown_plot(artifacts, tiny_dataset, tmp_path, capsys):
    js, md, png = tmp_path / "b.json", tmp_path / "b.md", tmp_path / "b.png"
    assert main(["bench", *artifacts, "--data", str(tiny_dataset), "--clips", "4", "--batch", "1,2", "--repeats", "1",
                 "--json", str(js), "--markdown", str(md), "--plot", str(png)]) == 0
    data = json.loads(js.read_text())
    assert {"cpu", "cores", "gpu", "versions", "kernels"} <= set(data["machine"])
    rows = data["rows"]
    assert len(rows) == 6 and {(r["backend"], r["precision"], r["batch"]) for r in rows} >= {
        ("pytorch", "fp32", 1), ("onnxruntime", "fp32", 2), ("onnxruntime", "int8", 1)}
    from avsc_edge import Classifier
    from avsc_edge.data import TauDataset

    clips = TauDataset(tiny_dataset).clips("evaluate")[:4]
    for r in rows:
        assert set(ROW_FIELDS) <= set(r)
        assert {"decode", "features", "frames", "inference"} <= set(r["stages"]) and r["stages"]["inference"] > 0
        assert r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] and r["clips_per_s"] > 0 and r["trained"]
        clf = Classifier(r["artifact"])  # the row's accuracy is that of the artifact's predictions
        expected = np.mean([clf.predict(c.video).label == c.label for c in clips])
        assert r["accuracy"] == pytest.approx(expected)
    assert md.read_text().count("\n") == 8 and png.read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr()
    assert "onnxruntime" in printed.out
    progress = [line for line in printed.err.splitlines() if ": repeat " in line]
    assert progress and all(line.startswith(("tiny ", "custom ")) for line in progress), progress  # the preset


def test_bench_needs_data_with_explicit_artifacts(artifacts, capsys):
    assert main(["bench", artifacts[0]]) == 2
    assert "--data" in capsys.readouterr().err


def test_bench_kernels_json(capsys, monkeypatch):
    from avsc_edge.bench import kernels

    monkeypatch.setattr(kernels, "bench_log_mel", lambda threads: [kernels.Row("log_mel", "tiny", 1, 1.0, "x", 2.0)])
    assert main(["bench", "--kernels", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kernels"][0]["kernel"] == "cross_attention" and data["kernels"][-1]["speedup"] == 2.0


@pytest.mark.parametrize("script", sorted(p.name for p in (Path(__file__).parent.parent / "benchmarks").glob("*.py")))
def test_every_benchmark_script_imports_and_has_help(script):
    """Rot fails CI: a benchmark that imports names the package no longer has cannot stay."""
    path = Path(__file__).parent.parent / "benchmarks" / script
    out = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "usage" in out.stdout.lower(), out.stderr


def test_bench_rebuilds_cached_models_of_another_sdk_version(tmp_path):
    pytest.importorskip("torch")
    import dataclasses

    from avsc_edge.bench.defaults import forget, made_here, untrained_checkpoint
    from avsc_edge.formats.checkpoint import load_checkpoint, save_checkpoint

    ckpt = untrained_checkpoint(tmp_path / "model.safetensors", "tiny")
    assert made_here(ckpt)
    weights, info = load_checkpoint(ckpt)
    save_checkpoint(ckpt, weights, dataclasses.replace(info, sdk_version="0.4.1"))
    assert not made_here(ckpt) and not made_here(tmp_path / "missing.safetensors")
    (tmp_path / "model.int8.onnx").write_bytes(b"x")
    (tmp_path / "model.int8.heads.onnx").write_bytes(b"x")
    (tmp_path / "keep.txt").write_text("mine")
    forget(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_the_default_bench_builds_in_child_processes_and_says_which_build_failed(tiny_checkpoint, tiny_dataset,
                                                                                   tmp_path):
    from avsc_edge.bench.defaults import exported, exports
    from avsc_edge.errors import AVSCError
    from avsc_edge.formats.artifact import part_paths

    said = []
    (tmp_path / "model.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(AVSCError, match=r"building the cpu-fp32 export of .*model.safetensors failed \(exit code 1"):
        exports(tmp_path / "model.safetensors", tiny_dataset, said.append)
    assert said == [f"bench: exporting {tmp_path / 'model.safetensors'} with cpu-fp32"]
    assert not exported(tmp_path / "model.onnx")

    ckpt = tmp_path / "ok" / "model.safetensors"
    ckpt.parent.mkdir()
    ckpt.write_bytes(Path(tiny_checkpoint).read_bytes())
    models = exports(ckpt, tiny_dataset, said.append, recipes=("cpu-fp32",))
    assert models == [str(ckpt.parent / "model.onnx")] and exported(ckpt.parent / "model.onnx")
    assert not (ckpt.parent / "model.onnx").exists()   # the split graphs alone: what the bench runs
    assert all(p.is_file() for p in part_paths(ckpt.parent / "model.onnx").values())
    exports(ckpt, tiny_dataset, said.append, recipes=("cpu-fp32",))   # cached: no second export
    assert len([s for s in said if s.startswith(f"bench: exporting {ckpt}")]) == 1
