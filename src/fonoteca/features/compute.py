"""`fonoteca features`: compute audio features for every ingested track, in parallel (local pool or Dask).

One file per track is analysed: the original tier when the track has one, else the compact one. A track is
analysed again only when its file changed (sha256) or the feature algorithm did (extract.FEATURE_VERSION).
Workers only decode and analyse; this process writes the catalog, in batches.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fonoteca.catalog.db import transaction
from fonoteca.features.extract import FEATURE_VERSION, FIELDS, features_of
from fonoteca.progress import Progress, realtime


@dataclass(frozen=True)
class FeatureTask:
    track: int
    path: str  # absolute path of the stored file
    sha256: str
    tier: int


@dataclass
class FeatureSummary:
    tracks: int = 0  # tracks with a stored file
    computed: int = 0
    failed: int = 0
    already: int = 0  # up to date from an earlier run
    audio_seconds: float = 0.0  # decoded audio analysed in this run
    seconds: float = 0.0  # wall clock
    workers: int = 0
    executor: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def realtime(self) -> float:
        return self.audio_seconds / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "realtime": round(self.realtime, 1)}


def _analyse(task: FeatureTask, data: bytes | None = None) -> dict[str, Any]:
    """Worker side: decode and analyse one file; never raises for a bad file (the error is the result)."""
    try:
        return {"features": features_of(data if data is not None else task.path).as_dict()}
    except Exception as exc:  # noqa: BLE001 - a file we cannot analyse is recorded, not fatal
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}


def _read(task: FeatureTask) -> bytes:
    return Path(task.path).read_bytes()


def pending(conn: Any, root: Path, *, force: bool = False) -> tuple[int, list[FeatureTask]]:
    """(tracks with a file, tasks for those whose features are missing or out of date)."""
    rows = conn.execute(
        "SELECT f.track, f.path, f.sha256, f.tier FROM files f "
        "WHERE f.tier = (SELECT max(g.tier) FROM files g WHERE g.track = f.track) ORDER BY f.track"
    ).fetchall()
    done = {} if force else {t: (s, v) for t, s, v in conn.execute("SELECT track, sha256, version FROM track_features")}
    tasks = [
        FeatureTask(track, str(root / path), sha, tier)
        for track, path, sha, tier in rows
        if done.get(track) != (sha, FEATURE_VERSION)
    ]
    return len(rows), tasks


def _store(conn: Any, batch: list[tuple[FeatureTask, dict[str, Any]]]) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    rows = []
    for task, result in batch:
        values = result.get("features") or {}
        rows.append(
            (
                task.track,
                task.sha256,
                task.tier,
                FEATURE_VERSION,
                *[values.get(k) for k in FIELDS],
                result.get("error"),
                now,
            )
        )
    marks = ",".join("?" * (6 + len(FIELDS)))
    with transaction(conn, immediate=False):
        conn.executemany(
            f"INSERT OR REPLACE INTO track_features (track, sha256, tier, version, {', '.join(FIELDS)}, "
            f"error, computed_at) VALUES ({marks})",
            rows,
        )


def compute_features(
    archive: Any,
    workers: int | None = None,
    *,
    scheduler: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> FeatureSummary:
    """Compute features for every ingested track whose features are missing or stale; returns a summary.

    workers: local processes (default: every core; 1 runs in this process); scheduler: a Dask scheduler address
    (default: [cluster] scheduler in fonoteca.toml). `progress` is told the files to analyse, then each one
    analysed, with the decoding speed as its step."""
    from fonoteca.cluster import Crashed, ExecutorConfig, InlineExecutor, make_executor

    t0 = time.perf_counter()
    summary = FeatureSummary()
    conn = archive.connect()
    try:
        summary.tracks, tasks = pending(conn, archive.root, force=force)
        summary.already = summary.tracks - len(tasks)
        if progress:
            progress(total=len(tasks))
        if not tasks:
            summary.seconds = time.perf_counter() - t0
            return summary
        config = ExecutorConfig.from_config(getattr(archive, "config", {}) or {}, workers=workers, scheduler=scheduler)
        executor = InlineExecutor() if (not config.scheduler and config.local_workers == 1) else make_executor(config)
        batch: list[tuple[FeatureTask, dict[str, Any]]] = []
        with executor:
            summary.workers = executor.workers
            summary.executor = executor.describe()
            # the stored files are in the archive: workers that do not share it get each file's bytes
            attach = _read if executor.remote and executor.storage != "shared" else None
            for task, result in executor.map_unordered(_analyse, tasks, attach=attach):
                if isinstance(result, Crashed):  # not stored: the next run tries the file again
                    summary.failed += 1
                    summary.errors.append(
                        {"track": task.track, "path": task.path, "error": f"crashed: {result.message}"}
                    )
                    if progress:
                        progress(1, stage=realtime(summary.audio_seconds, time.perf_counter() - t0))
                    continue
                if result.get("error"):
                    summary.failed += 1
                    summary.errors.append({"track": task.track, "path": task.path, "error": result["error"]})
                else:
                    summary.computed += 1
                    summary.audio_seconds += result["features"].get("duration_s") or 0.0
                batch.append((task, result))
                if len(batch) >= 200:
                    _store(conn, batch)
                    batch = []
                if progress:
                    progress(1, stage=realtime(summary.audio_seconds, time.perf_counter() - t0))
        if batch:
            _store(conn, batch)
    finally:
        conn.close()
    summary.seconds = time.perf_counter() - t0
    return summary
