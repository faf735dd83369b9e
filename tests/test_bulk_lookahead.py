"""bulk.Lookahead: the next chunk's rows read on a second connection, used only for exactly what was asked."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fonoteca.catalog import bulk

SQL = "SELECT v FROM t WHERE k BETWEEN ? AND ? ORDER BY k"


def _db(path: Path, tag: str) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(k, f"{tag}{k}") for k in range(1, 11)])
    conn.commit()
    conn.close()
    return path


def test_the_rows_read_ahead_serve_only_the_call_they_were_read_for(tmp_path):
    # the two connections read different files, so each answer shows which connection gave it
    mine = sqlite3.connect(_db(tmp_path / "mine.sqlite3", "m"), check_same_thread=False)
    ahead = bulk.Lookahead(mine, lambda: sqlite3.connect(_db(tmp_path / "ahead.sqlite3", "a"), check_same_thread=False))
    try:
        assert ahead.rows(SQL, (1, 2), then=(3, 4)) == [("m1",), ("m2",)]
        assert ahead.rows(SQL, (3, 4), then=(5, 6)) == [("a3",), ("a4",)]  # read ahead
        assert ahead.rows(SQL, (5, 5)) == [("m5",)]  # not what was read ahead: this connection answers
        assert ahead.rows(SQL, (7, 8)) == [("m7",), ("m8",)]  # nothing pending any more
    finally:
        ahead.close()


def test_a_failure_on_the_second_connection_is_met_again_on_the_first(tmp_path):
    mine = sqlite3.connect(_db(tmp_path / "mine.sqlite3", "m"), check_same_thread=False)
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()  # no table t: every read there fails
    ahead = bulk.Lookahead(mine, lambda: sqlite3.connect(empty, check_same_thread=False))
    try:
        assert ahead.rows(SQL, (1, 1), then=(2, 2)) == [("m1",)]
        assert ahead.rows(SQL, (2, 2)) == [("m2",)]
    finally:
        ahead.close()
