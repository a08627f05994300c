"""The genuine weights inside the package, checked against the references' own code on every real
recording and photograph the repository carries: EfficientAT's model and front end
(tests/data/efficientat_reference.json, made by scripts/efficientat_reference.py from EfficientAT's
repository) and Google's TFLite file run by the TFLite interpreter; and ``avsc-edge tag`` on them."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from avsc_edge import media
from avsc_edge.preprocess.frames import normalize_frames
from avsc_edge.tagging.bundle import SAMPLES, WEIGHTS, manifest
from avsc_edge.tagging.tagger import Tagger

from references import need

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "efficientat_reference.json").read_text())
CLI = [sys.executable, "-m", "avsc_edge.cli"]
# the animal, or the AudioSet parent EfficientAT's ontology puts it under
ANIMALS = {"cat": {"Cat", "Meow", "Domestic animals, pets"}, "cow": {"Cattle, bovinae", "Moo", "Livestock, farm animals, working animals"},
           "dog": {"Dog", "Bark", "Domestic animals, pets"}, "duck": {"Duck", "Quack", "Fowl"},
           "frog": {"Frog", "Croak"}, "horse": {"Horse", "Neigh, whinny", "Livestock, farm animals, working animals"},
           "owl": {"Owl", "Hoot", "Bird"}, "pig": {"Pig", "Oink", "Livestock, farm animals, working animals"},
           "rooster": {"Chicken, rooster", "Crowing, cock-a-doodle-doo", "Fowl"},
           "sheep": {"Sheep", "Bleat", "Livestock, farm animals, working animals"}}


@pytest.fixture(scope="module")
def tagger():
    return Tagger(top_k=5)


def sample(name: str) -> Path:
    return SAMPLES / ("animals" if name.endswith(".mp3") else "") / name


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_shipped_weights_are_the_files_the_converter_wrote():
    files = manifest()["files"]
    assert set(files) == {"audio_tagger.onnx", "mn04_as.safetensors", "mobilenet_v1_025.safetensors",
                          "parts/audio_tokens.onnx", "parts/audio_slots.onnx", "parts/frames.onnx"}
    for name, entry in files.items():
        assert sha256(WEIGHTS / name) == entry["sha256"], name
    assert (WEIGHTS / "LICENSE-EfficientAT").read_text().startswith("MIT License")


@pytest.mark.parametrize("name", sorted(REFERENCE["files"]))
def test_audio_tags_equal_efficientats_own_code_end_to_end(tagger, name):
    """From the raw file (decode, downmix, resample, front end, network) to EfficientAT's
    probabilities (its model and AugmentMelSTFT, librosa.load), every one of the 527 within 1e-3
    relative."""
    ref = REFERENCE["files"][name]
    path = sample(name)
    assert sha256(path) == ref["sha256"]
    samples = media.load_audio(path, tagger.features.sr)[0]
    assert samples.size == ref["samples"]
    ours, theirs = tagger.audio_probabilities(samples), np.asarray(ref["probabilities"])
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-7)


def test_a_short_clip_is_tagged_at_its_own_length(tagger):
    """EfficientAT tags a 3-s clip at 3 s; padding it to the 10-s window with silence would change it."""
    name = "cat.mp3"
    tags = tagger.tag(sample(name))
    best, p = tags.windows[0].events[0]
    theirs = np.asarray(REFERENCE["files"][name]["probabilities"])
    assert p == pytest.approx(theirs.max(), rel=1e-3) and any("own length" in n for n in tags.notes)
    padded = tagger.audio_probabilities(np.pad(media.load_audio(sample(name), 32000)[0], (0, 32000 * 7)))
    assert np.abs(padded - theirs).max() > 0.01       # what padding would have cost


def test_the_animal_is_heard_in_the_top_five(tagger):
    found = {}
    for animal, accepted in ANIMALS.items():
        names = {n for n, _ in tagger.tag(sample(f"{animal}.mp3")).events[:5]}
        found[animal] = bool(names & accepted)
    assert sum(found.values()) >= 8, found


def frames_of_the_film(times) -> np.ndarray:
    frames, _ = media.sample_frames(sample("big_buck_bunny_0_30.webm"), times, size=128, geometry="center_crop")
    return frames


def photographs() -> dict[str, np.ndarray]:
    return {p.name: media.resize_frames(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)[None], 128, "center_crop")[0]
            for p in sorted((DATA / "images").glob("*.*")) if p.suffix in (".bmp", ".jpg")}


def test_visual_tags_equal_the_tflite_interpreter_on_photographs_and_film(tagger):
    """The same 128-px frames through Google's INT8 file (the TFLite interpreter) and through the
    dequantised graph the package ships: the same best class, except where the reference's own
    output ties its best two (its uint8 output steps by 1/256), and at least 4 of the top 5."""
    need("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(DATA / "mobilenet_v1_0.25_128_quant.tflite"))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero = out["quantization"]
    inputs = {**photographs(), **{f"film {t:.1f} s": f for t, f in zip(np.arange(0.5, 30, 2.0),
                                                                    frames_of_the_film(list(np.arange(0.5, 30, 2.0))))}}
    for name, rgb in inputs.items():
        interpreter.set_tensor(inp["index"], rgb[None])
        interpreter.invoke()
        ref = ((interpreter.get_tensor(out["index"])[0].astype(np.float32) - zero) * scale)[1:]
        ours = tagger.frame_probabilities(normalize_frames(rgb[None], "inception"))[0]
        a, b = np.argsort(-ref), np.argsort(-ours)
        tied = ref[a[0]] - ref[a[1]] < scale / 2
        assert a[0] == b[0] or tied, name
        assert len(set(a[:5]) & set(b[:5])) >= 4, name


def test_tag_runs_without_torch_and_prints_json(tmp_path):
    code = ("import sys; sys.modules['torch'] = None; from avsc_edge.cli import main; "
            f"sys.exit(main(['tag', r'{sample('owl.mp3')}', r'{sample('big_buck_bunny_432_433.webm')}', '--json']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [Path(r["path"]).name for r in rows] == ["owl.mp3", "big_buck_bunny_432_433.webm"]
    assert rows[0]["events"][0][0] == "Owl" and rows[1]["objects"] and rows[1]["windows"][0]["end"] <= 1.05


def test_tag_keeps_going_over_bad_files_with_a_summary(tmp_path):
    (tmp_path / "good.mp3").write_bytes(sample("frog.mp3").read_bytes())
    (tmp_path / "bad.mp4").write_bytes(b"not a video" * 100)
    out = subprocess.run([*CLI, "tag", str(tmp_path), "--timeline"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "heard: Frog" in out.stdout and "bad.mp4: error:" in out.stderr and "tag: 1 ok, 1 failed" in out.stderr
