"""ROS test fixtures: the harness lives in test/_support/ros_harness.py so test modules can import it; the
checkpoints the node tests load (tiny_checkpoint, varied_checkpoint, ...) are made once per session in
test/conftest.py, shared with the core's tests."""
