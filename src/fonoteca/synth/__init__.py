"""Realistic synthetic catalogs (and, later, audio) for demos, tests and benchmarks."""
