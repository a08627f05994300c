"""ONNX export, INT8 QDQ quantisation, FP16 conversion, metadata, parity report, reference I/O."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from avsc_edge import Classifier  # noqa: E402
from avsc_edge.data import TauDataset  # noqa: E402
from avsc_edge.errors import ArtifactError, ConfigError  # noqa: E402
from avsc_edge.export.onnx_export import export_onnx, load_reference, read_onnx_info  # noqa: E402
from avsc_edge.export.pipeline import export_onnx_model, run_recipe  # noqa: E402
from avsc_edge.export.recipes import available_recipes, load_recipe  # noqa: E402
from avsc_edge.runtime.artifact import dummy_inputs  # noqa: E402


@pytest.fixture(scope="module")
def fp32(tiny_checkpoint, tmp_path_factory):
    return export_onnx(tiny_checkpoint, tmp_path_factory.mktemp("onnx") / "model.onnx")


@pytest.fixture(scope="module")
def int8(tiny_checkpoint, tiny_dataset, fp32, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8") / "model.int8.onnx"
    return export_onnx_model(tiny_checkpoint, load_recipe("cpu-int8"), out, str(tiny_dataset), fp32_onnx=fp32)


def torch_outputs(model, feeds):
    with torch.no_grad():
        o = model(torch.from_numpy(feeds["log_mel"]), torch.from_numpy(feeds["frames"]))
    return o


@pytest.mark.parametrize("batch", [1, 7])
def test_fp32_matches_pytorch_on_random_inputs(fp32, tiny_checkpoint, batch, rng):
    model, info = load_reference(tiny_checkpoint)
    feeds = dummy_inputs(info, batch, rng)
    session = ort.InferenceSession(str(fp32))
    scene, audio, visual, events, objects, attn = session.run(None, feeds)
    ref = torch_outputs(model, feeds)
    for ours, theirs in ((scene, ref.scene_logits), (audio, ref.audio_logits), (visual, ref.visual_logits),
                         (events, ref.event_logits), (objects, ref.object_logits), (attn, ref.event_to_object)):
        np.testing.assert_allclose(ours, theirs.numpy(), atol=2e-5, rtol=1e-4)


def test_fp32_matches_pytorch_on_real_clips(fp32, tiny_checkpoint, tiny_dataset):
    clip = TauDataset(tiny_dataset).clips("evaluate")[3]
    a, b = Classifier(fp32).predict(clip.video), Classifier(tiny_checkpoint).predict(clip.video)
    assert a.label == b.label
    assert max(abs(a.scores[k] - b.scores[k]) for k in a.scores) < 1e-5


def test_graph_is_valid_with_dynamic_batch_and_metadata(fp32, tiny_checkpoint):
    proto = onnx.load(str(fp32))
    onnx.checker.check_model(proto)
    assert proto.opset_import[0].version >= 17
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    info = read_onnx_info(fp32)
    _, ref = load_reference(tiny_checkpoint)
    assert info.precision == "fp32" and info.model == ref.model and info.labels == ref.labels
    assert info.metrics["inputs"]["log_mel"][0] == "batch"


def test_int8_is_qdq_and_runs_in_onnxruntime(int8, fp32, rng):
    proto = onnx.load(str(int8.artifact))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    int8_weights = [i for i in proto.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) > 10
    info = read_onnx_info(int8.artifact)
    assert info.precision == "int8" and info.metrics["quantization"]["per_channel"]
    feeds = dummy_inputs(info, 3, rng)
    out = ort.InferenceSession(str(int8.artifact)).run(["scene_logits"], feeds)[0]
    ref = ort.InferenceSession(str(fp32)).run(["scene_logits"], feeds)[0]
    assert out.shape == (3, 10) and np.isfinite(out).all()
    assert 0 < np.abs(out - ref).max() < 2.0  # quantised, so not identical, but close


def test_parity_report_is_stored(int8):
    rep = read_onnx_info(int8.artifact).metrics["parity"]
    assert rep["precision"] == "int8"
    assert {"max_abs_diff", "mean_abs_diff", "top1_agreement"} <= set(rep["random_inputs"])
    v = rep["validation"]
    assert v["clips"] == 10 and 0 <= v["exported_accuracy"] <= 1 and 0 <= v["top1_agreement"] <= 1


def test_int8_classifier_and_missing_modality(int8, tiny_dataset, tmp_path, rng):
    from avsc_edge.data.synth import write_mp4

    clf = Classifier(int8.artifact)
    clip = TauDataset(tiny_dataset).clips("evaluate")[0]
    p = clf.predict(clip.video)
    assert p.modalities == ("audio", "visual") and sum(p.scores.values()) == pytest.approx(1, abs=1e-5)
    silent = tmp_path / "silent.mp4"
    write_mp4(silent, rng.integers(0, 255, (6, 48, 64, 3), dtype=np.uint8), 5.0, None, 48000)
    assert clf.predict(silent).modalities == ("visual",)


def test_fp16_conversion(tiny_checkpoint, tiny_dataset, fp32, tmp_path, rng):
    pytest.importorskip("onnxconverter_common")
    r = export_onnx_model(tiny_checkpoint, load_recipe("desktop-fp16"), tmp_path / "m.fp16.onnx", None, fp32_onnx=fp32)
    proto = onnx.load(str(r.artifact))
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in proto.graph.initializer)
    assert r.report["random_inputs"]["max_abs_diff"] < 0.1


def test_recipes_are_complete_and_strict(tmp_path):
    assert {"cpu-int8", "cpu-fp32", "desktop-fp16", "desktop-int8", "jetson-orin-fp16", "jetson-orin-int8"} <= set(available_recipes())
    assert load_recipe("jetson-orin-int8").tensorrt["workspace_mb"] <= 1024
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "description": "", "target": "onnxruntime", "precision": "int4"}')
    with pytest.raises(ConfigError, match="precision"):
        load_recipe(str(bad))
    with pytest.raises(ConfigError, match="unknown recipe"):
        load_recipe("raspberry-pi")


def test_int8_without_calibration_data_is_a_clear_error(tiny_checkpoint, tmp_path):
    with pytest.raises(ConfigError, match="--calib"):
        run_recipe(tiny_checkpoint, load_recipe("cpu-int8"), tmp_path / "x.onnx", None)


def test_tensorrt_recipe_without_tensorrt(tiny_checkpoint, tmp_path):
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed: the build path is covered by test_tensorrt.py")
    except ImportError:
        pass
    from avsc_edge.errors import DependencyError

    with pytest.raises(DependencyError, match="TensorRT"):
        run_recipe(tiny_checkpoint, load_recipe("desktop-int8"), tmp_path / "m.plan", None)


def test_reference_io_for_polygraphy(int8, tmp_path, rng):
    pytest.importorskip("polygraphy")
    from polygraphy.comparator import RunResults
    from polygraphy.json import load_json

    from avsc_edge.export.reference_io import save_reference_io

    info = read_onnx_info(int8.artifact)
    inputs = dummy_inputs(info, 3, rng)
    fin, fout = save_reference_io(int8.artifact, inputs, tmp_path)
    feeds = load_json(str(fin))
    results = RunResults.load(str(fout))
    assert len(feeds) == 3 and np.array_equal(feeds[1]["log_mel"], inputs["log_mel"][1:2])
    again = ort.InferenceSession(str(int8.artifact)).run(["scene_logits"], feeds[2])[0]
    assert np.array_equal(results["onnxrt-runner"][2]["scene_logits"], again)


def test_foreign_and_garbage_onnx(tmp_path):
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(g), str(tmp_path / "foreign.onnx"))
    with pytest.raises(ArtifactError, match="no avsc-edge metadata"):
        Classifier(tmp_path / "foreign.onnx")
    (tmp_path / "garbage.onnx").write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(ArtifactError, match="cannot load"):
        Classifier(tmp_path / "garbage.onnx")
