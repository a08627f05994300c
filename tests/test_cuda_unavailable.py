"""Where the CUDA kernels cannot run (every CI machine: no GPU), asking for them raises one typed
error that says why, and the CPU paths do not notice. CI builds the extension with CUDA
(AVSC_EDGE_CUDA=1, nvcc from the registry's wheels), so there this checks the "built with CUDA, no
device" branch; on a CPU-only build, the other one."""
import numpy as np
import pytest

from avsc_edge import kernels
from avsc_edge.config import FeatureConfig
from avsc_edge.errors import CudaUnavailableError
from avsc_edge.kernels import native as _native
from avsc_edge.preprocess.cuda_features import LogMelCuda, log_mel_cuda

pytestmark = pytest.mark.skipif(_native.cuda_available(), reason="a CUDA device is visible: tests/test_cuda.py")


def _why() -> str:
    return "no CUDA device visible" if kernels.info().get("cuda_compiled") else "this build is CPU-only"


@pytest.mark.parametrize("call", [lambda x: log_mel_cuda(x, FeatureConfig()), lambda x: LogMelCuda(FeatureConfig()),
                                  lambda x: kernels.cross_attention_cuda(x, x, x)])
def test_cuda_entry_points_say_why_they_cannot_run(call, rng):
    x = rng.standard_normal((1, 4, 8)).astype(np.float32)
    with pytest.raises(CudaUnavailableError, match=_why()):
        call(x)


def test_a_cuda_build_reports_its_architectures():
    info = kernels.info()
    if not info.get("cuda_compiled"):
        pytest.skip("CPU-only build")
    assert info["cuda_devices"] == 0
    assert {"sm_87", "sm_90"} <= set(info["cuda_archs"].split(","))


def test_cpu_kernels_run_in_a_cuda_build(rng):
    q = rng.standard_normal((2, 4, 3, 8)).astype(np.float32)           # [batch, heads, queries, dim]
    k, v = rng.standard_normal((2, 2, 4, 5, 8)).astype(np.float32)
    np.testing.assert_allclose(kernels.cross_attention(q, k, v), kernels.cross_attention_reference(q, k, v), atol=1e-5)
