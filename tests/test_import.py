"""Start-up stays light: the runtime does not import torch."""
import subprocess
import sys


def test_import_does_not_import_torch():
    code = ("import sys, avsc_edge, avsc_edge.preprocess, avsc_edge.kernels, avsc_edge.classifier, avsc_edge.stream, "
            "avsc_edge.runtime.onnx_backend, avsc_edge.cli; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
