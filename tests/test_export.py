"""Export: every graph (full + split) from the model's parts, at the recipe's precision; INT8 QDQ
with FP32 outputs; FP16; metadata; the parity report; reference I/O; bad and foreign files."""
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from avsc_edge import Classifier  # noqa: E402
from avsc_edge.formats.artifact import PARTS, dummy_inputs, part_paths  # noqa: E402
from avsc_edge.data import TauDataset  # noqa: E402
from avsc_edge.errors import ArtifactError, ConfigError  # noqa: E402
from avsc_edge.export.onnx_export import graph_io, graph_paths, read_onnx_info, sample_inputs  # noqa: E402
from avsc_edge.export.pipeline import export_onnx_model, run_recipe  # noqa: E402
from avsc_edge.export.recipes import available_recipes, load_recipe  # noqa: E402
from avsc_edge.model import from_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def fp32(tiny_checkpoint, tmp_path_factory):
    return run_recipe(tiny_checkpoint, load_recipe("cpu-fp32"), tmp_path_factory.mktemp("onnx") / "model.onnx").artifact


@pytest.fixture(scope="module")
def int8(tiny_checkpoint, tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8") / "model.int8.onnx"
    return export_onnx_model(tiny_checkpoint, load_recipe("cpu-int8"), out, str(tiny_dataset))


def torch_graph(model, name, feeds):
    from avsc_edge.export.onnx_export import graph_modules

    with torch.no_grad():
        out = graph_modules(model)[name](*(torch.from_numpy(feeds[n]) for n in graph_io(name)[0]))
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def fresh_inputs(model, info, batch, rng):
    """Every graph's inputs for ``batch`` windows of fresh random data (intermediates from the model)."""
    return sample_inputs(model, info, full=dummy_inputs(info, batch, rng))


@pytest.mark.parametrize("batch", [1, 7])
def test_every_fp32_graph_matches_pytorch(fp32, tiny_checkpoint, batch, rng):
    model, info = from_checkpoint(tiny_checkpoint)
    feeds = fresh_inputs(model, info, batch, rng)
    for name, path in graph_paths(fp32).items():
        session = ort.InferenceSession(str(path))
        ours = session.run(list(graph_io(name)[1]), {n: feeds[name][n] for n in graph_io(name)[0]})
        for a, b in zip(ours, torch_graph(model, name, feeds[name])):
            np.testing.assert_allclose(a, b, atol=2e-5, rtol=1e-4, err_msg=name)


def test_audio_tokens_graph_has_a_dynamic_time_axis(fp32, tiny_checkpoint, rng):
    """Incremental streaming feeds chunks of any length; the CNN's stride is 2**blocks."""
    model, info = from_checkpoint(tiny_checkpoint)
    session = ort.InferenceSession(str(part_paths(fp32)["audio_tokens"]))
    stride = 2 ** (len(info.model_config.audio_channels) - 1)   # every block but the last pools 2x2
    for frames in (stride, 3 * stride + 1, 97):
        mel = (rng.standard_normal((2, 1, info.feature_config.n_mels, frames)) * 10 - 40).astype(np.float32)
        tokens = session.run(None, {"log_mel": mel})[0]
        assert tokens.shape[1] == frames // stride        # trailing frames that fill no token: dropped
        np.testing.assert_allclose(tokens, model.audio_tokens(torch.from_numpy(mel)).detach().numpy(), atol=2e-5, rtol=1e-4)


def test_graphs_are_valid_with_metadata(fp32, tiny_checkpoint):
    _, ref = from_checkpoint(tiny_checkpoint)
    for name, path in graph_paths(fp32).items():
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
        assert proto.opset_import[0].version >= 17
        assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
        info = read_onnx_info(path)
        assert info.graph == name and info.precision == "fp32" and info.model == ref.model
        assert info.labels == ref.labels and info.metrics["inputs"]["log_mel"][0] == "batch"
    assert set(part_paths(fp32)) == set(PARTS)


def test_int8_every_graph_is_qdq_with_float_outputs(int8, fp32, rng):
    for name, path in graph_paths(int8.artifact).items():
        proto = onnx.load(str(path))
        ops = [n.op_type for n in proto.graph.node]
        producers = {o: n for n in proto.graph.node for o in n.output}
        if name != "audio_slots" or "MatMul" in ops:
            assert {"QuantizeLinear", "DequantizeLinear"} <= set(ops), name
        info = read_onnx_info(path)
        assert info.precision == "int8" and info.metrics["quantization"]["activations"] == "uint8"
        for out in proto.graph.output:  # outputs are FP32 values, not rounded to the INT8 grid
            node = producers[out.name]
            while node.op_type == "Identity" and node.input[0] in producers:
                node = producers[node.input[0]]
            assert node.op_type != "DequantizeLinear", (name, out.name)
    assert sum(i.data_type == onnx.TensorProto.INT8 for i in onnx.load(str(part_paths(int8.artifact)["frames"])).graph.initializer) > 3
    clf = Classifier(int8.artifact)
    feeds = dummy_inputs(clf.info, 24, rng)
    scores = clf.runner.run_windows(feeds["log_mel"], feeds["frames"])["scene_logits"]
    ref = Classifier(fp32).runner.run_windows(feeds["log_mel"], feeds["frames"])["scene_logits"]
    assert scores.shape == (24, 10) and np.isfinite(scores).all()
    assert 0 < np.abs(scores - ref).max() < 2.0  # quantised, so not identical, but close
    ties = sum(np.isclose(np.sort(row)[-1], np.sort(row)[-2], rtol=0, atol=1e-7) for row in scores)
    assert ties == 0


def test_parity_report_is_stored(int8):
    rep = read_onnx_info(int8.artifact).metrics["parity"]
    assert rep["precision"] == "int8"
    assert {"max_abs_diff", "mean_abs_diff", "top1_agreement"} <= set(rep["random_inputs"])
    v = rep["validation"]
    assert v["clips"] == 10 and v["top1_agreement"] >= 0.5
    assert abs(v["exported_accuracy"] - v["pytorch_fp32_accuracy"]) <= 0.3
    assert rep["full_graph_vs_parts"]["top1_agreement"] >= 0.5


def test_int8_classifier_and_missing_modality(int8, tiny_dataset, tmp_path, rng):
    from avsc_edge.data.synth import write_av

    clf = Classifier(int8.artifact)
    assert (clf.engine.backend, clf.engine.precision, clf.engine.provider) == ("onnxruntime", "int8",
                                                                                 "CPUExecutionProvider")
    clip = TauDataset(tiny_dataset).clips("evaluate")[0]
    p = clf.predict(clip.video)
    assert p.modalities == ("audio", "visual") and sum(p.scores.values()) == pytest.approx(1, abs=1e-5)
    assert p.engine["precision"] == "int8"
    silent = tmp_path / "silent.mp4"
    write_av(silent, rng.integers(0, 255, (6, 48, 64, 3), dtype=np.uint8), 5.0, None, 48000)
    assert clf.predict(silent).modalities == ("visual",)


def test_fp16_onnx_recipe_runs_with_onnx_runtime(tiny_checkpoint, tiny_dataset, tmp_path):
    pytest.importorskip("onnxconverter_common")
    r = run_recipe(tiny_checkpoint, load_recipe("gpu-fp16"), tmp_path / "m.fp16.onnx", str(tiny_dataset))
    for path in graph_paths(r.artifact).values():
        proto = onnx.load(str(path))
        assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in proto.graph.initializer), path
    assert r.report["random_inputs"]["max_abs_diff"] < 0.1 and r.report["validation"]["top1_agreement"] >= 0.9
    clip = TauDataset(tiny_dataset).clips("evaluate")[0].video
    fp16, fp32 = Classifier(r.artifact).predict(clip), Classifier(tiny_checkpoint).predict(clip)
    assert fp16.engine["precision"] == "fp16"
    assert max(abs(fp16.scores[k] - fp32.scores[k]) for k in fp32.scores) < 0.02


