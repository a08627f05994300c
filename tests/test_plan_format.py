"""The .plan header around arbitrary engine bytes: round trip and the clear errors before any
TensorRT deserialisation (truncated file, wrong magic, foreign TensorRT version or GPU)."""
import os

import pytest

from avsc_edge.errors import ArtifactError
from avsc_edge.formats.plan_format import PlanHeader, check_compatible, read_plan, write_plan, write_raw_plan, _HEAD
from avsc_edge.version import __version__


def header(**kw):
    base = dict(sdk_version=__version__, tensorrt_version="10.3.0", compute_capability="8.7", precision="int8",
                onnx_sha256="ab" * 32, artifact={"labels": ["bus", "tram"]})
    return PlanHeader(**{**base, **kw})


def test_round_trip_arbitrary_bytes(tmp_path):
    engine = os.urandom(100_003)
    path = write_plan(tmp_path / "m.plan", header(), engine)
    h, e = read_plan(path)
    assert h == header() and e == engine
    assert not list(tmp_path.glob(".*tmp"))  # written through a temporary name


def test_raw_plan_with_sidecar(tmp_path):
    engine = os.urandom(5000)
    path = write_raw_plan(tmp_path / "raw.plan", header(precision="fp16"), engine)
    assert path.read_bytes() == engine
    h, e = read_plan(path)
    assert h.precision == "fp16" and e == engine


def test_truncated_files(tmp_path):
    path = write_plan(tmp_path / "m.plan", header(), os.urandom(1000))
    data = path.read_bytes()
    for cut in (4, _HEAD.size - 1, _HEAD.size + 10, _HEAD.size + len(header().to_json())):
        (tmp_path / "cut.plan").write_bytes(data[:cut])
        with pytest.raises(ArtifactError, match="truncated|not an avsc-edge plan"):
            read_plan(tmp_path / "cut.plan")


def test_wrong_magic_and_garbage(tmp_path):
    (tmp_path / "x.plan").write_bytes(b"NOTAPLAN" + os.urandom(100))
    with pytest.raises(ArtifactError, match="not an avsc-edge plan"):
        read_plan(tmp_path / "x.plan")
    with pytest.raises(ArtifactError, match="not found"):
        read_plan(tmp_path / "missing.plan")


def test_corrupt_metadata(tmp_path):
    meta = b"{not json"
    (tmp_path / "c.plan").write_bytes(_HEAD.pack(b"AVSCPLAN", 1, len(meta)) + meta + b"engine")
    with pytest.raises(ArtifactError, match="corrupt"):
        read_plan(tmp_path / "c.plan")
    (tmp_path / "v.plan").write_bytes(_HEAD.pack(b"AVSCPLAN", 99, 2) + b"{}" + b"engine")
    with pytest.raises(ArtifactError, match="format version"):
        read_plan(tmp_path / "v.plan")


def test_compatibility_checks_before_deserialising():
    check_compatible(header(), "10.3.1", "8.7", "m.plan")  # same major.minor, same GPU
    with pytest.raises(ArtifactError, match="TensorRT 10.3.0.*11.0"):
        check_compatible(header(), "11.0.0", "8.7", "m.plan")
    with pytest.raises(ArtifactError, match="compute capability 8.7.*9.0"):
        check_compatible(header(), "10.3.0", "9.0", "m.plan")
    with pytest.raises(ArtifactError, match="avsc-edge 9.9"):
        check_compatible(header(sdk_version="9.9.0"), "10.3.0", "8.7", "m.plan")


def test_classifier_refuses_bad_plans_before_tensorrt(tmp_path):
    """Foreign or truncated plans fail with ArtifactError whether or not TensorRT is installed;
    a valid header without TensorRT names the missing dependency."""
    from avsc_edge import Classifier
    from avsc_edge.errors import DependencyError

    from avsc_edge.formats.artifact import part_paths

    (tmp_path / "foreign.plan").write_bytes(os.urandom(500))
    with pytest.raises(ArtifactError, match="not an avsc-edge plan"):
        Classifier(tmp_path / "foreign.plan")
    good = write_plan(tmp_path / "m.engine", header(), os.urandom(100))
    with pytest.raises(ArtifactError, match="audio_slots.*missing"):
        Classifier(good)
    for part in part_paths(good).values():
        write_plan(part, header(), os.urandom(100))
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(DependencyError, match="TensorRT"):
            Classifier(good)
