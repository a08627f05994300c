"""Export: ONNX graphs with SDK metadata, INT8 QDQ / FP16 variants, TensorRT engines, recipes."""
