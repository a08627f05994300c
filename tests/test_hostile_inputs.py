"""Cheap inputs that used to cost without bound, and metadata that used to be trusted: each is a
typed error found before anything large is allocated or decoded."""
from __future__ import annotations

import json
import os
import resource
import time

import numpy as np
import pytest

from avsc_edge import Classifier
from avsc_edge.data.synth import write_av, write_wav
from avsc_edge.errors import ArtifactError, MediaError
from avsc_edge.formats.artifact import META_KEY
from avsc_edge.formats.onnx_file import read_metadata_props

torch = pytest.importorskip("torch")


def sparse_mkv(path, gap: float = 1e7):
    """Two frames ``gap`` seconds apart in a 1.4-KB file."""
    import fractions

    import av

    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=1)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.codec_context.time_base = fractions.Fraction(1, 1)
        for i, t in enumerate([0, int(gap)]):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 100 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, fractions.Fraction(1, 1)
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    return path


def test_a_tiny_file_claiming_years_of_video_is_refused_at_once(tiny_checkpoint, tmp_path):
    path = sparse_mkv(tmp_path / "sparse.mkv")
    assert path.stat().st_size < 4096
    clf = Classifier(tiny_checkpoint)
    t0 = time.monotonic()
    for run in (lambda: clf.predict(path), lambda: list(clf.stream(path))):
        with pytest.raises(MediaError, match="claims 10000001 s, more than 10000 windows"):
            run()
    assert time.monotonic() - t0 < 10


def rewritten(checkpoint, out, change_model=None, change_info=None, weights=None):
    """The checkpoint with its metadata (and optionally its weights) changed."""
    from safetensors.torch import load_file, save_file

    from avsc_edge.formats.checkpoint import read_header

    meta = json.loads(read_header(checkpoint)["__metadata__"][META_KEY])
    meta["model"].update(change_model or {})
    meta.update(change_info or {})
    save_file(weights or load_file(str(checkpoint)), str(out), metadata={META_KEY: json.dumps(meta)})
    return out


@pytest.mark.parametrize("model,info,message", [
    ({"d": 131072}, {}, "sizes"), ({"n_scenes": 10_000_000}, {}, "sizes"), ({"heads": 1000}, {}, "heads"),
    ({}, {"features": {"sr": 1_000_000_000}}, "sr must be in"),
    ({}, {"clip": {"seconds": 600.0}, "features": {"sr": 192000, "n_fft": 64, "hop_length": 16}}, "too large"),
    ({}, {"labels": ["a", "b", "c"]}, "3 labels for a model with 10"),
    ({}, {"events": ["x"]}, "1 events for a model with"),
])
def test_metadata_is_bounded_and_cross_checked_before_allocation(tiny_checkpoint, tmp_path, model, info, message):
    bad = rewritten(tiny_checkpoint, tmp_path / "bad.safetensors", model, info)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ArtifactError, match=message):
        Classifier(bad)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024   # KB: nothing large allocated


def test_nan_weights_are_refused(tiny_checkpoint, tmp_path):
    from safetensors.torch import load_file

    weights = load_file(str(tiny_checkpoint))
    name = next(k for k, v in weights.items() if v.is_floating_point() and v.numel() > 4)
    weights[name] = torch.full_like(weights[name], float("nan"))
    with pytest.raises(ArtifactError, match="NaN or inf"):
        Classifier(rewritten(tiny_checkpoint, tmp_path / "nan.safetensors", weights=weights))


def test_non_finite_scores_are_an_error_not_an_answer(tiny_checkpoint, tiny_dataset):
    """Weights damaged after loading (or in an ONNX graph, which is not scanned): the runner refuses
    the scores instead of returning a label chosen from NaN."""
    from avsc_edge.model import from_checkpoint
    from avsc_edge.runtime.runner import ModelRunner
    from avsc_edge.runtime.torch_backend import TorchBackend

    model, info = from_checkpoint(tiny_checkpoint)
    with torch.no_grad():
        for p in model.fusion_head.parameters():
            p.fill_(float("nan"))
    clf = Classifier(tiny_checkpoint)
    clf.runner = ModelRunner(TorchBackend.from_model(model, info))
    clip = next((tiny_dataset / "video").glob("*.mp4"))
    with pytest.raises(ArtifactError, match="non-finite"):
        clf.predict(clip)


def test_a_pickle_renamed_safetensors_is_a_typed_error(tmp_path):
    from avsc_edge.model.pretrained import read_state

    path = tmp_path / "weights.safetensors"
    torch.save({"conv1.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(ArtifactError, match="not a readable .safetensors file"):
        read_state(path)


@pytest.mark.parametrize("pattern", [b"\x00", b"\x08\x01"])
def test_a_two_gigabyte_onnx_of_junk_is_refused_in_seconds(tmp_path, pattern):
    path = tmp_path / "junk.onnx"
    if pattern == b"\x00":
        with open(path, "wb") as f:       # sparse: no disk used
            f.truncate(2 << 30)
    else:
        path.write_bytes(pattern * (1 << 23))
    t0 = time.monotonic()
    with pytest.raises(ArtifactError, match="not a valid ONNX model"):
        read_metadata_props(path)
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("kind", ["video", "audio"])
def test_a_clip_shorter_than_half_a_window_streams_as_it_predicts(tiny_checkpoint, tmp_path, kind):
    rng = np.random.default_rng()
    if kind == "video":
        path = tmp_path / "short.mp4"
        write_av(path, rng.integers(0, 255, (2, 48, 64, 3), dtype=np.uint8), 5.0, None, 16000)   # 0.4 s
    else:
        path = tmp_path / "short.wav"
        write_wav(path, (rng.standard_normal((1, 5000)) * 0.1).astype(np.float32), 16000)           # 0.31 s
    clf = Classifier(tiny_checkpoint)
    p = clf.predict(path)
    streamed = list(clf.stream(path, hop=0.5))
    assert len(streamed) == 1 and streamed[0].modalities == p.modalities
    assert any("padded" in n for n in streamed[0].notes)


def test_symlinked_model_parts_and_outputs_are_not_written_through(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep")
    link = tmp_path / "out.json"
    link.symlink_to(target)
    from avsc_edge.runtime.outputs import write_output

    write_output(link, "{}")       # the link is replaced, the file it pointed to is untouched
    assert target.read_text() == "keep" and not link.is_symlink() and link.read_text() == "{}"
    assert os.path.exists(target)
