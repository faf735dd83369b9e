"""Ranking quality, measured: a query set drawn from the catalog with a fixed seed, each query made from one
intended track the way people type it (cleanly, or with the mistakes people make), and recall@1 / recall@10 per
class of query for any engine.

Classes:
  clean          the title's words as in the catalog
  title_artist   the title's words and the first artist's name
  dropped        one letter left out          ("thuner")
  doubled        one letter typed twice       ("thunnder")
  swapped        two neighbouring letters swapped ("thudner")
  neighbour_key  one letter replaced by a neighbouring key on a QWERTY keyboard ("thumder")
  no_marks       accents and punctuation left out ("beyonce", "acdc", "dont")
  two_typos      two of the mistakes above: in one word of 9+ letters or in two words of 5+
  prefix         the last word cut to its first 3+ letters, as while typing ("midnight thun")
Typos go only into words the typo budget covers, counted on the word as typed (1 edit from 5 letters, 2 from 9),
so every engine is asked the same question with the same budget. The intended track is drawn weighted by popularity
(people search for what they listen to). A hit counts when its title starts like the intended one (the words typed
from it: case, accents, versions and features aside) and, when the query names the artist, it has that artist:
tracks that agree on these cannot be told apart by the words typed.
Half of the typo queries carry the artist's name too.
"""

from __future__ import annotations

import random
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fonoteca.search.text import fold

CLASSES = ("clean", "title_artist", "dropped", "doubled", "swapped", "neighbour_key", "no_marks", "two_typos", "prefix")
TYPO_CLASSES = ("dropped", "doubled", "swapped", "neighbour_key", "no_marks", "two_typos")
KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
TITLE_WORDS = 4  # people type the start of a long title, not all of it
_MARKS = re.compile(r"[^\w\s]|_")


@dataclass(frozen=True)
class Case:
    kind: str
    query: str
    rowid: int
    title: str
    artist: str | None  # set when the query names the artist

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "query": self.query, "rowid": self.rowid, "title": self.title, "artist": self.artist}


def _neighbour_keys() -> dict[str, str]:
    """Keys next to each letter on a QWERTY keyboard (same row, and the row above and below)."""
    where = {ch: (r, i) for r, row in enumerate(KEYBOARD) for i, ch in enumerate(row)}
    out = {}
    for ch, (r, i) in where.items():
        near = []
        for other, (r2, i2) in where.items():
            if other != ch and (
                (r2 == r and abs(i2 - i) == 1)
                or (r2 == r - 1 and i2 in (i, i + 1))
                or (r2 == r + 1 and i2 in (i - 1, i))
            ):
                near.append(other)
        out[ch] = "".join(sorted(near))
    return out


NEAR = _neighbour_keys()


def typo(word: str, kind: str, rng: random.Random) -> str | None:
    """The word with one mistake of the given kind, or None when it cannot have one."""
    if kind == "dropped" and len(word) > 1:
        i = rng.randrange(len(word))
        return word[:i] + word[i + 1 :]
    if kind == "doubled":
        i = rng.randrange(len(word))
        return word[: i + 1] + word[i] + word[i + 1 :]
    if kind == "swapped":
        spots = [i for i in range(len(word) - 1) if word[i] != word[i + 1]]
        if not spots:
            return None
        i = rng.choice(spots)
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "neighbour_key":
        spots = [i for i, ch in enumerate(word) if ch in NEAR]
        if not spots:
            return None
        i = rng.choice(spots)
        return word[:i] + rng.choice(NEAR[word[i]]) + word[i + 1 :]
    return None


def strip_marks(text: str) -> str:
    """Accents and punctuation left out, as people type on a phone: 'Déjà Vu' -> 'Deja Vu', 'AC/DC' -> 'ACDC'."""
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return " ".join(w for w in (_MARKS.sub("", w) for w in text.split()) if w)


def _title_words(title: str) -> list[str]:
    """The words people type of a title: before ' - ' and '(' (versions, features), at most TITLE_WORDS."""
    main = re.split(r"\s+-\s+|\s*[(\[]", title, maxsplit=1)[0]
    return [w for w in main.split() if any(ch.isalnum() for ch in w)][:TITLE_WORDS]


def _fuzzable(word: str, length: int) -> bool:
    return word.isalpha() and len(word) >= length


