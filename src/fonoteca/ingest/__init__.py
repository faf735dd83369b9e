"""Ingest: walk -> match -> validate -> tier -> transcode/keep -> tag -> checksum -> store.

Python API (what `fonoteca ingest` and the demo call):

    from fonoteca.ingest import IngestOptions, ingest
    summary = ingest(archive, [Path("music")], IngestOptions(workers=2))
    summary.stored  # {"original": n, "compact": m}; summary.quarantined  # {"undecodable": k, ...}

The per-file work is a pure task function (fonoteca.ingest.task.process) run through an executor (fonoteca.cluster:
a local process pool, or a Dask cluster with --scheduler; fonoteca.ingest.executor adapts it to the [cluster]
storage mode); only the coordinating process writes the catalog, after each file is durable.
"""

from fonoteca.lazy import lazy_exports

_EXPORTS = {
    "IngestOptions": "options",
    "IngestSummary": "pipeline",
    "ingest": "pipeline",
    "restore": "restore",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
