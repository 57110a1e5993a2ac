"""Benchmarks: scripts that print ratios against anchors measured in the same run.

Run them from the repository root: `python -m benchmarks.NAME` (those that import the
example package need it) or `python benchmarks/NAME.py`.
"""