def test_recipes_are_complete_and_strict(tmp_path):
    assert {"cpu-int8", "cpu-fp32", "gpu-fp16", "desktop-fp16", "desktop-int8", "jetson-orin-fp16",
            "jetson-orin-int8"} <= set(available_recipes())
    assert load_recipe("jetson-orin-int8").tensorrt["workspace_mb"] <= 1024
    assert load_recipe("desktop-int8").calibration["activations"] == "int8"   # TensorRT: symmetric INT8
    assert load_recipe("cpu-int8").calibration["activations"] == "uint8"      # ORT x86: U8S8
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "description": "", "target": "onnxruntime", "precision": "int4"}')
    with pytest.raises(ConfigError, match="precision"):
        load_recipe(str(bad))
    with pytest.raises(ConfigError, match="unknown recipe"):
        load_recipe("raspberry-pi")
    bad.write_text('{"name": "x", "description": "", "target": "onnxruntime", "precision": "int8", '
                   '"calibration": {"per_chanel": false}}')
    with pytest.raises(ConfigError, match="per_chanel"):
        load_recipe(str(bad))


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

    for recipe, onnx_recipe in (("desktop-int8", "cpu-int8"), ("desktop-fp16", "gpu-fp16")):
        with pytest.raises(DependencyError, match=f"TensorRT is not installed.*--recipe {onnx_recipe} -o .*m.onnx"):
            run_recipe(tiny_checkpoint, load_recipe(recipe), tmp_path / "m.plan", None)