class QuerySet:
    """Draws cases from a catalog (deterministic for a seed and catalog)."""

    def __init__(self, catalog: sqlite3.Connection, seed: int = 22, one_typo: int = 5, two_typos: int = 9) -> None:
        self.catalog = catalog
        self.rng = random.Random(seed)
        self.one_typo = one_typo
        self.two_typos = two_typos
        self.pool = self._pool()

    def _pool(self, size: int = 20_000) -> tuple[list[int], list[int]]:
        top = self.catalog.execute("SELECT coalesce(max(rowid), 0) FROM tracks").fetchone()[0]
        picks = sorted({self.rng.randint(1, top) for _ in range(size)}) if top else []
        rows = []
        for start in range(0, len(picks), 900):
            chunk = picks[start : start + 900]
            rows += self.catalog.execute(
                f"SELECT rowid, coalesce(popularity, 0) FROM tracks WHERE rowid IN ({','.join('?' * len(chunk))}) "
                "AND level > 0 AND name IS NOT NULL AND name != ''",
                chunk,
            ).fetchall()
        return [r for r, _ in rows], [p + 1 for _, p in rows]

    def _track(self, rowid: int) -> tuple[str, str | None]:
        return self.catalog.execute(
            "SELECT t.name, (SELECT ar.name FROM track_artists l JOIN artists ar ON ar.rowid = l.artist "
            "WHERE l.track = t.rowid ORDER BY l.position LIMIT 1) FROM tracks t WHERE t.rowid = ?",
            (rowid,),
        ).fetchone()

    def cases(self, per_class: int, classes: Iterable[str] = CLASSES) -> list[Case]:
        out: list[Case] = []
        rowids, weights = self.pool
        if not rowids:
            return out
        for kind in classes:
            made, tries = 0, 0
            while made < per_class and tries < per_class * 200:
                tries += 1
                rowid = self.rng.choices(rowids, weights=weights)[0]
                title, artist = self._track(rowid)
                case = self._case(kind, rowid, title, artist)
                if case is not None:
                    out.append(case)
                    made += 1
        return out

    def _budget(self, word: str) -> int:
        return 2 if len(word) >= self.two_typos else 1 if len(word) >= self.one_typo else 0

    def _case(self, kind: str, rowid: int, title: str, artist: str | None) -> Case | None:
        rng = self.rng
        words = _title_words(title)
        if not words:
            return None
        with_artist = kind == "title_artist" or (kind in TYPO_CLASSES and artist is not None and rng.random() < 0.5)
        if with_artist and not (artist and any(ch.isalnum() for ch in artist)):
            return None
        typed = words + (artist.split() if with_artist and artist else [])
        named = artist if with_artist else None
        if kind in ("clean", "title_artist"):
            return Case(kind, " ".join(typed), rowid, title, named)
        if kind == "prefix":
            last = words[-1]
            if not last.isalpha() or len(last) < 4:
                return None
            cut = rng.randint(3, len(last) - 1)
            return Case(kind, " ".join(words[:-1] + [last[:cut]]).lower(), rowid, title, None)
        if kind == "no_marks":
            plain = strip_marks(" ".join(typed))
            if plain == " ".join(typed) or not plain:
                return None
            return Case(kind, plain.lower(), rowid, title, named)
        typed = [w.lower() for w in typed]
        if kind == "two_typos":
            return self._two_typos(typed, rowid, title, named)
        spots = [i for i, w in enumerate(typed) if _fuzzable(w, self.one_typo)]
        if not spots:
            return None
        i = rng.choice(spots)
        wrong = typo(typed[i], kind, rng)
        if wrong is None or fold(wrong) == fold(typed[i]) or self._budget(wrong) < 1:
            return None
        typed[i] = wrong
        return Case(kind, " ".join(typed), rowid, title, named)

    def _two_typos(self, typed: list[str], rowid: int, title: str, named: str | None) -> Case | None:
        rng = self.rng
        kinds = ("dropped", "doubled", "swapped", "neighbour_key")
        long_words = [i for i, w in enumerate(typed) if _fuzzable(w, self.two_typos)]
        short_words = [i for i, w in enumerate(typed) if _fuzzable(w, self.one_typo)]
        if long_words and (len(short_words) < 2 or rng.random() < 0.5):
            targets = [rng.choice(long_words)] * 2
        elif len(short_words) >= 2:
            targets = rng.sample(short_words, 2)
        else:
            return None
        original = list(typed)
        for i in targets:
            wrong = typo(typed[i], rng.choice(kinds), rng)
            if wrong is None:
                return None
            typed[i] = wrong
        for i in set(targets):
            if fold(typed[i]) == fold(original[i]) or self._budget(typed[i]) < targets.count(i):
                return None
        return Case("two_typos", " ".join(typed), rowid, title, named)


Hit = tuple[str | None, list[str]]  # (title, artist names) of a result


def _main_title(title: str | None) -> str:
    return fold(" ".join(_title_words(title or "")))


def hit_matches(case: Case, hit: Hit) -> bool:
    title, artists = hit
    if _main_title(title) != _main_title(case.title):
        return False
    return case.artist is None or fold(case.artist) in {fold(a or "") for a in artists}


def evaluate(run: Callable[[str], list[Hit]], cases: list[Case], depth: int = 10) -> dict[str, dict[str, Any]]:
    """recall@1 and recall@depth per class: the share of queries whose intended track (or one that cannot be told
    from it by the words typed) is first / in the first `depth` results."""
    totals: dict[str, list[int]] = {}
    misses: dict[str, list[str]] = {}
    for case in cases:
        hits = run(case.query)[:depth]
        found = [hit_matches(case, h) for h in hits]
        tally = totals.setdefault(case.kind, [0, 0, 0])
        tally[0] += 1
        tally[1] += bool(found and found[0])
        tally[2] += any(found)
        if not any(found):
            misses.setdefault(case.kind, []).append(case.query)
    return {
        kind: {
            "queries": n,
            "recall@1": round(first / n, 4),
            f"recall@{depth}": round(top / n, 4),
            "missed": misses.get(kind, [])[:5],
        }
        for kind, (n, first, top) in totals.items()
    }


def searcher_run(searcher: Any, **options: Any) -> Callable[[str], list[Hit]]:
    """An evaluate() runner over Searcher.search (the call the CLI and the site make)."""

    def run(query: str) -> list[Hit]:
        try:
            response = searcher.search(query, limit=10, **options)
        except Exception as exc:  # a query the engine refuses counts as a miss, with its reason kept
            if type(exc).__name__ in ("UsageError", "FonotecaError"):
                return []
            raise
        return [(h.get("name"), [a.get("name") for a in h.get("artists") or []]) for h in response.results]

    return run
