"""The ``edge`` preset through the whole SDK, on a small edge-shaped model (the preset's front end
and backbones; 1.5-s windows, 64-px frames, two frames): training, checkpoints, the FP32 and INT8
exports with their split graphs, every backend on the same clip, streaming (the pre-emphasised
front end fed chunk by chunk; incremental vs from scratch), TensorRT profiles from the registry."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from conftest import TINY_SECONDS  # noqa: E402
from stream_windows import window_scores  # noqa: E402

from avsc_edge import Classifier  # noqa: E402
from avsc_edge.backbones import audio_stride, audio_token_channels  # noqa: E402
from avsc_edge.config import TrainConfig, preset  # noqa: E402
from avsc_edge.formats.artifact import PARTS  # noqa: E402
from avsc_edge.preprocess.audio_features import log_mel  # noqa: E402
from avsc_edge.stream import StreamConfig, StreamState  # noqa: E402

SR, FPS = 44100, 10.0
# The incremental path reads the window's audio tokens off the stream's fixed token grid, the
# from-scratch path cuts them at the window's start. The edge model's scores differ by more than
# tiny's, and not for missing left context (a 2- or 3-token margin did not shrink it) nor for how
# the audio arrives (equal chunking gave equal differences): most likely the grid's shift. Measured on 12
# random inputs with this module's 1-epoch model: 0.0053-0.0104 before SF's pair features (0.4.2),
# 0.0060-0.0117 after; tiny's bound (0.01, tests/test_stream.py) failed 1 and 3 of them.
INCREMENTAL_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def edge_run(tiny_dataset, tmp_path_factory):
    from avsc_edge.export.pipeline import export_onnx_model, run_recipe
    from avsc_edge.export.recipes import load_recipe
    from avsc_edge.training.train import train

    features, clip, model = preset("edge", clip=dict(seconds=TINY_SECONDS, frame_size=64, num_frames=2),
                                   model=dict(d=32, heads=4))
    out = tmp_path_factory.mktemp("edge")
    ckpt = train(tiny_dataset, out / "run", model, TrainConfig(epochs=1, batch_size=8), features, clip,
                 progress=False).checkpoint
    fp32 = run_recipe(ckpt, load_recipe("cpu-fp32"), out / "fp32" / "model.onnx").artifact
    (out / "int8").mkdir()
    int8 = export_onnx_model(ckpt, load_recipe("cpu-int8"), out / "int8" / "model.int8.onnx", str(tiny_dataset))
    return ckpt, fp32, int8


def test_edge_checkpoint_carries_the_preset(edge_run):
    clf = Classifier(edge_run[0])
    f, m = clf.info.feature_config, clf.info.model_config
    assert (f.preemphasis, f.mel_scale, f.log, f.n_mels) == (0.97, "kaldi", "ln", 128)
    assert (m.audio_backbone, m.audio_width, m.visual_backbone) == ("mn", 0.4, "mobilenet_v1_025")
    assert (clf.info.clip_config.frame_norm, clf.info.clip_config.frame_geometry) == ("inception", "center_crop")


def test_every_backend_gives_the_same_scores(edge_run, tiny_dataset):
    ckpt, fp32, int8 = edge_run
    clip = sorted(tiny_dataset.rglob("*.mp4"))[3]
    want = Classifier(ckpt).predict(clip)
    got_fp32 = Classifier(fp32).predict(clip)
    got_int8 = Classifier(int8.artifact).predict(clip)
    assert max(abs(want.scores[k] - got_fp32.scores[k]) for k in want.scores) < 1e-4
    assert max(abs(want.scores[k] - got_int8.scores[k]) for k in want.scores) < 0.05
    assert int8.report["validation"]["top1_agreement"] >= 0.9
    names = {p.name for p in int8.files}
    assert all(any(f".{part}." in n for n in names) for part in PARTS if part != "full")


def test_tensorrt_profiles_follow_the_audio_backbone(edge_run):
    from avsc_edge.export.tensorrt_build import input_profiles

    info = Classifier(edge_run[1]).info
    m = info.model_config
    assert audio_stride(m) == 32 and audio_token_channels(m) == 384          # mn04: 6 x 64 channels
    profile = input_profiles(info, "audio_slots", (1, 4, 8))["tokens"]
    assert profile[1][-1] == 384
    assert input_profiles(info, "audio_tokens", (1, 4, 8))["log_mel"][0][-1] == 32


def synthetic(seconds, rng):
    t = np.arange(int(SR * seconds)) / SR
    audio = (rng.standard_normal(t.size) * 0.05 + 0.2 * np.sin(2 * np.pi * 440 * t * (1 + t / 10))).astype(np.float32)
    frames = rng.integers(0, 255, (int(seconds * FPS), 48, 64, 3), dtype=np.uint8)
    return audio, frames


def feed(state, audio, frames, rng):
    preds, pos, fi = [], 0, 0
    while pos < len(audio):
        n = int(rng.integers(50, 6000))
        preds += state.add_audio(audio[pos:pos + n], pos / SR)
        pos += n
        while fi < len(frames) and fi / FPS <= pos / SR:
            preds += state.add_frame(frames[fi], fi / FPS)
            fi += 1
    return preds


@pytest.mark.parametrize("which", [0, 2])
def test_incremental_stream_is_within_tolerance_of_from_scratch(edge_run, which, rng):
    artifact = edge_run[0] if which == 0 else edge_run[2].artifact
    clf = Classifier(artifact)
    audio, frames = synthetic(6.0, rng)
    inc_state = StreamState(clf, SR, StreamConfig(hop=0.5))
    inc = feed(inc_state, audio, frames, np.random.default_rng(1))
    scratch_state = StreamState(clf, SR, StreamConfig(hop=0.5, incremental=False))
    scratch = feed(scratch_state, audio, frames, np.random.default_rng(2))
    assert len(inc) == len(scratch) >= 8
    diff = max(max(abs(a.scores[k] - b.scores[k]) for k in a.scores) for a, b in zip(inc, scratch))
    assert diff < INCREMENTAL_TOLERANCE
    assert inc_state.stats["audio_frames_computed"] < scratch_state.stats["audio_frames_computed"]


def test_stream_from_scratch_equals_the_model_on_the_same_window(edge_run, rng):
    """The stream's pre-emphasised, resampled log-mel (fed in chunks) is the whole signal's."""
    from avsc_edge.media import Resampler

    clf = Classifier(edge_run[0])
    f, clip = clf.info.feature_config, clf.info.clip_config
    audio, frames = synthetic(4.0, rng)
    state = StreamState(clf, SR, StreamConfig(hop=0.5, incremental=False))
    preds = feed(state, audio, frames, np.random.default_rng(5))
    resampler = Resampler(f.sr, mono=True)
    resampled = np.concatenate([resampler.push_array(audio[None], SR)[0], resampler.flush()[0]])
    full = log_mel(resampled, f)
    model = clf.backend.model
    for p in preds[::2]:
        probs = window_scores(model, state, full, frames, FPS, p.timestamp, clip)
        assert np.abs(probs - np.array(list(p.scores.values()))).max() < 1e-3


def test_int8_keeps_the_mobilenet_branches_fp32_and_quantises_the_heads(edge_run):
    """MobileNetV3 under ONNX Runtime's QDQ ran slower than FP32 (hardswish and squeeze-excitation
    stay FP32 between quantised convolutions), and quantising the slot pooling over its tokens
    flipped top-1 decisions (benchmarks/README.md R3.5): the registry keeps both FP32 (MobileNetV1 0.25:
    benchmarks/README.md R4.1)."""
    import onnx

    from avsc_edge.formats.artifact import part_paths

    parts = part_paths(edge_run[2].artifact)
    for part in ("audio_tokens", "audio_slots", "frames"):
        graph = onnx.load(str(parts[part])).graph
        consumers = {i: n for n in graph.node for i in n.input}
        quantised = [consumers[n.output[0]].name for n in graph.node
                     if n.op_type == "DequantizeLinear" and n.output[0] in consumers]
        assert not [q for q in quantised if "backbone/" in q or "slots/" in q], part
        assert any(n.op_type in ("Conv", "MatMul") and ("backbone/" in n.name or "slots/" in n.name)
                   for n in graph.node)
    heads = onnx.load(str(parts["heads"])).graph
    assert any(n.op_type == "DequantizeLinear" for n in heads.node)


def test_batch_norm_statistics_are_recomputed_over_the_data(rng):
    """refresh_batch_norm: each MobileNet batch norm's running mean becomes its input's mean over
    the whole data with the current weights (the trainer runs it after every epoch)."""
    from avsc_edge.model import AVSCModel
    from avsc_edge.training.train import refresh_batch_norm, stale_norm_backbones

    features, clip, model_cfg = preset("edge", clip=dict(seconds=1.0, frame_size=64, num_frames=2),
                                       model=dict(d=32, heads=4))
    model = AVSCModel(model_cfg, features.n_mels)
    log_mel = rng.standard_normal((6, 1, features.n_mels, 96)).astype(np.float32)
    frames = rng.standard_normal((6, 2, 3, 64, 64)).astype(np.float32)
    stem = model.visual.backbone.features[0]
    stem.bn.running_mean.fill_(5.0)
    refresh_batch_norm(model, stale_norm_backbones(model, []), log_mel, frames, 3, "cpu")
    with torch.no_grad():
        want = stem.conv(stem.pad(torch.from_numpy(frames).flatten(0, 1))).mean(dim=(0, 2, 3))
    torch.testing.assert_close(stem.bn.running_mean, want, rtol=1e-4, atol=1e-5)
    assert stem.bn.momentum == 0.1 and model.training            # the mode it was called in
    assert stale_norm_backbones(model, [model.audio.backbone]) == [model.visual.backbone]
