"""``avsc-edge adapt``: few-shot models from real recordings, without torch; the heads graph against
the NumPy heads; the artifact through predict, stream, bench, explain and export; ``--add``; and one
clear line for each kind of bad folder, with nothing written."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avsc_edge import Classifier
from avsc_edge.errors import DatasetError, InputError
from avsc_edge.tagging.bundle import SAMPLES
from avsc_edge.tagging.fewshot import adapt
from avsc_edge.tagging.heads import fit, heads_graph

CLI = [sys.executable, "-m", "avsc_edge.cli"]
GROUPS = {"barnyard": ("cow", "horse", "pig", "sheep"), "birds": ("owl", "duck", "rooster"), "other": ("cat", "dog", "frog")}


def animals(root: Path, groups=GROUPS) -> Path:
    for label, names in groups.items():
        (root / label).mkdir(parents=True)
        for name in names:
            shutil.copy(SAMPLES / "animals" / f"{name}.mp3", root / label / f"{name}.mp3")
    return root


@pytest.fixture(scope="module")
def adapted(tmp_path_factory):
    """The animal recordings learnt in a process that cannot import torch."""
    root = animals(tmp_path_factory.mktemp("animals") / "recordings")
    out = tmp_path_factory.mktemp("model") / "animals.onnx"
    code = ("import sys; sys.modules['torch'] = None; from avsc_edge.cli import main; "
            f"sys.exit(main(['adapt', r'{root}', '--out', r'{out}', '--json']))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return root, out, json.loads(run.stdout)


def test_the_heads_graph_computes_the_numpy_heads(tmp_path, rng):
    import onnxruntime as ort

    from avsc_edge.formats.onnx_write import model_bytes
    from avsc_edge.runtime.prediction import softmax

    labels, da, dv, frames = 4, 384, 256, 3
    audio = fit("centroid", rng.standard_normal((12, da)), np.arange(12) % labels, labels)
    visual = fit("logistic", rng.standard_normal((12, dv)), np.arange(12) % labels, labels)
    path = tmp_path / "heads.onnx"
    path.write_bytes(model_bytes(heads_graph(audio, visual)))
    onnx = pytest.importorskip("onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    e, v = rng.standard_normal((5, 1, da)).astype(np.float32), rng.standard_normal((5, frames, 1, dv)).astype(np.float32)
    ep, fp = rng.standard_normal((5, 527)).astype(np.float32), rng.standard_normal((5, frames, 1000)).astype(np.float32)
    out = dict(zip(["scene_logits", "audio_logits", "visual_logits", "event_logits", "object_logits"],
                   ort.InferenceSession(str(path)).run(None, {"event_emb": e, "event_presence": ep, "frame_emb": v,
                                                              "frame_presence": fp})))
    want_a, want_v = audio.logits(e[:, 0]), visual.logits(v[:, :, 0].mean(axis=1))
    np.testing.assert_allclose(out["audio_logits"], want_a, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["visual_logits"], want_v, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["scene_logits"], want_a + want_v, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out["event_logits"], ep)
    np.testing.assert_array_equal(out["object_logits"], fp.max(axis=1))
    assert softmax(out["scene_logits"]).shape == (5, labels)


def test_adapt_learns_real_recordings_and_reports_its_check(adapted):
    _, out, report = adapted
    assert report["labels"] == ["barnyard", "birds", "other"] and report["recordings"] == 10
    assert report["head"] in ("centroid", "logistic") and 0 < report["unknown_below"] <= 1
    assert {"centroid", "logistic"} == set(report["evaluations"])
    confusion = np.array(report["evaluations"][report["head"]]["confusion"])
    assert confusion.sum() == 10 and confusion.shape == (3, 3)
    names = {p.name for p in out.parent.iterdir()}
    assert names == {"animals.audio_tokens.onnx", "animals.audio_slots.onnx", "animals.frames.onnx",
                     "animals.heads.onnx", "animals.support.safetensors"}


def test_the_adapted_model_is_a_normal_artifact(adapted, tmp_path, tiny_dataset):
    root, out, _ = adapted
    clf = Classifier(out)
    assert clf.info.model_config.variant == "fewshot" and clf.labels == ("barnyard", "birds", "other")
    p = clf.predict(root / "birds" / "owl.mp3")
    assert p.label in clf.labels + ("unknown",) and p.events[0][0] == "Owl"
    streamed = list(clf.stream(SAMPLES / "big_buck_bunny_0_30.webm", hop=5.0))
    assert streamed and all(s.modalities == ("audio", "visual") for s in streamed)
    film = clf.predict(SAMPLES / "big_buck_bunny_432_433.webm")
    assert any("learnt its labels from audio alone" in n for n in film.notes)
    copy = tmp_path / "copy.onnx"
    assert subprocess.run([*CLI, "export", str(out), "--recipe", "cpu-fp32", "-o", str(copy)], capture_output=True,
                          timeout=300).returncode == 0
    assert Classifier(copy).predict(root / "birds" / "owl.mp3").scores == pytest.approx(p.scores, abs=1e-6)
    bench = subprocess.run([*CLI, "bench", str(out), "--data", str(tiny_dataset), "--clips", "2", "--repeats", "1",
                            "--json", str(tmp_path / "b.json")], capture_output=True, text=True, timeout=300)
    assert bench.returncode == 0, bench.stderr
    pytest.importorskip("matplotlib")
    explain = subprocess.run([*CLI, "explain", str(SAMPLES / "big_buck_bunny_432_433.webm"), "--model", str(out), "--out",
                              str(tmp_path / "x.png")], capture_output=True, text=True, timeout=300)
    assert explain.returncode == 0 and (tmp_path / "x.png").stat().st_size > 1000, explain.stderr


def test_add_puts_new_labels_in_without_the_old_recordings(adapted, tmp_path):
    root, out, _ = adapted
    model = tmp_path / "grown.onnx"
    for f in out.parent.iterdir():
        shutil.copy(f, tmp_path / f.name.replace("animals", "grown"))
    film = tmp_path / "more" / "film"
    film.mkdir(parents=True)
    for i, name in enumerate(["big_buck_bunny_0_30.webm", "big_buck_bunny_432_433.webm", "big_buck_bunny_0_30.webm"]):
        shutil.copy(SAMPLES / name, film / f"{i}.webm")
    result = adapt(tmp_path / "more", model, add=True)
    assert result.labels == ["barnyard", "birds", "film", "other"] and result.recordings == 13
    assert Classifier(model).predict(SAMPLES / "big_buck_bunny_432_433.webm").label == "film"
    with pytest.raises(InputError, match="in the model already"):
        adapt(tmp_path / "more", model, add=True)


@pytest.mark.parametrize("problem,message", [
    ("two", "2 recordings; a label needs at least 3"), ("empty", "an empty label folder"),
    ("not-media", "not a readable media file"), ("one-label", "a scene model needs at least two"),
])
def test_bad_folders_are_one_line_each_and_nothing_is_written(tmp_path, problem, message):
    root = tmp_path / "recordings"
    groups = {"barnyard": GROUPS["barnyard"]} if problem == "one-label" else dict(GROUPS)
    if problem == "two":
        groups["birds"] = ("owl", "duck")
    animals(root, groups)
    if problem == "empty":
        (root / "dock").mkdir()
    if problem == "not-media":
        (root / "birds" / "notes.wav").write_text("not audio\n" * 50)
    out = tmp_path / "model" / "m.onnx"
    out.parent.mkdir()
    run = subprocess.run([*CLI, "adapt", str(root), "--out", str(out)], capture_output=True, text=True, timeout=300)
    errors = [line for line in run.stderr.splitlines() if not line.startswith("adapt: ")]
    assert run.returncode == 2 and "Traceback" not in run.stderr and message in run.stderr, run.stderr
    assert len(errors) == 1 and not list(out.parent.iterdir())


def test_adapt_never_overwrites_another_model(tiny_checkpoint, tmp_path):
    root = animals(tmp_path / "recordings")
    (tmp_path / "m.heads.onnx").write_bytes(b"another model's graph")
    with pytest.raises(InputError, match="not a few-shot model adapt wrote"):
        adapt(root, tmp_path / "m.onnx")
    with pytest.raises(InputError, match="--add:.*not found"):
        adapt(root, tmp_path / "fresh.onnx", add=True)
    with pytest.raises(DatasetError, match="not a folder"):
        adapt(tmp_path / "missing", tmp_path / "fresh.onnx")


def test_videos_give_the_model_a_visual_head(tiny_dataset, tmp_path):
    from avsc_edge.data import TauDataset

    root = tmp_path / "scenes"
    clips = TauDataset(tiny_dataset).clips("all")      # 2 per scene: two scenes make a label
    for label, scenes in (("transport", ("bus", "tram")), ("outdoors", ("park", "public_square")),
                          ("indoors", ("airport", "shopping_mall"))):
        (root / label).mkdir(parents=True)
        for i, c in enumerate(c for c in clips if c.label in scenes):
            shutil.copy(c.video, root / label / f"{i}.mp4")
    result = adapt(root, tmp_path / "scenes.onnx")
    info = Classifier(tmp_path / "scenes.onnx").info
    assert info.metrics["fewshot"]["visual_windows"] == result.windows > 0
    p = Classifier(tmp_path / "scenes.onnx").predict(root / "outdoors" / "0.mp4")
    assert p.modalities == ("audio", "visual") and not any("alone" in n for n in p.notes if "learnt" in n)


def test_a_recording_far_from_every_label_is_unknown():
    from avsc_edge.config import ArtifactInfo
    from avsc_edge.runtime.prediction import WindowAccumulator

    info = ArtifactInfo(sdk_version="0", labels=("a", "b"), metrics={"fewshot": {"unknown_below": 0.8}})
    acc = WindowAccumulator(info)
    acc.add({"scene_logits": np.array([[0.3, 0.0]], np.float32), "modalities": ("audio",)}, [0.0])
    p = acc.result({}, None, [], None)
    assert p.label == "unknown" and p.top(1)[0][0] == "a" and any("unknown threshold" in n for n in p.notes)
