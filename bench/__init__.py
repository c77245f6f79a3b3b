"""Benchmarks: one module per measurement, each printing its figures and ratios."""
