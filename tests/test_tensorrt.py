"""TensorRT engine build and run: needs TensorRT and an NVIDIA GPU. Neither exists on our CI or
development machines, so these tests skip there (the reason is printed with -rs)."""
import pytest

trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (it cannot be on our CI machines)")
pytest.importorskip("torch")


@pytest.mark.tensorrt
@pytest.mark.parametrize("recipe", ["desktop-fp16", "desktop-int8"])
def test_build_engine_and_header(recipe, tiny_checkpoint, tiny_dataset, tmp_path):
    from avsc_edge.export.pipeline import run_recipe
    from avsc_edge.export.recipes import load_recipe
    from avsc_edge.export.tensorrt_build import compute_capability
    from avsc_edge.formats.plan_format import check_compatible, read_plan

    result = run_recipe(tiny_checkpoint, load_recipe(recipe), tmp_path / "m.plan", str(tiny_dataset))
    header, engine = read_plan(result.artifact)
    check_compatible(header, trt.__version__, compute_capability(), str(result.artifact))
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    assert runtime.deserialize_cuda_engine(engine) is not None
    assert (tmp_path / "m.plan.timing.cache").stat().st_size > 0
