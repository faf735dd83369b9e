"""Preservation plan: listen model, budgeted tier selection, coverage, statistics and charts."""
