"""Benchmarks behind `rgbt-seg bench`: each prints ratios against a stated baseline, never a pass/fail."""