def test_tensorrt_profiles_cover_every_graph(tiny_checkpoint):
    from avsc_edge.export.tensorrt_build import input_profiles

    _, info = from_checkpoint(tiny_checkpoint)
    for graph in ("full", *PARTS):
        inputs = graph_io(graph)[0]
        profiles = input_profiles(info, graph, (1, 8, 32))
        assert set(profiles) == set(inputs)
        for lo, opt, hi in profiles.values():
            assert len(lo) == len(opt) == len(hi) and all(a <= b <= c for a, b, c in zip(lo, opt, hi))


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


def test_foreign_garbage_and_incomplete_onnx(fp32, tmp_path):
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(g), str(tmp_path / "foreign.onnx"))
    with pytest.raises(ArtifactError, match="no avsc-edge metadata"):
        Classifier(tmp_path / "foreign.onnx")
    (tmp_path / "garbage.onnx").write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(ArtifactError):
        Classifier(tmp_path / "garbage.onnx")
    with pytest.raises(ArtifactError, match="split graph"):
        Classifier(part_paths(fp32)["heads"])
    lonely = tmp_path / "lonely.onnx"
    shutil.copy(fp32, lonely)
    with pytest.raises(ArtifactError, match="lonely.frames.onnx"):
        Classifier(lonely)
    for part, path in part_paths(fp32).items():  # parts of another export are refused
        shutil.copy(path, part_paths(lonely)[part])
    shutil.copy(part_paths(fp32)["frames"], part_paths(lonely)["heads"])
    with pytest.raises(ArtifactError, match="does not belong"):
        Classifier(lonely)


