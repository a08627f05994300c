"""File formats: artifact metadata, checkpoints (safetensors), ONNX files, TensorRT plans."""
