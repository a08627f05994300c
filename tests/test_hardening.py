"""What a hostile run found, one test per case: outputs validated before work, results written as
they come, a summary and an errors file, quiet broken pipes, bounded metadata readers, plans
checked before their body is read, external data kept inside the model's folder, training state
that survives kill -9, resumes that refuse other settings, memory independent of the number of
inputs, and one-line errors everywhere."""
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from avsc_edge.cli import main
from avsc_edge.errors import ArtifactError, AVSCError

CLI = [sys.executable, "-m", "avsc_edge.cli"]


def run_cli(*args, timeout=300, **kw):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)


# -- predict: outputs first, results as they come, a summary ------------------------------------
def test_outputs_are_validated_before_any_work(tiny_checkpoint, tiny_dataset, capsys, monkeypatch):
    from avsc_edge.runtime.runner import ModelRunner

    monkeypatch.setattr(ModelRunner, "classify_many", lambda *a, **k: pytest.fail("work started before the check"))
    assert main(["predict", str(tiny_checkpoint), str(tiny_dataset / "video"), "--csv", "/missing/dir/x.csv"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]


def test_good_and_bad_inputs_give_a_summary_an_errors_file_and_the_good_rows(tiny_checkpoint, tiny_dataset, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(next((tiny_dataset / "video").glob("*.mp4")), folder / "good.mp4")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text.mkv").write_text("not a video\n" * 40)
    (folder / "noise.wav").write_bytes(os.urandom(3000))
    csv = tmp_path / "out.csv"
    out = run_cli("predict", tiny_checkpoint, folder, "--csv", csv)
    assert out.returncode == 1
    assert "predict: 1 ok, 3 failed" in out.stderr and "out.errors.tsv" in out.stderr
    rows = csv.read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("good.mp4\t")
    errors = (tmp_path / "out.errors.tsv").read_text().splitlines()
    assert len(errors) == 3 and all("Error" in e.split("\t")[1] for e in errors)


def test_an_interrupted_predict_keeps_its_rows_and_the_earlier_file(tiny_checkpoint, tiny_dataset, tmp_path):
    """SIGTERM (like Ctrl-C) after some clips: the rows so far in NAME.partial, the summary says so,
    an earlier file of the same name untouched, no temporary left."""
    csv = tmp_path / "results.csv"
    csv.write_text("an earlier run\n")
    proc = subprocess.Popen([*CLI, "predict", str(tiny_checkpoint), str(tiny_dataset / "video"), "--csv", str(csv),
                             "--workers", "1", "--batch-size", "1"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120

    def rows_so_far():
        return sum(len(p.read_text().splitlines()) for p in tmp_path.glob(".results.csv.*.tmp"))

    while time.monotonic() < deadline and rows_so_far() < 4 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert csv.read_text() == "an earlier run\n"
    lines = (tmp_path / "results.csv.partial").read_text().splitlines()
    assert len(lines) >= 4 and all(line.count("\t") == 11 for line in lines)
    assert "stopped after" in err and "results.csv.partial" in err
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI runs as root)")
def test_a_full_disk_during_predict_keeps_the_rows_and_the_summary(tiny_checkpoint, tiny_dataset, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        csv = disk / "results.csv"
        csv.write_text("an earlier run\n")
        st = os.statvfs(disk)
        (disk / "filler").write_bytes(b"x" * (st.f_bavail * st.f_frsize - 4096))   # one page left: a few rows
        clips = tiny_dataset / "video"    # 3 x 20 rows of ~130 bytes: more than the page left
        out = run_cli("predict", tiny_checkpoint, clips, clips, clips, "--csv", csv, "--errors", tmp_path / "e.tsv")
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert "No space left" in out.stderr and "stopped after" in out.stderr and "results.csv.partial" in out.stderr
        assert csv.read_text() == "an earlier run\n"
        assert (disk / "results.csv.partial").read_text().startswith("filename\t")
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_result_files_never_clobber_inputs_models_or_earlier_results(tiny_checkpoint, tiny_dataset, tmp_path, capsys):
    video = tmp_path / "clip.mp4"
    shutil.copy(next((tiny_dataset / "video").glob("*.mp4")), video)
    csv = tmp_path / "results.csv"
    csv.write_text("an earlier run\n")
    keep = {p: p.read_bytes() for p in (video, csv, Path(tiny_checkpoint))}
    assert main(["predict", str(tmp_path / "mistyped.safetensors"), str(video), "--csv", str(csv)]) == 2
    assert main(["predict", str(tiny_checkpoint), str(video), "--csv", str(video)]) == 2
    assert "is also an input" in capsys.readouterr().err
    assert main(["predict", str(tiny_checkpoint), str(video), "--csv", str(csv), "--errors", str(tiny_checkpoint)]) == 2
    assert "a file of the model" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in keep} == keep
    assert main(["predict", str(tiny_checkpoint), str(video), "--csv", str(csv)]) == 0
    assert csv.read_text().startswith("filename\tscene_label")


def test_special_files_are_named_for_what_they_are(tiny_checkpoint, tmp_path, capsys):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "FIFO"), ("/dev/urandom", "character device")):
        assert main(["predict", str(tiny_checkpoint), str(path)]) == 1
        err = capsys.readouterr().err
        assert f"is a {kind}" in err, err


def test_a_newline_in_a_file_name_stays_on_one_line(tiny_checkpoint, tmp_path, capsys):
    odd = tmp_path / "two\nlines.mp4"
    odd.write_text("not a video\n" * 40)
    errors = tmp_path / "errors.tsv"
    assert main(["predict", str(tiny_checkpoint), str(odd), "--csv", str(tmp_path / "r.csv"), "--errors",
                 str(errors)]) == 1
    rows = errors.read_text().splitlines()
    assert len(rows) == 1 and "two\\nlines.mp4" in rows[0] and rows[0].count("\t") == 2


def test_a_full_disk_while_saving_a_checkpoint_is_one_line(tmp_path, monkeypatch):
    import safetensors.torch
    from safetensors import SafetensorError

    from avsc_edge.formats.checkpoint import write_safetensors

    torch = pytest.importorskip("torch")

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "
                              "\"No space left on device\" })")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    with pytest.raises(OSError, match="No space left on device while writing"):
        write_safetensors(tmp_path / "m.safetensors", {"w": torch.zeros(2)}, {})
    assert not list(tmp_path.iterdir())


