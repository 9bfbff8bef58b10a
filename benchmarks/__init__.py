"""Benchmark CLIs: gap (main job), paper, scale."""
