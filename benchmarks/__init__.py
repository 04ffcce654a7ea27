"""Benchmarks: figures, not tests (the README's benchmarks section)."""
