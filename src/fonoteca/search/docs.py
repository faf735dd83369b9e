"""Search documents derived from the catalog: one per track (level > 0), in the index's key order.

The key of a document is its FTS rowid: ((100 - popularity) << 40) | track rowid. Ordering by key is ordering
by popularity descending (ties by catalog rowid), so "the first K matches in rowid order" is "the K most popular
matches", which SQLite FTS5 answers without reading the rest of a long posting list (early termination). The key
also holds the track rowid and popularity, so the index needs no side table to map hits back to tracks.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from fonoteca.search.text import index_text, name_tags, title_terms

ROWID_BITS = 40
ROWID_MASK = (1 << ROWID_BITS) - 1
MAX_POPULARITY = 100
CHUNK_ROWIDS = 50_000  # tracks read per catalog query: bounded memory at any catalog size
MEMO_ENTRIES = 250_000  # per memo of a DocBuilder (see there)


def key_rowid(key: int) -> int:
    return key & ROWID_MASK


def key_popularity(key: int) -> int:
    return MAX_POPULARITY - (key >> ROWID_BITS)


def popularity_bound(min_popularity: int) -> int:
    """The smallest key of tracks below `min_popularity`: matches with popularity >= N have key < bound."""
    pop = min(MAX_POPULARITY + 1, max(0, min_popularity))
    return (MAX_POPULARITY + 1 - pop) << ROWID_BITS


def biword(first: str, second: str) -> str:
    """Filter token for two words next to each other in a title: finds typed titles without a column scan."""
    return f"_b{first}_{second}"


def one_word_title(word: str) -> str:
    """Filter token of a title that is that one word and nothing more: a one-word query finds the tracks called
    just that among the many more popular ones holding the word with others (at 10M tracks an unplayed "Moon"
    sits behind thousands of them), through a short posting list."""
    return f"_w{word}"


def title_fields(name: str) -> tuple[str, str]:
    """(title tokens, pair and one-word tags) of a title."""
    words, pairs = title_terms(name)
    tags = "".join(" " + biword(a, b) for a, b in pairs)
    if len(words) == 1:
        tags += " " + one_word_title(words[0])
    return " ".join(words), tags


def year_of(release_date: str | None) -> int | None:
    if release_date and len(release_date) >= 4 and release_date[:4].isdigit():
        return int(release_date[:4])
    return None


class _Memo:
    """A dict that forgets everything when full: catalogs group tracks by album and artist, so recent is hot."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data: dict = {}

    def get(self, key, make):
        found = self.data.get(key)
        if found is None:
            if len(self.data) >= self.limit:
                self.data.clear()
            found = self.data[key] = make(key)
        return found