def copy_model(src, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    for part, path in part_paths(src).items():
        shutil.copy(path, part_paths(dst)[part])
    return dst


def test_graphs_of_two_exports_never_mix(tiny_checkpoint, fp32, tmp_path):
    """Same checkpoint, same preset, same precision: only the export differs, and that is enough."""
    other = run_recipe(tiny_checkpoint, load_recipe("cpu-fp32"), tmp_path / "b" / "model.onnx").artifact
    Classifier(other)   # whole: loads
    mixed = copy_model(fp32, tmp_path / "mixed" / "model.onnx")
    shutil.copy(part_paths(other)["audio_slots"], part_paths(mixed)["audio_slots"])
    with pytest.raises(ArtifactError, match="does not belong"):
        Classifier(mixed)


def test_graphs_whose_inputs_do_not_match_their_metadata_are_refused_in_one_line(fp32, tmp_path):
    """Metadata edited to another frame size (all graphs alike, the export id kept): refused when
    loaded, not an ONNX Runtime traceback when run."""
    import dataclasses

    from avsc_edge.formats.artifact import META_KEY
    from avsc_edge.export.onnx_export import read_onnx_info

    model = copy_model(fp32, tmp_path / "edited" / "model.onnx")
    for path in (model, *part_paths(model).values()):
        info = read_onnx_info(path)
        proto = onnx.load(str(path))
        for entry in proto.metadata_props:
            if entry.key == META_KEY:
                entry.value = dataclasses.replace(info, clip={**info.clip, "frame_size": 48}).to_json()
        onnx.save(proto, str(path))
    with pytest.raises(ArtifactError, match="input 'frame' has shape"):
        Classifier(model)


def test_a_parts_only_export_stores_the_weights_once_and_runs_alike(tiny_checkpoint, tiny_dataset, fp32, tmp_path):
    out = copy_model(fp32, tmp_path / "m" / "model.onnx")   # an earlier full export at the same path
    r = run_recipe(tiny_checkpoint, load_recipe("cpu-fp32"), out, str(tiny_dataset), parts_only=True)
    assert not out.exists() and sorted(p.name for p in out.parent.iterdir()) == sorted(
        p.name for p in part_paths(out).values())
    full_size = sum(p.stat().st_size for p in (fp32, *part_paths(fp32).values()))
    assert r.size_bytes < 0.7 * full_size
    assert read_onnx_info(part_paths(out)["heads"]).metrics["parity"]["validation"]["top1_agreement"] == 1.0
    assert "full_graph_vs_parts" not in r.report   # no full graph was traced
    clip = TauDataset(tiny_dataset).clips("evaluate")[0].video
    a, b = Classifier(out).predict(clip), Classifier(fp32).predict(clip)
    assert max(abs(a.scores[k] - b.scores[k]) for k in a.scores) < 1e-6


def test_a_split_graph_linked_from_outside_the_folder_is_refused(fp32, tmp_path):
    model = copy_model(fp32, tmp_path / "m" / "model.onnx")
    heads = part_paths(model)["heads"]
    heads.unlink()
    heads.symlink_to(part_paths(fp32)["heads"])
    with pytest.raises(ArtifactError, match="not a link"):
        Classifier(model)
    linked_folder = tmp_path / "linked"
    linked_folder.symlink_to(model.parent)        # a link to the whole folder is the folder: fine
    heads.unlink()
    shutil.copy(part_paths(fp32)["heads"], heads)
    Classifier(linked_folder / "model.onnx")


def test_int8_keeps_the_stem_convolutions_fp32_and_the_rest_quantised(int8):
    """The convolutions on the log-mel and on the RGB frames (<= 3 input channels) are not preceded
    by a DequantizeLinear on their weights; every other convolution is."""
    for name, path in graph_paths(int8.artifact).items():
        proto = onnx.load(str(path))
        producer = {o: n for n in proto.graph.node for o in n.output}
        convs = [n for n in proto.graph.node if n.op_type == "Conv"]
        quantised = {n.name for n in convs if getattr(producer.get(n.input[1]), "op_type", "") == "DequantizeLinear"}
        stems = {n.name for n in convs} - quantised
        expected = {"full": 2, "audio_tokens": 1, "frames": 1}.get(name, 0)
        assert len(stems) == expected and len(quantised) == len(convs) - expected, name
        assert set(read_onnx_info(path).metrics["quantization"]["fp32_nodes"]) == stems, name


def test_an_interrupted_export_leaves_the_earlier_model_whole(tiny_checkpoint, tmp_path, monkeypatch):
    import avsc_edge.export.parity as parity

    out = tmp_path / "model.onnx"
    run_recipe(tiny_checkpoint, load_recipe("cpu-fp32"), out)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def interrupt(*args):
        raise KeyboardInterrupt   # the user's Ctrl-C after every graph is written, before they are moved

    monkeypatch.setattr(parity, "store_report", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_recipe(tiny_checkpoint, load_recipe("cpu-fp32"), out)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before   # no staging folder left either


def test_calibrating_one_item_at_a_time_gives_the_ranges_of_batches(fp32, tiny_checkpoint, tmp_path, monkeypatch, rng):
    # one item per call holds one item's activations (base: 5.25 -> 2.91 GB peak); the ranges must not move
    import functools

    import onnx
    from onnx import numpy_helper

    import avsc_edge.export.quantize as quantize
    from avsc_edge.export.calibration import ArrayCalibrationReader

    model, info = from_checkpoint(tiny_checkpoint)
    feeds = fresh_inputs(model, info, 16, rng)["audio_tokens"]
    src = graph_paths(fp32)["audio_tokens"]
    one = quantize.quantize_int8(src, tmp_path / "one.onnx", feeds)
    monkeypatch.setattr(quantize, "ArrayCalibrationReader", functools.partial(ArrayCalibrationReader, batch=8))
    eight = quantize.quantize_int8(src, tmp_path / "eight.onnx", feeds)
    scales = [{i.name: numpy_helper.to_array(i) for i in onnx.load(str(p)).graph.initializer
               if i.name.endswith("_scale")} for p in (one, eight)]
    assert scales[0].keys() == scales[1].keys() and len(scales[0]) > 5
    for name, s in scales[0].items():
        np.testing.assert_allclose(s, scales[1][name], rtol=1e-5, err_msg=name)
