"""ONNX: the export and the ONNX Runtime runner, side by side."""
