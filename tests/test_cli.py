"""The command line, run as a user would (subprocess) and in-process for speed."""
import json
import shutil
import subprocess
import sys

import pytest

from avsc_edge.cli import main


def test_help_has_examples():
    out = subprocess.run([sys.executable, "-m", "avsc_edge.cli", "synth", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "example:" in out.stdout and "avsc-edge synth --out" in out.stdout


def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kernels"]["log_mel"] in ("c++", "reference (numpy)")


def test_synth_json(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "d"), "--clips", "20", "--duration", "0.5", "--width", "32",
                 "--height", "32", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["clips"] == 20
    assert (tmp_path / "d" / "evaluation_setup" / "fold1_test.csv").is_file()


def test_small_or_empty_splits_are_one_line_errors_before_any_work(tiny_dataset, tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "d"), "--clips", "10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["avsc-edge synth: error: need at least 20 clips (two per scene: every scene is trained on and "
                   "evaluated), got 10"] and not (tmp_path / "d").exists()
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data, ignore=shutil.ignore_patterns(".avsc_cache"))
    evaluate = data / "evaluation_setup" / "fold1_evaluate.csv"
    evaluate.write_text(evaluate.read_text().splitlines()[0] + "\n")
    assert main(["train", str(data), "--out", str(tmp_path / "run"), "--epochs", "1", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the evaluate split lists no clips" in err[0]
    assert not (data / ".avsc_cache").exists()        # refused before extracting the train split


def test_error_is_one_line_and_nonzero(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "missing.safetensors"), str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0]


def test_eval_and_predict(tiny_checkpoint, tiny_dataset, tmp_path, capsys):
    pytest.importorskip("torch")
    png = tmp_path / "cm.png"
    assert main(["eval", str(tiny_checkpoint), str(tiny_dataset), "--plot", str(png), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    from avsc_edge import Classifier
    from avsc_edge.data import TauDataset

    clips = TauDataset(tiny_dataset).clips("evaluate")
    clf = Classifier(tiny_checkpoint)
    correct = [clf.predict(audio=c.audio, video=c.video).label == c.label for c in clips]
    assert m["count"] == 10 and m["accuracy"] == pytest.approx(sum(correct) / 10)  # eval == predict's first window
    assert png.stat().st_size > 1000
    from avsc_edge.export.pipeline import run_recipe
    from avsc_edge.export.recipes import load_recipe

    onnx_model = run_recipe(tiny_checkpoint, load_recipe("cpu-fp32"), tmp_path / "m.onnx").artifact
    assert main(["eval", str(onnx_model), str(tiny_dataset), "--json"]) == 0  # any backend evaluates
    assert json.loads(capsys.readouterr().out)["accuracy"] == m["accuracy"]
    clip = next((tiny_dataset / "video").glob("*.mp4"))
    assert main(["predict", str(tiny_checkpoint), str(clip), "--json"]) == 0
    preds = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # JSON Lines, one per input
    assert len(preds) == 1 and preds[0]["label"] in preds[0]["scores"] and preds[0]["modalities"] == ["audio", "visual"]


@pytest.mark.slow
def test_demo_small(tmp_path, capsys):
    pytest.importorskip("torch")
    assert main(["demo", "--out", str(tmp_path), "--clips", "20", "--epochs", "1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for name in ("model.safetensors", "model.onnx", "model.int8.onnx", "model.int8.heads.onnx", "confusion.png",
                 "summary.json", "data/meta.csv"):
        assert (tmp_path / name).is_file(), name
    from avsc_edge import Classifier

    assert set(summary["ceilings"]) == {"audio", "visual", "audio_visual", "audio_visual_pairs"}
    clip = summary["prediction"]["source"]   # the demo's prediction is the INT8 model's on that clip
    again = Classifier(tmp_path / "model.int8.onnx").predict(clip)
    assert again.label == summary["prediction"]["label"]
    assert again.confidence == pytest.approx(summary["prediction"]["confidence"], abs=1e-6)


def test_demo_says_what_a_missed_clip_holds():
    from avsc_edge.training.demo import miss_note

    note = miss_note({"events": ["engine_hum", "speech_babble"], "objects": ["car"]}, "bus")
    assert note == ("wrong: the clip holds engine_hum, speech_babble (heard) and car (seen); a bus is known by its "
                    "engine_hum heard with a sliding_door seen")
