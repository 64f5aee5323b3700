"""One frame or a batch, from camera arrays to labels: preprocessing, registration, precision, the CUDA path."""