class DocBuilder:
    """Turns catalog rows into documents.

    Tokenising is the costly part, and titles, artists and albums repeat (an album's tracks are neighbours, an
    artist has many tracks), so each is tokenised once and remembered: titles by text, albums by rowid, artist
    lists by their rowids.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        # Bounded whatever the catalog size (a rebuild runs one builder per core): each memo holds at most
        # MEMO_ENTRIES, about 60 MB; the catalog's locality (an album's tracks are neighbours) keeps the hit
        # rate high at that size. Nothing is read for the whole catalog up front.
        self.titles = _Memo(MEMO_ENTRIES)
        self.albums = _Memo(MEMO_ENTRIES // 2)
        self.artists = _Memo(MEMO_ENTRIES)  # artist rowid -> (name tokens, genre ids, whole-name tags)
        self.credits = _Memo(MEMO_ENTRIES)  # "rowid,rowid" of a track's artists -> (artist tokens, genre tags)

    @staticmethod
    def _album(name: str | None, release_date: str | None) -> tuple[str, str]:
        """(album tokens, year tag) of an album."""
        year = year_of(release_date)
        return index_text(name), ("" if year is None else f"_y{year}")

    def _album_of(self, rowid: int) -> tuple[str, str]:
        row = self.conn.execute("SELECT name, release_date FROM albums WHERE rowid = ?", (rowid,)).fetchone()
        return self._album(row[0], row[1]) if row is not None else ("", "")

    def _artist(self, rowid: int) -> tuple[str, tuple[int, ...], list[str]]:
        row = self.conn.execute("SELECT name FROM artists WHERE rowid = ?", (rowid,)).fetchone()
        name = row[0] if row is not None else None
        rows = self.conn.execute("SELECT genre FROM artist_genres WHERE artist = ? ORDER BY position", (rowid,))
        genres = tuple(g for (g,) in rows)
        return index_text(name), genres, name_tags(name)

    def _credit(self, artists: str) -> tuple[str, str]:
        """(artist tokens, genre tags) of a track's artists, given as their rowids 'rowid,rowid' in order. The
        artists' whole-name tokens (text.name_tags) come last in the artists column, where the ranking reads
        them back (engine.score)."""
        names, genres, whole = [], set(), []
        for rowid in artists.split(","):
            text, genre_ids, tags = self.artists.get(int(rowid), self._artist)
            if text:
                names.append(text)
            genres.update(genre_ids)
            whole.extend(tags)
        return " ".join(names + list(dict.fromkeys(whole))), "".join(f" _g{g}" for g in sorted(genres))

    def docs(self, low: int, high: int) -> list[tuple[int, str, str, str, str]]:
        """Documents ((key, title, artists, album, tags) tuples: cheaper to pickle than objects) of the tracks with
        low <= rowid <= high, sorted by key."""
        # the hot loop of a rebuild: plain dict look-ups and tuples, no helper calls on a cache hit
        titles, albums, credits = self.titles.data, self.albums.data, self.credits.data
        explicit_tag = {None: "", 0: " _e0", 1: " _e1"}
        out = []
        # a track's artists as their rowids in position order (their names come from the artist memo)
        rows = self.conn.execute(
            "SELECT t.rowid, t.name, t.popularity, t.explicit, t.album, "
            "(SELECT group_concat(l.artist) FROM track_artists l WHERE l.track = t.rowid) "
            "FROM tracks t WHERE t.rowid BETWEEN ? AND ? AND t.level > 0",
            (low, high),
        )
        for rowid, name, popularity, explicit, album, artists in rows:
            title = titles.get(name)
            if title is None:
                title = self.titles.get(name, title_fields) if name else ("", "")
            album_text = albums.get(album)
            if album_text is None:
                album_text = self._album_of(album) if album is not None else ("", "")
                if len(albums) >= self.albums.limit:
                    albums.clear()
                albums[album] = album_text
            credit = credits.get(artists)
            if credit is None:
                credit = self.credits.get(artists, self._credit) if artists else ("", "")
            if popularity is None or popularity < 0:
                popularity = 0
            elif popularity > MAX_POPULARITY:
                popularity = MAX_POPULARITY
            tags = album_text[1] + explicit_tag.get(explicit, "") + credit[1] + title[1]
            out.append(
                (
                    ((MAX_POPULARITY - popularity) << ROWID_BITS) | rowid,
                    title[0],
                    credit[0],
                    album_text[0],
                    tags.strip(),
                )
            )
        out.sort()
        return out

    def docs_for(self, rowids: list[int]) -> Iterator[tuple[int, str, str, str, str]]:
        """Documents of the given tracks (those of level > 0), in rowid ranges."""
        rowids = sorted(set(rowids))
        start = 0
        while start < len(rowids):
            # neighbouring rowids are read as one range; the range query skips the rowids in between
            low = rowids[start]
            end = start
            while end + 1 < len(rowids) and rowids[end + 1] - low < CHUNK_ROWIDS:
                end += 1
            wanted = set(rowids[start : end + 1])
            for doc in self.docs(low, rowids[end]):
                if key_rowid(doc[0]) in wanted:
                    yield doc
            start = end + 1


def rowid_chunks(conn: sqlite3.Connection, size: int = CHUNK_ROWIDS) -> Iterator[tuple[int, int]]:
    """(low, high) rowid ranges covering the tracks table."""
    low, high = conn.execute("SELECT coalesce(min(rowid), 1), coalesce(max(rowid), 0) FROM tracks").fetchone()
    while low <= high:
        yield low, min(high, low + size - 1)
        low += size
