"""TensorRT: fp16 engines built from the ONNX export, and the runner."""
