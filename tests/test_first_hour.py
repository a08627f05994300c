"""Issue 33's wrong-input messages and window notes, each as a new user meets it on the command line."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from avsc_edge.cli import main
from avsc_edge.data.synth import write_av

torch = pytest.importorskip("torch")


def _mn_file(path, width: float):
    from safetensors.torch import save_file

    from avsc_edge.model.mobilenet import MobileNetAudio

    save_file({k: v.contiguous() for k, v in MobileNetAudio(width).state_dict().items()}, str(path))
    return path


def test_a_video_given_as_dataset_says_it_is_a_file_and_what_to_do(tiny_dataset, tmp_path, capsys):
    video = next((tiny_dataset / "video").glob("*.mp4"))
    assert main(["train", str(video), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "a file, not a dataset folder" in err and "avsc-edge predict MODEL" in err
    assert f"synth --out {video}" not in err and not (tmp_path / "run").exists()


def test_a_text_file_as_weights_is_a_clear_error_and_leaves_no_folder(tiny_dataset, tmp_path, capsys):
    text = tmp_path / "weights.pt"
    text.write_text("these are not weights\n" * 20)
    out = tmp_path / "run"
    assert main(["train", str(tiny_dataset), "--out", str(out), "--epochs", "1", "--audio-weights", str(text)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "refused to load: not a PyTorch state dict" in err, err
    assert not out.exists()                   # a refused run leaves no empty --out folder


def test_an_unknown_flag_after_a_subcommand_shows_that_subcommands_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "data", "--out", "x", "--data", "y"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("usage: avsc-edge train ") and "unrecognized arguments: --data" in err


def test_edge_weights_without_the_edge_preset_name_the_options_that_fit(tiny_dataset, tmp_path, capsys):
    mn04, mn10 = _mn_file(tmp_path / "mn04.safetensors", 0.4), _mn_file(tmp_path / "mn10.safetensors", 1.0)
    run = ["train", str(tiny_dataset), "--out", str(tmp_path / "run"), "--epochs", "1"]
    assert main([*run, "--audio-weights", str(mn04)]) == 2
    assert "fits `train --preset edge`" in capsys.readouterr().err
    assert main([*run, "--preset", "edge", "--audio-weights", str(mn10)]) == 2
    assert "fits `train --preset edge --audio-width 1`" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_training_says_which_backbones_were_pretrained(tiny_dataset, tmp_path, capsys):
    from avsc_edge.cli import _pretrained_words

    assert _pretrained_words(["audio", "visual"]) == "pretrained audio and visual backbones"
    assert _pretrained_words(["audio"]) == "pretrained audio backbone, visual from random weights"
    assert _pretrained_words([]) == "no pretrained weights"
    assert main(["train", str(tiny_dataset), "--out", str(tmp_path / "run"), "--epochs", "1", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert metrics["pretrained_loaded"] == []
    assert metrics["ceilings"] == json.loads((tiny_dataset / "synth_ground_truth.json").read_text())["ceilings"]
    assert main(["train", str(tiny_dataset), "--out", str(tmp_path / "run2"), "--epochs", "1"]) == 0
    assert "a perfect tagger of what this model sees reaches" in capsys.readouterr().out


def test_predict_says_when_a_tail_is_left_out_and_writes_no_empty_errors_file(tiny_checkpoint, tmp_path, capsys):
    from avsc_edge import Classifier

    clf = Classifier(tiny_checkpoint)
    seconds = clf.info.clip_config.seconds
    rng = np.random.default_rng(5)
    clip = tmp_path / "long.mp4"
    duration = 1.4 * seconds          # one window and a tail shorter than half a window
    frames = rng.integers(0, 255, (int(duration * 5), 48, 64, 3), dtype=np.uint8)
    write_av(clip, frames, 5.0, (rng.standard_normal((1, int(16000 * duration))) * 0.1).astype(np.float32), 16000,
             "libx264", "aac")
    notes = clf.predict(clip).notes
    tail = [float(re.match(r"the last ([0-9.]+) s", n).group(1)) for n in notes if "not classified" in n]
    assert tail and tail[0] == pytest.approx(0.4 * seconds, abs=0.1), notes   # AAC pads the end a little
    csv = tmp_path / "rows.csv"
    assert main(["predict", str(tiny_checkpoint), str(clip), "--csv", str(csv)]) == 0
    assert csv.is_file() and not (tmp_path / "rows.errors.tsv").exists()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\0" * 100)
    assert main(["predict", str(tiny_checkpoint), str(clip), str(bad), "--csv", str(csv)]) == 1
    assert "bad.mp4" in (tmp_path / "rows.errors.tsv").read_text()
    assert main(["predict", str(tiny_checkpoint), str(clip), "--csv", str(csv)]) == 0
    assert (tmp_path / "rows.errors.tsv").read_text() == ""   # an earlier run's errors are not left standing
    capsys.readouterr()


def test_a_cpu_model_runs_one_window_at_a_time_unless_told_with_the_same_results(tiny_checkpoint, tmp_path):
    # batch 8 on a CPU only cost memory (20 720p clips, edge INT8: 346 MB vs 181 MB at batch 1, no faster)
    from avsc_edge import Classifier

    one = Classifier(tiny_checkpoint)
    assert one.engine.device == "cpu" and one.batch_size == 1
    four = Classifier(tiny_checkpoint, batch_size=4)
    assert four.batch_size == 4
    seconds = one.info.clip_config.seconds
    rng = np.random.default_rng(9)
    clip = tmp_path / "five.mp4"
    duration = 5 * seconds
    write_av(clip, rng.integers(0, 255, (int(duration * 5), 48, 64, 3), dtype=np.uint8), 5.0,
             (rng.standard_normal((1, int(16000 * duration))) * 0.1).astype(np.float32), 16000, "libx264", "aac")
    a, b = one.predict(clip), four.predict(clip)
    assert len(a.windows) == len(b.windows) >= 4
    for wa, wb in zip(a.windows, b.windows):
        assert wa["scores"].keys() == wb["scores"].keys()
        assert max(abs(wa["scores"][k] - wb["scores"][k]) for k in wa["scores"]) < 1e-5


def test_training_on_clips_shorter_than_the_window_says_they_are_padded(tiny_dataset, tmp_path):
    from avsc_edge.config import ClipConfig
    from avsc_edge.data import TauDataset
    from avsc_edge.training.train import padding_note

    ds = TauDataset(tiny_dataset)
    assert padding_note(ds, ClipConfig(seconds=1.5)) is None
    note = padding_note(ds, ClipConfig(seconds=10.0))
    assert note.startswith("the clips are 1.5 s long and the window 10 s: each is padded"), note


def test_stream_json_names_the_time_as_the_python_api_does(tiny_checkpoint, tiny_dataset, capsys):
    clip = next((tiny_dataset / "video").glob("*.mp4"))
    assert main(["stream", str(clip), "--model", str(tiny_checkpoint), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines and all("timestamp" in line and "t" not in line for line in lines)


def test_readme_names_no_stale_version():
    from pathlib import Path

    from avsc_edge.version import __version__

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert all(v == __version__ for v in re.findall(r"avsc_edge-(\d+\.\d+\.\d+)", readme))


def test_edge_trains_with_a_batch_that_fits_two_gigabytes():
    from avsc_edge.cli import _train_configs, build_parser

    def batch(*argv):
        return _train_configs(build_parser().parse_args(["train", "d", "--out", "o", *argv]))[1].batch_size

    assert batch("--preset", "edge") == 16
    assert batch("--preset", "tiny") == 32 and batch("--preset", "base") == 32
    assert batch("--preset", "edge", "--batch-size", "8") == 8
