"""The plan in the catalog: written by `fonoteca plan`, read by ingest (schema: migrations/0002_plan.sql)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from fonoteca.catalog.db import transaction
from fonoteca.plan.policies import Costs
from fonoteca.progress import Progress
from fonoteca.tiers import Tier

CHUNK = 250_000
ROWS_PER_INSERT = 100  # 500 parameters a statement, far below SQLite's limit


@dataclass(frozen=True)
class PlannedTrack:
    track: int  # tracks.rowid
    id: str  # source id
    tier: str  # original | compact | skip
    bytes: int  # planned file size (0 for skip)
    listens: float  # estimated listens of this track alone
    rep: int | None  # rowid of the track whose file covers this one (same ISRC), None: itself


def write(
    conn: sqlite3.Connection,
    *,
    rowid: np.ndarray,
    rep: np.ndarray,
    tier: np.ndarray,
    cost: Costs,
    policy: str,
    budget: int | None,
    params: dict[str, Any],
    summary: dict[str, Any],
    progress: Progress | None = None,
) -> int:
    """Replace the plan with this one in one transaction; returns the run id."""
    with transaction(conn):
        run = conn.execute(
            "INSERT INTO plan_runs (created_at, policy, budget, params, summary) VALUES (?, ?, ?, ?, ?)",
            (
                datetime.now(UTC).isoformat(timespec="seconds"),
                policy,
                budget,
                orjson.dumps(params).decode(),
                "{}",
            ),
        ).lastrowid
        assert run is not None  # an INSERT sets it
        conn.execute("DELETE FROM plan")  # without WHERE: SQLite truncates the table instead of deleting rows
        # The partial index is rebuilt once at the end rather than updated row by row.
        conn.execute("DROP INDEX IF EXISTS plan_tier")
        for start in range(0, len(tier), CHUNK):
            end = start + CHUNK
            t = tier[start:end]
            planned = np.zeros(len(t), dtype=np.int64)
            for level, size in cost.bytes.items():
                planned[t == level] = size[start:end][t == level]
            r = rep[start:end]
            # 0 -> NULL in SQL: the track stands for itself, or keeps a file of its own (anna keeps duplicates of
            # popular recordings, as the reference release did)
            covered_by = np.where((r == np.arange(start, start + len(r))) | (t > 0), 0, rowid[r])
            _insert(conn, int(run), [rowid[start:end], t, planned, cost.listens[start:end], covered_by])
            if progress:
                progress(len(t))
        conn.execute("CREATE INDEX plan_tier ON plan (tier) WHERE tier > 0")
        summary = dict(summary, run=run)
        conn.execute("UPDATE plan_runs SET summary = ? WHERE rowid = ?", (orjson.dumps(summary).decode(), run))
    return int(run)


def _insert(conn: sqlite3.Connection, run: int, columns: list[np.ndarray]) -> None:
    """Insert rows ROWS_PER_INSERT at a time: one multi-row INSERT costs less per row than one statement per row."""
    width = len(columns)
    flat: list[Any] = [None] * (width * len(columns[0]))
    for i, column in enumerate(columns):
        flat[i::width] = column.tolist()

    def sql(rows: int) -> str:
        values = f"(?, ?, ?, ?, nullif(?, 0), {run})"
        return "INSERT INTO plan (track, tier, bytes, listens, rep, run) VALUES " + ", ".join([values] * rows)

    block = width * ROWS_PER_INSERT
    whole = len(flat) // block * block
    params = iter(flat[:whole])
    conn.executemany(sql(ROWS_PER_INSERT), zip(*[params] * block, strict=True))
    if whole < len(flat):
        conn.execute(sql((len(flat) - whole) // width), flat[whole:])


def latest_run(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The run the plan table holds: id, time, policy, budget, params and summary."""
    row = conn.execute(
        "SELECT rowid, created_at, policy, budget, params, summary FROM plan_runs "
        "WHERE rowid = (SELECT run FROM plan LIMIT 1)"
    ).fetchone()
    if row is None:
        return None
    run, created, policy, budget, params, summary = row
    return {
        "run": run,
        "created_at": created,
        "policy": policy,
        "budget": budget,
        "params": orjson.loads(params),
        "summary": orjson.loads(summary),
    }


def planned_tracks(conn: sqlite3.Connection, *, stored_only: bool = True) -> Iterator[PlannedTrack]:
    """The plan, track by track (by default only tracks that get a file: tier compact or original)."""
    where = "WHERE p.tier > 0" if stored_only else ""
    for track, id_, tier, size, listens, rep in conn.execute(
        "SELECT p.track, t.id, p.tier, p.bytes, p.listens, p.rep FROM "
        f"plan p JOIN tracks t ON t.rowid = p.track {where} ORDER BY p.track"
    ):
        yield PlannedTrack(track, id_, Tier(tier).label, size, listens, rep)


def tier_of(conn: sqlite3.Connection, track: int) -> PlannedTrack | None:
    """One track's planned tier (None when the track is not in the plan)."""
    row = conn.execute(
        "SELECT p.track, t.id, p.tier, p.bytes, p.listens, p.rep FROM plan p JOIN tracks t ON t.rowid = p.track "
        "WHERE p.track = ?",
        (track,),
    ).fetchone()
    if row is None:
        return None
    return PlannedTrack(row[0], row[1], Tier(row[2]).label, row[3], row[4], row[5])
