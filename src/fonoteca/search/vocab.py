"""The index's vocabulary: every word token with the number of tracks holding it, built with the index, so that a
typed word can be expanded into the indexed words it may mean before the FTS5 walk runs.

Tables (in the index database):
  terms        id, term, docs: every word token (filter tokens starting with '_' left out)
  term_keys    (key, term id): the symmetric-delete neighbourhood of each term (SymSpell): the term's first
               PREFIX characters and what is left of them after deleting one, or two, characters. Two words
               within N edits share a key made by at most N deletions on each side, so the words within the typo
               budget of a typed word are found by a handful of key look-ups, then checked with a real
               Damerau-Levenshtein distance (optimal string alignment: a swap of neighbours is one edit).
               Cutting to the first PREFIX characters bounds the keys per term (at most 1 + 7 + 21); an edit past
               them leaves the prefix equal, which is found too.
  completions  (prefix, terms): for prefixes of one to SHORT_PREFIX characters, the terms that start with it,
               most frequent first, so that a one- or two-letter last word costs one row read, not a range scan
               of a large part of the vocabulary. Longer prefixes read a bounded range of `terms`.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rapidfuzz.distance import OSA

SCHEMA = """
CREATE TABLE terms (id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE, docs INTEGER NOT NULL);
CREATE TABLE term_keys (key TEXT NOT NULL, term INTEGER NOT NULL, PRIMARY KEY (key, term)) WITHOUT ROWID;
CREATE TABLE completions (prefix TEXT PRIMARY KEY, terms TEXT NOT NULL) WITHOUT ROWID
"""
PREFIX = 7  # characters of a term that its delete keys are made from
SHORT_PREFIX = 3  # prefixes up to this length have their completions stored
STORED_COMPLETIONS = 32
RANGE_SCAN = 2000  # terms read at most for a longer prefix (then the most frequent of those win)
ONE_DELETE_MIN = 4  # terms of this length and more get one-deletion keys (a 5-letter word is 1 edit from them)
TWO_DELETES_MIN = 7  # ... and two-deletion keys (a 9-letter word is 2 edits from them)


@dataclass(frozen=True)
class Variant:
    """An indexed term a typed word may mean, and how far it is from what was typed."""

    term: str
    edits: int
    docs: int


def deletions(word: str, depth: int) -> set[str]:
    """The word's first PREFIX characters and what remains after deleting up to `depth` of them."""
    head = word[:PREFIX]
    keys = {head}
    level = {head}
    for _ in range(depth):
        # one more deletion from each key of the last level: slices, not a join per combination of positions (the
        # rebuild makes these for every term of the vocabulary)
        level = {key[:i] + key[i + 1 :] for key in level if len(key) > 1 for i in range(len(key))}
        keys |= level
    return keys


def term_keys(term: str) -> set[str]:
    """The keys stored for an indexed term (none for short ones: no typed word reaches them within budget)."""
    if len(term) < ONE_DELETE_MIN or term.isdigit():
        return set()
    return deletions(term, 2 if len(term) >= TWO_DELETES_MIN else 1)


def is_word(term: str) -> bool:
    return bool(term) and not term.startswith("_")


# --- build and update ------------------------------------------------------------------------------------------


