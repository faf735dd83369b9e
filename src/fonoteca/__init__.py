"""Fonoteca: build, publish, search and mirror a preservation archive of recorded music."""

__version__ = "0.1.0"
