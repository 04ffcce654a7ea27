"""Benchmarks: figures, not tests (DESIGN.md section 8)."""