def create(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA.strip().split(";\n"):
        conn.execute(statement)


def build(conn: sqlite3.Connection) -> int:
    """Fill the vocabulary from the FTS5 table `docs` (one pass over the index, in C); the number of terms."""
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.docs_vocab USING fts5vocab(main, docs, 'row')")
    try:
        # filter tokens ('_' and after: word pairs, years, genres) are skipped by range, not read and dropped
        rows = [
            (term, docs)
            for where in ("term < '_'", "term >= '`'")
            for term, docs in conn.execute(f"SELECT term, doc FROM temp.docs_vocab WHERE {where}")
            if is_word(term)
        ]
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.docs_vocab")
    conn.executemany(
        "INSERT INTO terms (id, term, docs) VALUES (?, ?, ?)",
        ((number, term, docs) for number, (term, docs) in enumerate(rows, 1)),
    )
    # keys come in term order, random in key order: appended to a plain table, then sorted by SQLite (in temporary
    # files, bounded memory) into the key-ordered table, whose pages are then written once each, in order
    conn.execute("CREATE TEMP TABLE new_keys (key TEXT NOT NULL, term INTEGER NOT NULL)")
    try:
        conn.executemany(
            "INSERT INTO new_keys (key, term) VALUES (?, ?)",
            ((key, number) for number, (term, _) in enumerate(rows, 1) for key in term_keys(term)),
        )
        conn.execute("INSERT OR IGNORE INTO term_keys (key, term) SELECT key, term FROM new_keys ORDER BY key, term")
    finally:
        conn.execute("DROP TABLE temp.new_keys")
    _store_completions(conn, _top_by_prefix(rows))
    return len(rows)


def _top_by_prefix(rows: Iterable[tuple[str, int]]) -> dict[str, list[tuple[str, int]]]:
    by_prefix: dict[str, list[tuple[str, int]]] = {}
    for term, docs in rows:
        for size in range(1, min(SHORT_PREFIX, len(term)) + 1):
            by_prefix.setdefault(term[:size], []).append((term, docs))
    return by_prefix


def _store_completions(conn: sqlite3.Connection, by_prefix: dict[str, list[tuple[str, int]]]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO completions (prefix, terms) VALUES (?, ?)",
        (
            (prefix, " ".join(t for t, _ in sorted(found, key=lambda td: (-td[1], td[0]))[:STORED_COMPLETIONS]))
            for prefix, found in by_prefix.items()
        ),
    )


def doc_terms(texts: Iterable[str]) -> set[str]:
    """The word tokens of one document's text columns."""
    return {t for text in texts if text for t in text.split()}


def apply_counts(conn: sqlite3.Connection, change: Counter[str]) -> None:
    """Add `change[term]` to each term's document count (negative for removed documents); new terms get their
    keys; the stored completions of their prefixes are made again. Terms that fall to 0 stay, unused."""
    change = Counter({t: n for t, n in change.items() if n and is_word(t)})
    if not change:
        return
    known = dict(
        conn.execute("SELECT term, id FROM terms WHERE term IN (SELECT value FROM json_each(?))", (_json_list(change),))
    )
    conn.executemany(
        "UPDATE terms SET docs = max(0, docs + ?) WHERE id = ?",
        [(n, known[t]) for t, n in change.items() if t in known],
    )
    fresh = [(t, n) for t, n in change.items() if t not in known and n > 0]
    for term, docs in fresh:
        number = conn.execute("INSERT INTO terms (term, docs) VALUES (?, ?)", (term, docs)).lastrowid
        conn.executemany(
            "INSERT OR IGNORE INTO term_keys (key, term) VALUES (?, ?)", [(key, number) for key in term_keys(term)]
        )
    prefixes = {t[:size] for t in change for size in range(1, min(SHORT_PREFIX, len(t)) + 1)}
    for prefix in prefixes:
        top = [
            t
            for (t,) in conn.execute(
                "SELECT term FROM terms WHERE term >= ? AND term < ? AND docs > 0 ORDER BY docs DESC, term LIMIT ?",
                (prefix, _after(prefix), STORED_COMPLETIONS),
            )
        ]
        conn.execute("INSERT OR REPLACE INTO completions (prefix, terms) VALUES (?, ?)", (prefix, " ".join(top)))


def _json_list(values: Iterable[str]) -> str:
    import orjson

    return orjson.dumps(list(values)).decode()


def _after(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


# --- look-ups --------------------------------------------------------------------------------------------------


def completions(conn: sqlite3.Connection, prefix: str, limit: int) -> list[str]:
    """Up to `limit` indexed terms starting with `prefix` (the prefix itself included when indexed), most
    frequent first."""
    if not prefix:
        return []
    if len(prefix) <= SHORT_PREFIX:
        row = conn.execute("SELECT terms FROM completions WHERE prefix = ?", (prefix,)).fetchone()
        return row[0].split()[:limit] if row and row[0] else []
    rows = conn.execute(
        "SELECT term, docs FROM terms WHERE term >= ? AND term < ? AND docs > 0 LIMIT ?",
        (prefix, _after(prefix), RANGE_SCAN),
    ).fetchall()
    rows.sort(key=lambda td: (-td[1], td[0]))
    return [t for t, _ in rows[:limit]]


def prefix_spread(conn: sqlite3.Connection, prefix: str) -> tuple[int, int] | None:
    """(terms, postings): how many indexed words start with `prefix` and how many (track, word) postings they
    hold together, i.e. what an FTS5 prefix query for it would merge. None when more than RANGE_SCAN words start
    with it (too many to add up cheaply, and far too many to merge)."""
    if not prefix:
        return None
    terms, postings = conn.execute(
        "SELECT count(*), coalesce(sum(docs), 0) FROM (SELECT docs FROM terms WHERE term >= ? AND term < ? LIMIT ?)",
        (prefix, _after(prefix), RANGE_SCAN + 1),
    ).fetchone()
    return None if terms > RANGE_SCAN else (int(terms), int(postings))


def neighbours(conn: sqlite3.Connection, word: str, budget: int, limit: int) -> list[Variant]:
    """Indexed terms within `budget` edits of `word` (not the word itself), fewest edits then most frequent first."""
    if budget <= 0 or not word:
        return []
    keys = sorted(deletions(word, budget))
    marks = ",".join("?" * len(keys))
    found: list[Variant] = []
    for term, docs in conn.execute(
        f"SELECT t.term, t.docs FROM terms t WHERE t.docs > 0 AND t.id IN "
        f"(SELECT term FROM term_keys WHERE key IN ({marks}))",
        keys,
    ):
        if term == word:
            continue
        edits = OSA.distance(word, term, score_cutoff=budget)
        if edits <= budget:
            found.append(Variant(term, edits, docs))
    found.sort(key=lambda v: (v.edits, -v.docs, v.term))
    return found[:limit]


def known(conn: sqlite3.Connection, words: Iterable[str]) -> dict[str, int]:
    """Document counts of the given words that are indexed terms."""
    words = list(dict.fromkeys(words))
    if not words:
        return {}
    return dict(
        conn.execute(
            "SELECT term, docs FROM terms WHERE term IN (SELECT value FROM json_each(?))", (_json_list(words),)
        )
    )


def iter_terms(conn: sqlite3.Connection) -> Iterator[tuple[str, int]]:
    yield from conn.execute("SELECT term, docs FROM terms ORDER BY term")
