"""Realistic synthetic catalogs and audio for demos, tests and benchmarks."""