def test_same_stem_audio_and_video_in_a_folder_are_one_recording(tiny_dataset, tmp_path):
    from avsc_edge.runtime.inputs import expand_inputs

    stem = next((tiny_dataset / "audio").glob("*.wav")).stem
    shutil.copy(tiny_dataset / "audio" / f"{stem}.wav", tmp_path / "x.wav")
    shutil.copy(tiny_dataset / "video" / f"{stem}.mp4", tmp_path / "x.mp4")
    shutil.copy(tiny_dataset / "audio" / f"{stem}.wav", tmp_path / "solo.wav")
    assert expand_inputs([str(tmp_path)]) == [(str(tmp_path / "solo.wav"),) * 2,
                                              (str(tmp_path / "x.wav"), str(tmp_path / "x.mp4"))]


def test_predict_memory_does_not_grow_with_the_number_of_inputs(tiny_checkpoint, tiny_dataset, tmp_path):
    """1000 small clips: the peak RSS after all of them stays within 50 MB of the peak after 50."""
    folder = tmp_path / "many"
    folder.mkdir()
    source = next((tiny_dataset / "video").glob("*.mp4"))
    for i in range(1000):
        os.link(source, folder / f"clip{i:04d}.mp4")
    script = textwrap.dedent(f"""
        import resource
        from avsc_edge import Classifier
        clf = Classifier("{tiny_checkpoint}")
        peak50 = None
        for i, (name, p) in enumerate(clf.predict_many("{folder}", keep_going=False)):
            if i == 49:
                peak50 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(i + 1, peak50, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    n, peak50, peak = map(int, out.stdout.split())
    assert n == 1000 and (peak - peak50) / 1024 < 50, f"peak RSS {peak50 / 1024:.0f} MB -> {peak / 1024:.0f} MB"


# -- the command line ------------------------------------------------------------------------
def test_a_closed_pipe_ends_quietly(tiny_checkpoint, tiny_dataset):
    proc = subprocess.Popen([*CLI, "predict", str(tiny_checkpoint), str(tiny_dataset / "video"), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    proc.stdout.close()                        # `| head -1`
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert json.loads(first)["label"] and "Traceback" not in err and "BrokenPipe" not in err


def test_debug_is_accepted_anywhere_and_errors_are_one_line(tmp_path, capsys):
    out = run_cli("info", "--json", "--debug")
    assert out.returncode == 0 and json.loads(out.stdout)["avsc_edge"]
    out = run_cli("predict", tmp_path / "missing.onnx", tmp_path)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "error:" in out.stderr
    out = run_cli("predict", tmp_path / "missing.onnx", tmp_path, "--debug")
    assert "Traceback" in out.stderr


def test_stream_mic_without_a_microphone_flag_fails_fast(tiny_checkpoint):
    t0 = time.monotonic()
    out = run_cli("stream", "mic", "--model", tiny_checkpoint, timeout=60)
    assert out.returncode == 2 and "--microphone" in out.stderr and time.monotonic() - t0 < 30


def test_info_lists_versions_and_providers(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"numpy", "onnxruntime", "av"} <= set(info["packages"])
    assert "CPUExecutionProvider" in info["onnxruntime_providers"] and info["cores"] >= 1
    assert "nvdec" in info and info["kernels"]["log_mel"]


# -- untrusted metadata ------------------------------------------------------------------------
def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def write_safetensors_header(path: Path, header: bytes) -> Path:
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\x00" * 16)
    return path


def write_plan_header(path: Path, meta: bytes) -> Path:
    from avsc_edge.formats.plan_format import _HEAD

    path.write_bytes(_HEAD.pack(b"AVSCPLAN", 1, len(meta)) + meta + b"engine")
    return path


def write_onnx_metadata(path: Path, value: str) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(g)
    entry = model.metadata_props.add()
    entry.key, entry.value = "avsc_edge", value
    onnx.save(model, str(path))
    return path


def readers(tmp_path):
    from avsc_edge.formats.artifact import info_from_metadata
    from avsc_edge.formats.checkpoint import read_info
    from avsc_edge.formats.onnx_file import read_metadata_props
    from avsc_edge.formats.plan_format import read_plan_header

    def onnx_info(path):
        return info_from_metadata(read_metadata_props(path), str(path))

    return [("safetensors", read_info, lambda p, b: write_safetensors_header(p, b)),
            ("plan", read_plan_header, lambda p, b: write_plan_header(p, b)),
            ("onnx", onnx_info, lambda p, b: write_onnx_metadata(p, b.decode("utf-8", "replace")))]


def test_metadata_readers_only_raise_avsc_errors(tmp_path):
    """Random, truncated, deeply nested and huge metadata through the three readers."""
    rng = random.Random(0)
    from avsc_edge.config import ArtifactInfo
    from avsc_edge.version import __version__

    good = ArtifactInfo(sdk_version=__version__).to_json()
    cases = [nested(200_000).encode(), nested(50).encode(), b'{"a": ' * 5000 + b"1" + b"}" * 5000,
             ("[" + "1," * 3_000_000 + "1]").encode(), os.urandom(4000), good.encode()[:37], b"", b"null",
             b'{"__metadata__": {"avsc_edge": ' + json.dumps(nested(100_000)).encode() + b"}}",
             json.dumps({"__metadata__": {"avsc_edge": json.dumps({"sdk_version": 10})}}).encode()]
    cases += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))) for _ in range(30)]
    for name, read, write in readers(tmp_path):
        for i, case in enumerate(cases):
            path = write(tmp_path / f"{name}{i}.{name}", case)
            try:
                read(path)
            except AVSCError:
                continue
            except Exception as exc:  # noqa: BLE001 - the point of the test
                pytest.fail(f"{name} reader raised {type(exc).__name__} on case {i}: {exc}")


def test_a_huge_file_named_plan_is_refused_without_being_read(tmp_path):
    from avsc_edge.formats.plan_format import read_plan

    big = tmp_path / "huge.plan"
    with open(big, "wb") as f:
        f.write(b"not a plan")
        f.truncate(3 << 30)                     # 3 GB, sparse: reading it would cost 3 GB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ArtifactError, match="not an avsc-edge plan"):
        read_plan(big)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 100


def test_plan_fields_are_type_checked(tmp_path):
    from avsc_edge.formats.plan_format import read_plan_header
    from avsc_edge.version import __version__

    meta = {"sdk_version": __version__, "tensorrt_version": 10, "compute_capability": "8.7", "precision": "int8",
            "onnx_sha256": "0" * 64, "artifact": {}}
    with pytest.raises(ArtifactError, match="tensorrt_version"):
        read_plan_header(write_plan_header(tmp_path / "m.plan", json.dumps(meta).encode()))
    meta.update(tensorrt_version="10.3", artifact=[])
    with pytest.raises(ArtifactError, match="artifact"):
        read_plan_header(write_plan_header(tmp_path / "n.plan", json.dumps(meta).encode()))


def test_onnx_external_data_must_stay_in_the_models_folder(tiny_checkpoint, tmp_path):
    onnx = pytest.importorskip("onnx")
    from avsc_edge import Classifier
    from avsc_edge.formats.artifact import part_paths
    from avsc_edge.export.pipeline import run_recipe
    from avsc_edge.export.recipes import load_recipe

    model = run_recipe(tiny_checkpoint, load_recipe("cpu-fp32"), tmp_path / "m.onnx").artifact
    Classifier(model)
    heads = part_paths(model)["heads"]
    original = heads.read_bytes()
    (tmp_path.parent / "outside.bin").write_bytes(b"\x00" * 64)
    os.symlink(tmp_path.parent / "outside.bin", tmp_path / "link.bin")
    for location, message in (("../../../../etc/passwd", "outside"), ("/etc/passwd", "relative"),
                              ("link.bin", "outside")):
        proto = onnx.load_from_string(original)
        tensor = proto.graph.initializer[0]
        tensor.data_location = onnx.TensorProto.EXTERNAL
        del tensor.external_data[:]
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", location
        tensor.ClearField("raw_data")
        heads.write_bytes(proto.SerializeToString())
        with pytest.raises(ArtifactError, match=message):
            Classifier(model)


# -- training state and resume -----------------------------------------------------------------
TRAIN = textwrap.dedent("""
    import sys
    from avsc_edge.config import ClipConfig, FeatureConfig, ModelConfig, TrainConfig
    from avsc_edge.training.train import train
    cfg = ModelConfig(d=32, heads=4, audio_channels=(8, 16), visual_channels=(8, 16), visual_blocks=(1, 1))
    train(sys.argv[1], sys.argv[2], cfg, TrainConfig(epochs=4, batch_size=8), FeatureConfig(),
          ClipConfig(seconds=1.5, frame_size=32), resume=sys.argv[3] == "1", progress=False)
""")


@pytest.mark.slow
def test_kill_nine_at_random_points_leaves_a_resumable_or_refused_state(tiny_dataset, tmp_path):
    from safetensors.torch import load_file

    from avsc_edge.training.train import STATE_FILE

    ref = tmp_path / "reference"
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", TRAIN, str(tiny_dataset), str(ref), "0"], check=True, timeout=300)
    duration = time.monotonic() - t0
    expected = load_file(str(ref / "model.safetensors"))
    rng = random.Random(1)
    outcomes = {"resumed": 0, "refused": 0}
    for k in range(20):
        out = tmp_path / f"run{k}"
        proc = subprocess.Popen([sys.executable, "-c", TRAIN, str(tiny_dataset), str(out), "0"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        saved = k % 2 == 1   # odd kills land after the first saved state (whatever the machine's load)
        if saved:
            deadline = time.monotonic() + 300
            while not (out / STATE_FILE).exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.5) * duration)
        else:
            time.sleep(rng.uniform(0.2, 1.0) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        again = subprocess.run([sys.executable, "-c", TRAIN, str(tiny_dataset), str(out), "1"], capture_output=True,
                               text=True, timeout=300)
        if again.returncode != 0:
            assert not saved and "nothing to resume" in again.stderr, again.stderr[-500:]
            outcomes["refused"] += 1
            continue
        got = load_file(str(out / "model.safetensors"))
        assert all(float((got[n] - expected[n]).abs().max()) < 1e-4 for n in expected), f"kill {k} diverged"
        outcomes["resumed"] += 1
    assert outcomes["resumed"] >= 10, outcomes


def test_resume_refuses_other_settings(tiny_dataset, tmp_path):
    out = tmp_path / "r"
    base = ["train", tiny_dataset, "--out", out, "--epochs", "1", "--batch-size", "8", "--variant", "av"]
    assert run_cli(*base, "--window", "1.5").returncode == 0
    for change, word in ((["--window", "1.5", "--preset", "base"], "features."), (["--window", "1.0"], "clip.seconds")):
        res = run_cli(*base, "--resume", *change)
        assert res.returncode == 2 and word in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_written_files_follow_the_users_umask(tmp_path):
    """Temporary names are unique, yet the files keep the permissions a plain write would give."""
    from avsc_edge.formats.artifact import atomic_write
    from avsc_edge.runtime.outputs import ResultFile

    old = os.umask(0o022)
    try:
        model = atomic_write(tmp_path / "m.bin", lambda t: t.write_bytes(b"weights"))
        out = ResultFile(tmp_path / "r.csv", "--csv")
        out.open().write("filename\n")
        results = out.finish(True)
    finally:
        os.umask(old)
    assert [oct(p.stat().st_mode & 0o777) for p in (model, results)] == ["0o644", "0o644"]
