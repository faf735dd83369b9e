"""Queries over the search index: text search with popularity blending, id lookup, true shuffle.

How a text query runs (see docs.py for the key order):
1. Normalise it into groups of tokens (text.py); every group must match in title, artists or album.
2. Ask FTS5 for the first K matches in key order, i.e. the K most popular matching tracks. FTS5 walks the
   posting lists in rowid order and stops after K rows, so a word in a million titles costs no more than a rare
   one. Two such passes: "title" (the typed words next to each other in a title, through word-pair tokens; or
   one word in the title; or the first words as the title and the rest anywhere, as in "title artist") and
   "broad" (every word anywhere, the popular part of the catalog first). The title pass keeps the songs
   actually called what was typed from being crowded out by more popular tracks that only mention the words
   in an album title or an artist name.
3. Re-rank those candidates by text relevance (which field matched, how much of the title and of the artists
   the query covers; a word typed twice counts twice only where the track holds it twice)
   blended with popularity, and keep the best `limit`.

Prefixes and typos (expand.py, vocab.py) widen the words before the walk, in tiers: the words as typed; then
the last word's completions (found in the tracks matching the other words where that is cheap, else the most
frequent ones), while fewer than `limit` tracks were found; then every word's typo variants, when
nothing was found (as Typesense's typo_tokens_threshold of 1: words typed as they are indexed are taken as
meant). The ranking puts fewer edits first, then words as typed before completions, then relevance and
popularity; so once a tier has filled the results, a later tier cannot change the answer and is not run: a
clean query costs what it did before typos existed.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from fonoteca.archive import Archive
from fonoteca.catalog.ids import NAMESPACE_NAMES, parse_reference
from fonoteca.catalog.query import lookup_reference
from fonoteca.errors import FonotecaError, UsageError
from fonoteca.search import expand, vocab
from fonoteca.search.docs import (
    MAX_POPULARITY,
    biword,
    key_popularity,
    key_rowid,
    one_word_title,
    popularity_bound,
)
from fonoteca.search.expand import Alternative, Rules, Word
from fonoteca.search.index import MMAP_BYTES, IndexMissing, IndexState, index_dir, open_index
from fonoteca.search.text import NAME_TAG, fold, name_keys, query_groups, query_pairs, query_words, tokens

MAX_LIMIT = 1000
MIN_CANDIDATES = 50
# Further candidates a title pass reads at most (or `limit`, when more are asked for): 20 kept recall@10 of every
# class of the 1M quality set where 50 had it (bench/RESULTS.md), at two thirds of the typed queries' CPU time.
TITLE_CANDIDATES = 20
PREFIX_TRACKS = 500_000  # the popular part of the catalog searched first (see Searcher._ranked)
# Ranking weights: the field a query word was found in, how much of the title the query covers, popularity.
FIELD_WEIGHTS = (3.0, 2.5, 1.0)  # title, artists, album
COVERAGE_WEIGHT = 1.0
ARTIST_COVERAGE_WEIGHT = 0.3  # how much of the artists' names the query covers
# Title words, then one credited artist's whole name ("low fire" for Low by Fire$): this much times the share of
# the title those words cover, about 5 points of popularity: it puts the artist's own track above tracks called
# "Low Fire" that are as popular, not above clearly more popular ones (those are as likely to be what was meant;
# 0.15 kept recall@10 of clean queries at 0.99 and raised it on title + artist and on typos: bench/RESULTS.md).
ARTIST_NAME_WEIGHT = 0.15
POPULARITY_WEIGHT = 3.0  # popularity 0..100 adds 0..3: a title match outweighs ~ 30 points of popularity
# Typed references a user clearly meant as ids: no fallback to text search when nothing matches.
REFERENCE_PREFIXES = (
    "isrc:",
    "upc:",
    "ean:",
    "spotify:",
    "http://",
    "https://",
    "track:",
    "album:",
    "artist:",
    "playlist:",
    "musicbrainz:",
    "mbid:",
)

# Completions of the last word from the tracks themselves (Searcher._completions_in_context). An FTS5 prefix
# query merges the posting lists of every word starting with the prefix: on this machine about 5 us per word and
# 70 ns per posting (1M tracks: "bis" 243 words, 9,554 postings 1.3 ms; "bra" 1,262 words, 38,605 postings 7 ms),
# so it is asked only when that comes to PREFIX_QUERY_US or less.
PREFIX_TERM_US, PREFIX_POSTING_US, PREFIX_QUERY_US = 5.0, 0.07, 2000.0
CONTEXT_TRACKS = 200  # tracks read to find completions in
CONTEXT_COMPLETIONS = 48  # completions taken from them at most (the walk ORs them)
TYPO_TIER_BELOW = 1  # typo variants are tried when fewer tracks than this matched the words as typed or completed
ENTITY_WORDS = 6  # artist and album names are short: longer queries are about tracks
TITLE_HEAD_WORDS = 6  # queries up to this many words also try "title words, then artist or album words"
MAX_PAIR_TERMS = 64  # word-pair tokens of one neighbouring pair; past that the title pass is left to the broad one
MAX_NAME_TERMS = 64  # whole-name tokens the last words may stand for; past that no "title, then artist" pass

Groups = list[list[tuple[str, ...]]]
Candidates = dict[int, tuple[str, str, str]]


@dataclass
class SearchResponse:
    """What a search returns: `mode` is "lookup" (an id, ISRC or UPC matched), "text", or "filter" (no words:
    the tracks of a genre or year filter, most popular first)."""

    query: str
    mode: str
    results: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None
    # False when the less popular part of the catalog was not searched because the popular part had matches
    complete: bool = True
    # when nothing matched: a query made of the nearest indexed words that does find tracks
    did_you_mean: str | None = None
    # search(..., entities=N): artists and albums whose own name matches the words as the tracks did
    artists: list[dict[str, Any]] = field(default_factory=list)
    albums: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "mode": self.mode,
            "count": len(self.results),
            "complete": self.complete,
            "message": self.message,
            "did_you_mean": self.did_you_mean,
            "artists": self.artists,
            "albums": self.albums,
            "results": self.results,
        }


@dataclass(frozen=True)
class Filters:
    min_popularity: int | None = None
    years: tuple[int, int] | None = None  # inclusive
    genres: tuple[int, ...] | None = None  # genre rowids; any of them
    explicit: bool | None = None  # True: explicit only; False: everything not marked explicit

    def expression(self) -> str:
        """FTS5 filter terms to AND with the text (tags column: _yYEAR, _e0/_e1, _gGENRE)."""
        parts = []
        if self.years is not None:
            low, high = self.years
            parts.append("(" + " OR ".join(f'"_y{y}"' for y in range(low, high + 1)) + ")")
        if self.genres is not None:
            parts.append("(" + " OR ".join(f'"_g{g}"' for g in self.genres) + ")")
        if self.explicit is True:
            parts.append('"_e1"')
        return " AND ".join(parts)


def parse_years(text: str | int | None) -> tuple[int, int] | None:
    """'1995' -> (1995, 1995); '1990-1999' -> (1990, 1999); a usage error for anything else."""
    if text is None:
        return None
    value = str(text).strip()
    low, sep, high = value.partition("-")
    try:
        years = (int(low), int(high) if sep else int(low))
    except ValueError:
        raise UsageError(f"--year takes a year (1995) or a range (1990-1999), not {value!r}") from None
    if not (0 < years[0] <= years[1] < 10000) or years[1] - years[0] > 200:
        raise UsageError(f"--year {value!r}: expected years between 1 and 9999, a range of at most 200 years")
    return years


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _match_expression(groups: Groups) -> str:
    """FTS5 syntax built from tokens only: user text never reaches the query parser, so no syntax errors."""
    clauses = []
    for group in groups:
        alternatives = [" AND ".join(_quote(t) for t in alt) for alt in group]
        alternatives = [f"({a})" if len(alt) > 1 else a for a, alt in zip(alternatives, group, strict=True)]
        clauses.append(alternatives[0] if len(alternatives) == 1 else "(" + " OR ".join(alternatives) + ")")
    return " AND ".join(clauses)


def _prefix_query_us(terms: int, postings: int) -> float:
    """What an FTS5 prefix query over that many words and postings costs, roughly (PREFIX_QUERY_US)."""
    return PREFIX_TERM_US * terms + PREFIX_POSTING_US * postings


def _title_chain(groups: Groups) -> str:
    """Tracks whose title holds the typed words next to each other, in order: every pair of neighbouring words
    is a title word-pair token. Pair tokens are rare, so this is cheap over the whole catalog; and a title with
    all the pairs holds all the words."""
    clauses = []
    for pairs in query_pairs(groups):
        if len(pairs) > MAX_PAIR_TERMS:
            return ""
        terms = [_quote(biword(a, b)) for a, b in pairs]
        clauses.append(terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")")
    return " AND ".join(clauses)


def _title_passes(groups: Groups, order: Sequence[int] | None = None) -> list[str]:
    """The title pass's expressions: every typed word in title order (the chain); then, for queries short enough
    to be a title and an artist ("run rain night dj low"), the first two or more words as the title's chain and
    the rest anywhere, and the first words (the chain, or one word in the title) followed by one artist's whole
    name. Without these, a little-played track called what was typed loses its place among the candidates to
    popular tracks that hold the same words scattered over their fields. (One title word and the rest anywhere
    was a pass too: it brought in more noise than finds, recall@10 rose on every class without it, and at 10M it
    was the costliest pass.)"""
    groups = [groups[i] for i in order] if order is not None else groups  # as typed: a repeated word again
    passes = [_title_chain(groups)]
    if len(groups) <= TITLE_HEAD_WORDS:
        for cut in range(len(groups) - 1, 0, -1):
            head = _title_chain(groups[:cut]) if cut > 1 else f"{{title}} : ({_match_expression(groups[:1])})"
            if not head:
                continue
            if cut > 1:  # one title word and the rest anywhere: mostly noise, and the costliest pass at 10M
                passes.append(f"({head}) AND ({_match_expression(groups[cut:])})")
            # the rest as one artist's whole name: a rare token, so the artist's own track called that is found
            # even when the pass above fills up with popular tracks holding the words anywhere
            names = name_keys(groups[cut:], MAX_NAME_TERMS)
            if names:
                passes.append(f"({head}) AND ({' OR '.join(_quote(n) for n in names)})")
    return [p for p in passes if p]


@dataclass
class InContext:
    """Searcher._completions_in_context: the completions seen, whether they are all the completions that can match
    (every matching track was read), and those tracks (key -> title, artists, album tokens)."""

    terms: list[str]
    every: bool
    tracks: Candidates


class Compiled:
    """Words prepared for scoring many candidates: single-token spellings in a dict (a candidate's few tokens
    are looked up, instead of every spelling searched in the candidate), and the typed order: `order` lists,
    per typed word, its word's index (a word typed twice appears twice)."""

    def __init__(self, words: list[Word], order: Sequence[int] | None = None) -> None:
        self.order = list(order) if order is not None else list(range(len(words)))
        self.count = len(self.order)
        self.repeated = {i for i in self.order if self.order.count(i) > 1}
        self.single: list[dict[str, Alternative]] = []
        self.multi: list[list[Alternative]] = []
        # per way of cutting the typed words into "title words, then an artist's whole name": where the cut is,
        # and the whole-name tokens the words after it may stand for (score's ARTIST_NAME_WEIGHT)
        self.name_cuts: list[tuple[int, set[str]]] = []
        if self.count <= TITLE_HEAD_WORDS:
            typed = [expand.as_groups([words[i]])[0] for i in self.order]
            for cut in range(1, self.count):
                names = name_keys(typed[cut:], MAX_NAME_TERMS)
                if names:
                    self.name_cuts.append((cut, set(names)))
        for word in words:
            single: dict[str, Alternative] = {}
            for alternative in word:
                if len(alternative.tokens) == 1:
                    token = alternative.tokens[0]
                    if token not in single or alternative.rank < single[token].rank:
                        single[token] = alternative
            self.single.append(single)
            self.multi.append([a for a in word if len(a.tokens) > 1])


_AS_TYPED = (0, False)  # the rank of a word as typed: no edits, not completed
_FIELD_NUMBERS = (0, 1, 2)


class _Fields:
    """A candidate's title, artists and album tokens as sets, the album's made only when asked for: most typed
    words are found in the title or the artists first, and most candidates are scored and dropped."""

    __slots__ = ("sets", "album")

    def __init__(self, title: str, artists: str, album: str) -> None:
        self.sets: list[set[str] | None] = [set(title.split()), set(artists.split()), None]
        self.album = album

    def __getitem__(self, where: int) -> set[str]:
        found = self.sets[where]
        if found is None:
            found = self.sets[where] = set(self.album.split())
        return found


def score(words: Compiled, title: str, artists: str, album: str, key: int) -> tuple[int, bool, float]:
    """(edits, last word only completed, relevance blended with popularity): the ranking sorts by the first two
    ascending, then by the third descending. Per typed word, its cheapest spelling found in the track counts,
    and the field it was found in (title, artists, album; spread over several: half the album's weight). A word
    typed twice counts twice only where the field holds it twice."""
    artists, _, whole_names = artists.partition(" " + NAME_TAG)  # the artists' whole-name tokens come last
    if artists.startswith(NAME_TAG):
        artists, whole_names = "", artists[len(NAME_TAG) :]
    texts = (title, artists, album)
    fields = _Fields(title, artists, album)
    text = 0.0
    edits = 0
    completed = False
    matched: set[str] = set()
    used: dict[tuple[int, str], int] = {}  # (field, token) -> times a repeated word took it
    found_in: list[int] = []  # per typed word, the field its spelling was found in (-1: not found)
    for number in words.order:
        single, multi = words.single[number], words.multi[number]
        repeated = number in words.repeated
        best: tuple[tuple[int, bool], int, Alternative] | None = None
        for where in _FIELD_NUMBERS:
            field_tokens = fields[where]
            for token in single.keys() & field_tokens:  # a set operation in C: a word has few spellings
                if repeated and used.get((where, token), 0) >= texts[where].split().count(token):
                    continue  # taken by the same word typed earlier
                alternative = single[token]
                rank = alternative.rank
                if best is None or (rank, where) < best[:2]:
                    best = (rank, where, alternative)
            if best is not None and best[0] == _AS_TYPED:
                break  # typed as is, in the best field so far: nothing later can beat it
        for alternative in multi:
            spread = _spread(alternative.tokens, fields)
            if spread is not None and (best is None or (alternative.rank, spread) < best[:2]):
                best = (alternative.rank, spread, alternative)
        if best is None:
            found_in.append(-1)
            continue
        _, where, alternative = best
        found_in.append(where)
        if repeated and len(alternative.tokens) == 1:
            used[(where, alternative.tokens[0])] = used.get((where, alternative.tokens[0]), 0) + 1
        edits += alternative.edits
        completed = completed or alternative.completed
        matched.update(alternative.tokens)
        text += FIELD_WEIGHTS[where] if where < len(FIELD_WEIGHTS) else FIELD_WEIGHTS[-1] / 2
    text /= max(1, words.count)
    title_tokens, artist_tokens = fields[0], fields[1]
    title_share = len(title_tokens & matched) / len(title_tokens) if title_tokens else 0.0
    text += COVERAGE_WEIGHT * title_share
    if whole_names and words.name_cuts and _names_typed(words, found_in, whole_names):
        text += ARTIST_NAME_WEIGHT * title_share
    if artist_tokens & matched:  # "storm lil ghost": Storm by Lil Ghost before Storm Ghost by Lil Baby
        text += ARTIST_COVERAGE_WEIGHT * len(artist_tokens & matched) / len(artist_tokens)
    return edits, completed, text + POPULARITY_WEIGHT * key_popularity(key) / MAX_POPULARITY


def _names_typed(words: Compiled, found_in: list[int], whole_names: str) -> bool:
    """Whether the typed words are title words followed by the whole name of one of the track's artists."""
    titled = 0  # how many of the first typed words were found in the title
    while titled < len(found_in) and found_in[titled] == 0:
        titled += 1
    credited: set[str] | None = None
    for cut, names in words.name_cuts:  # by cut, ascending
        if cut > titled:
            break
        if credited is None:
            credited = set((NAME_TAG + whole_names).split())
        if not names.isdisjoint(credited):
            return True
    return False


def _spread(tokens: tuple[str, ...], fields: _Fields) -> int | None:
    """The first field holding all the tokens; len(fields) when they are only spread over several; None."""
    sets = [fields[number] for number in _FIELD_NUMBERS]
    for number, field_tokens in enumerate(sets):
        if all(t in field_tokens for t in tokens):
            return number
    if all(any(t in f for f in sets) for t in tokens):
        return len(sets)
    return None


def _covers(words: Compiled, name_tokens: str) -> bool:
    """Whether a name holds a spelling of every word."""
    present = set(name_tokens.split())
    for single, multi in zip(words.single, words.multi, strict=True):
        if single.keys().isdisjoint(present) and not any(all(t in present for t in a.tokens) for a in multi):
            return False
    return True


def rank_key(scored: tuple[int, bool, float], key: int) -> tuple[int, bool, float, int]:
    edits, completed, value = scored
    return edits, completed, -value, key


class Searcher:
    """Search, lookup and shuffle over one archive; keeps its connections open between calls (for the web)."""

    def __init__(self, archive: Archive, rules: Rules | None = None) -> None:
        self.archive = archive
        self.rules = rules or Rules.from_config(archive.config)
        self.directory = index_dir(archive)
        self._catalog: sqlite3.Connection | None = None
        self._index: sqlite3.Connection | None = None
        self._state: IndexState | None = None
        self._pointer: tuple[int, int] | None = None
        self._genres: list[tuple[int, str]] | None = None
        self._keys: tuple[str, np.ndarray] | None = None
        self._offsets: list[int] = []
        self._split: int | None = None

    # --- connections ----------------------------------------------------------------------------------------
    @property
    def catalog(self) -> sqlite3.Connection:
        if self._catalog is None:
            self._catalog = self.archive.connect(readonly=True)
            self._catalog.execute(f"PRAGMA mmap_size={MMAP_BYTES}")  # result rows are scattered reads
        return self._catalog

    def _pointer_stamp(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.directory / "CURRENT")
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def index(self) -> tuple[sqlite3.Connection, IndexState]:
        """The live index; reopened when a rebuild has switched CURRENT to new files."""
        stamp = self._pointer_stamp()
        if self._index is None or stamp != self._pointer:
            if self._index is not None:
                self._index.close()
                self._index = None
            try:
                self._index, self._state = open_index(self.directory)
            except IndexMissing:
                raise FonotecaError(
                    f"no search index in {self.directory}; build it with: fonoteca index rebuild"
                ) from None
            self._pointer = stamp
            self._split = self._prefix_end()
        assert self._state is not None
        return self._index, self._state

    def _prefix_end(self) -> int | None:
        """Key of the PREFIX_TRACKS-th most popular track (None for smaller catalogs). Computed when the index is
        opened; imports move it a little, which only moves the boundary between the two scan phases."""
        keys, end = self._shuffle_array(0)
        return int(keys[PREFIX_TRACKS]) if end > PREFIX_TRACKS else None

    def close(self) -> None:
        for conn in (self._catalog, self._index):
            if conn is not None:
                conn.close()
        self._catalog = self._index = None

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- search ---------------------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        limit: int = 20,
        min_popularity: int | None = None,
        year: str | int | None = None,
        genre: str | None = None,
        explicit: bool | None = None,
        exact: bool = False,
        entities: int = 0,
    ) -> SearchResponse:
        """Tracks matching `query`, best first; an id, ISRC or UPC is looked up instead.

        exact: every word as typed (no completion of the last word, no typos), whatever `[search]` says.
        entities: also up to this many artists and albums whose own name matches the words, read the way the
        tracks were (as typed, completed or with typos), for a text query without filters.
        Raises UsageError for an empty query without a genre or year filter, one without any letter or digit,
        or bad filter values.
        """
        prepared = self._prepare(query, limit, min_popularity, year, genre, explicit)
        if isinstance(prepared, SearchResponse):
            return prepared
        text, groups, order, filters = prepared
        rules = self.rules.exact() if exact else self.rules
        keys, complete, words, found = self._ranked(groups, filters, limit, rules, order)
        response = SearchResponse(
            text, "text", self._tracks([k for k, _ in keys], [s for _, s in keys]), complete=complete
        )
        if entities and found and filters == Filters() and len(groups) <= ENTITY_WORDS:
            response.artists = self._named(found, groups, words, 1, entities)
            response.albums = self._named(found, groups, words, 2, entities)
        if not response.results:
            response.did_you_mean = self._did_you_mean(groups, filters, rules)
            response.message = "no tracks match" + (
                f"; did you mean: {response.did_you_mean}" if response.did_you_mean else ""
            )
        return response

    def track_rowids(self, query: str, *, limit: int = 20, depth: int | None = None) -> list[int]:
        """The rowids of the tracks search(query, limit=limit) lists, in its order, without the display rows it
        reads for them (nor a did-you-mean when nothing matches): for callers that read rows of their own (the
        Subsonic API). `depth` > limit: after those, the further matches the search read anyway, in rank order,
        up to `depth` in all (no deeper walk: they are fewer when fewer were read). Raises what search raises."""
        prepared = self._prepare(query, limit)
        if isinstance(prepared, SearchResponse):  # an id, ISRC or UPC: what it names, of which only the tracks
            return [hit["rowid"] for hit in prepared.results if hit.get("kind") == "track"]
        _, groups, order, filters = prepared
        keys, _, _, _ = self._ranked(groups, filters, limit, self.rules, order, keep=max(limit, depth or 0))
        # as indexed: a track gone from the catalog since the index was built (no command deletes tracks) is for
        # the caller's own read to leave out, as search's read of display rows does
        return [key_rowid(key) for key, _ in keys]

    def _prepare(
        self,
        query: str,
        limit: int,
        min_popularity: int | None = None,
        year: str | int | None = None,
        genre: str | None = None,
        explicit: bool | None = None,
    ) -> SearchResponse | tuple[str, Groups, list[int], Filters]:
        """The checked arguments of a text search (text, token groups, the typed order, filters), or the whole
        answer when there is no text to rank: a filter's tracks, or what an id, ISRC or UPC names."""
        if not 1 <= limit <= MAX_LIMIT:
            raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}")
        if min_popularity is not None and not 0 <= min_popularity <= MAX_POPULARITY:
            raise UsageError("--min-popularity must be between 0 and 100")
        text = query.strip()
        if not text:
            # no words but a genre or year filter: that filter's tracks, most popular first
            filters = Filters(min_popularity, parse_years(year), self._genre_ids(genre) if genre else None, explicit)
            if filters.genres is None and filters.years is None:
                raise UsageError("empty query: type a few words of a title or artist, or an id, ISRC or UPC")
            return self._filtered(filters, limit)
        looked_up = self._lookup(text)
        if looked_up is not None:
            return looked_up
        groups, order = query_words(text)
        if not groups:
            raise UsageError(f"nothing to search for in {_clip(text)!r}: it has no letters or digits")
        filters = Filters(min_popularity, parse_years(year), self._genre_ids(genre) if genre else None, explicit)
        return text, groups, order, filters

    def _did_you_mean(self, groups: Groups, filters: Filters, rules: Rules) -> str | None:
        """The typed words with the unindexed ones replaced by their nearest indexed word, when that finds tracks
        (under the same rules: with --exact, as typed)."""
        conn, _ = self.index()
        corrected = expand.corrections(conn, groups, self.rules)
        if corrected is None:
            return None
        suggestion = " ".join(corrected)
        found, _, _, _ = self._ranked(query_groups(suggestion), filters, 1, rules)
        return suggestion if found else None

    def _lookup(self, text: str) -> SearchResponse | None:
        if len(text) > 200:
            return None  # no id is that long
        ref = parse_reference(text)
        if ref.kind == "any" and ref.ns is None:
            return None
        found = lookup_reference(self.catalog, ref)
        hidden = self._withdrawn()
        if hidden:
            found = [f for f in found if f.get("kind") != "track" or f.get("rowid") not in hidden]
        if found:
            return SearchResponse(text, "lookup", found)
        if text.lower().startswith(REFERENCE_PREFIXES):
            return SearchResponse(text, "lookup", [], f"nothing in the catalog matches {text!r}")
        return None  # looked like an id by chance (a 22-letter word, a number): search it as text

    def _ranked(
        self,
        groups: Groups,
        filters: Filters,
        limit: int,
        rules: Rules | None = None,
        order: list[int] | None = None,
        *,
        keep: int | None = None,
    ) -> tuple[list[tuple[int, float]], bool, list[Word], Candidates]:
        """The best `limit` (key, score) pairs (`keep`: as many of the ranked candidates, when more or fewer are
        wanted than the search was sized for), whether every matching track was considered, the words as widened
        to find them, and every candidate read (key -> title, artists, album tokens).

        Tiers (module docstring): the words as typed; with the last word's completions while fewer than `limit`
        tracks were found; with typo variants when none was.
        """
        conn, _ = self.index()
        rules = rules or self.rules
        words = expand.exact_words(groups)
        found, complete = self._walk(conn, words, filters, limit, order)
        for widen, enough in ((expand.with_completions, limit), (expand.with_typos, TYPO_TIER_BELOW)):
            if len(found) >= enough:
                continue
            if widen is expand.with_completions:
                seen = self._completions_in_context(conn, words, filters, rules)
                wider = expand.with_completions(conn, words, rules, seen.terms, only=seen.every)
                if wider is not None and seen.every:
                    words = wider  # every matching track was read to find them: no walk needed
                    found.update(seen.tracks)
                    continue
            else:
                wider = widen(conn, words, rules)
            if wider is None:
                continue
            walked = wider
            if widen is expand.with_completions:
                # this tier runs only when the walk before it was complete (fewer than `limit` matches): the
                # matches of the word as typed are all in, so only its completions are walked (the typed word in
                # the OR made this walk as long as the first one)
                walked = wider[:-1] + [wider[-1][len(words[-1]) :]]
            words = wider
            more, more_complete = self._walk(conn, walked, filters, limit, order, have=len(found))
            found.update(more)
            complete = complete and more_complete
        hidden = self._withdrawn()
        if hidden:  # withdrawn tracks are left out before ranking, so `limit` others fill the results
            found = {key: texts for key, texts in found.items() if key_rowid(key) not in hidden}
        compiled = Compiled(words, order)
        ranked = sorted(((rank_key(score(compiled, *texts, key), key), key) for key, texts in found.items()))
        kept = ranked[: limit if keep is None else keep]
        return [(key, -sort_key[2]) for sort_key, key in kept], complete, words, found

    def _completions_in_context(
        self, conn: sqlite3.Connection, words: list[Word], filters: Filters, rules: Rules
    ) -> InContext:
        """Completions of the last word found in tracks that match the other words (and the filters), most popular
        track first.

        The vocabulary's most frequent completions miss a rare word ("love bis" for Love Bisax, "home nan bras"
        for Home Nan Braso), so the tracks are asked: with FTS5's own prefix query when the words starting with
        the prefix are few enough for FTS5 to merge their postings quickly (PREFIX_QUERY_US); otherwise, when
        the other words match few tracks (fewer than CONTEXT_TRACKS), those tracks' words are read."""
        prefixes = expand.completable(words, rules)
        if not prefixes:
            return InContext([], False, {})
        context = _match_expression(expand.as_groups(words[:-1])) if len(words) > 1 else ""
        extra = filters.expression()
        clean = filters.explicit is False
        upper = popularity_bound(filters.min_popularity or 0)
        seen: dict[str, None] = {}
        tracks: Candidates = {}
        every = True
        for prefix in prefixes:
            spread = vocab.prefix_spread(conn, prefix)
            if spread is not None and _prefix_query_us(*spread) <= PREFIX_QUERY_US:
                asked = f"{_quote(prefix)}*"
                expression = f"{context} AND {asked}" if context else asked
            elif context:
                expression = context
            else:
                every = False  # a short, common prefix alone: left to the most frequent completions
                continue
            rows = self._candidates(conn, expression, extra, clean, upper, CONTEXT_TRACKS)
            if len(rows) >= CONTEXT_TRACKS:
                every = False
                if expression == context:
                    continue  # the other words are common: their first tracks say little about the prefix
            for key, texts in rows.items():
                completed = [
                    token
                    for text in texts
                    for token in text.split()
                    if token.startswith(prefix) and token != prefix and vocab.is_word(token)
                ]
                if completed:
                    tracks[key] = texts
                    seen.update(dict.fromkeys(completed))
        terms = list(seen)
        if len(terms) > CONTEXT_COMPLETIONS:
            terms, every = terms[:CONTEXT_COMPLETIONS], False
        return InContext(terms, every, tracks)

    def _walk(
        self,
        conn: sqlite3.Connection,
        words: list[Word],
        filters: Filters,
        limit: int,
        order: list[int] | None = None,
        *,
        have: int = 0,
    ) -> tuple[dict[int, tuple[str, str, str]], bool]:
        """Candidates for the words, and whether every matching track was considered (`have`: candidates an
        earlier tier found, counted towards `limit`).

        Two kinds of candidates, both read in popularity order with early termination:
        - broad: every word anywhere, over the PREFIX_TRACKS most popular tracks first and over the rest only
          when fewer than `limit` matched there. Common words that rarely meet then cost a scan of the popular
          prefix, not of the whole catalog; what is skipped is the less popular matches of a query that has
          enough results.
        - title, only when the broad pass had to stop early (otherwise it holds every match already): one word
          with a column filter; several words through the title's word-pair tokens (short posting lists, cheap
          over the whole catalog), all of them in the order typed, then the first ones as the title and the rest
          anywhere or as an artist's whole name (_title_passes), so a little-played track called what
          was typed is not crowded out by more popular tracks that hold the same words scattered over their
          fields. Each title pass matches a subset of the broad matches, so it starts past the last one the
          broad pass read and reads TITLE_CANDIDATES more at most.
        """
        groups = expand.as_groups(words)
        expression = _match_expression(groups)
        extra = filters.expression()
        upper = popularity_bound(filters.min_popularity or 0)
        clean = filters.explicit is False
        want = max(MIN_CANDIDATES, 2 * limit)
        title_want = max(TITLE_CANDIDATES, limit)
        split = self._split
        ends = [upper] if split is None or split >= upper else [split, upper]  # where each part's keys end
        found: dict[int, tuple[str, str, str]] = {}
        complete, cut_short = True, False
        held = upper - 1  # every broad match with a key up to this one is in `found`
        # Both parts in one walk of the posting lists: FTS5 stops an AND of words at a rowid bound only when it
        # finds a match past it, so a walk of the popular part alone read on to the next match in the other part
        # (common words that rarely meet: to deep among the unplayed tracks), and the second walk read it again.
        part, in_part = 0, 0
        for key, title, artists, album in self._matches(conn, expression, extra, clean, upper, -1, len(ends) * want):
            if key >= ends[part]:  # into the less popular part: the popular part had fewer than `want`
                if have + len(found) >= limit:  # ... but enough results: the rest is not read
                    complete, cut_short, held = False, True, ends[part] - 1
                    break
                part, in_part = part + 1, 0
            found[key] = (title, artists, album)
            in_part += 1
            if in_part >= want:  # the `want` most popular matches of this part are in: the rest are less popular
                cut_short, held = True, key
                if len(groups) == 1:
                    in_title = f"{{title}} : ({expression})"
                    found.update(self._candidates(conn, in_title, extra, clean, ends[part], title_want, held))
                break
        if cut_short and len(groups) == 1:
            # the tracks called just that word, over the whole catalog, the less popular part too (a short posting
            # list): an unplayed "Moon" is behind thousands of popular titles holding the word with others
            alone = " OR ".join(_quote(one_word_title(alt[0])) for alt in groups[0] if len(alt) == 1)
            if alone:
                found.update(self._candidates(conn, alone, extra, clean, upper, title_want, held))
        # Every title pass asks for a subset of the broad matches: only worth running when some were cut off, and
        # only past the ones the broad pass read (those are in already; reading them again was most of its cost).
        if cut_short and len(order if order is not None else groups) > 1:
            for title_pass in _title_passes(groups, order):
                found.update(self._candidates(conn, title_pass, extra, clean, upper, title_want, held))
        return found, complete

    # --- artists and albums ------------------------------------------------------------------------------------
    def entities(self, query: str, *, limit: int = 3, exact: bool = False) -> dict[str, list[dict[str, Any]]]:
        """Artists and albums whose own name holds every typed word, best first: fewer edits, typed before
        completed, the whole name typed, then the most popular (see search(..., entities=N))."""
        try:
            response = self.search(query, limit=1, exact=exact, entities=limit)
        except UsageError:
            return {"artists": [], "albums": []}
        return {"artists": response.artists, "albums": response.albums}

    def _named(
        self, found: Candidates, groups: Groups, words: list[Word], column: int, limit: int
    ) -> list[dict[str, Any]]:
        """Artists (column 1) or albums (2) named by the words, from the tracks the search read.

        Those tracks are the most popular matches of the words (as typed, completed or with typos): an artist or
        album whose name holds all the words and has a track among them is a popular one, worth listing above
        the tracks; the rest would be ranked below those tracks anyway. No extra index walk. A name matches well
        only when that one artist's (album's) own name holds all the words, not a track's credits together."""
        compiled = Compiled(words)
        keys = [key for key, texts in found.items() if _covers(compiled, texts[column])]
        if not keys:
            return []
        typed = " ".join(t for group in groups for t in group[0])
        named = self._artists_of(keys) if column == 1 else self._albums_of(keys)
        ranked = []
        for entity in named.values():
            if _covers(compiled, entity["_tokens"]):
                edits, completed, _ = score(compiled, entity["_tokens"], "", "", entity["_key"])
                ranked.append(((edits, completed, entity["_tokens"] != typed, entity["_key"]), entity))
        ranked.sort(key=lambda item: item[0])
        return [{k: v for k, v in entity.items() if not k.startswith("_")} for _, entity in ranked[:limit]]

    def _artists_of(self, keys: list[int]) -> dict[int, dict[str, Any]]:
        """Each artist credited on these tracks, with the key of its most popular one (keys come most popular
        first)."""
        order = {key_rowid(k): k for k in sorted(keys, reverse=True)}
        marks = ",".join("?" * len(order))
        found: dict[int, dict[str, Any]] = {}
        for track, rowid, ns, id_, name in self.catalog.execute(
            "SELECT l.track, ar.rowid, ar.ns, ar.id, ar.name FROM track_artists l JOIN artists "
            f"ar ON ar.rowid = l.artist WHERE l.track IN ({marks}) AND ar.name IS NOT NULL",
            list(order),
        ):
            key = order[track]
            if rowid not in found or key < found[rowid]["_key"]:
                found[rowid] = {
                    "kind": "artist",
                    "id": id_,
                    "source": NAMESPACE_NAMES.get(ns),
                    "name": name,
                    "popularity": key_popularity(key),
                    "_key": key,
                    "_tokens": " ".join(tokens(name)),
                }
        return found

    def _albums_of(self, keys: list[int]) -> dict[int, dict[str, Any]]:
        order = {key_rowid(k): k for k in sorted(keys, reverse=True)}
        marks = ",".join("?" * len(order))
        found: dict[int, dict[str, Any]] = {}
        for track, rowid, ns, id_, name, release_date in self.catalog.execute(
            "SELECT t.rowid, a.rowid, a.ns, a.id, a.name, a.release_date FROM tracks t JOIN albums a "
            f"ON a.rowid = t.album WHERE t.rowid IN ({marks}) AND a.name IS NOT NULL",
            list(order),
        ):
            key = order[track]
            if rowid not in found or key < found[rowid]["_key"]:
                found[rowid] = {
                    "kind": "album",
                    "id": id_,
                    "source": NAMESPACE_NAMES.get(ns),
                    "name": name,
                    "release_date": release_date,
                    "popularity": key_popularity(key),
                    "_key": key,
                    "_tokens": " ".join(tokens(name)),
                    "_rowid": rowid,
                }
        if found:
            marks = ",".join("?" * len(found))
            credits: dict[int, list[dict[str, Any]]] = {}
            for album, id_, name in self.catalog.execute(
                "SELECT l.album, ar.id, ar.name FROM album_artists l JOIN artists ar ON ar.rowid = l.artist "
                f"WHERE l.album IN ({marks}) ORDER BY l.album, l.position",
                list(found),
            ):
                credits.setdefault(album, []).append({"id": id_, "name": name})
            for rowid, entity in found.items():
                entity["artists"] = credits.get(rowid, [])
        return found

    def _filtered(self, filters: Filters, limit: int) -> SearchResponse:
        """The `limit` most popular tracks that pass the filters: the filter terms alone, in key order."""
        conn, _ = self.index()
        found = self._candidates(
            conn,
            filters.expression(),
            "",
            filters.explicit is False,
            popularity_bound(filters.min_popularity or 0),
            limit + len(self._withdrawn()),
        )
        keys = list(found)[: limit + len(self._withdrawn())]
        response = SearchResponse("", "filter", self._tracks(keys, [None] * len(keys))[:limit])
        if not response.results:
            response.message = "no tracks match"
        return response

    @staticmethod
    def _candidates(
        conn: sqlite3.Connection, text: str, extra: str, clean: bool, bound: int, want: int, after: int = -1
    ) -> dict[int, tuple[str, str, str]]:
        """The first `want` matches with after < key < bound, in key order (the most popular first)."""
        rows = Searcher._matches(conn, text, extra, clean, bound, after, want)
        return {key: (title, artists, album) for key, title, artists, album in rows}

    @staticmethod
    def _matches(
        conn: sqlite3.Connection, text: str, extra: str, clean: bool, bound: int, after: int, want: int
    ) -> sqlite3.Cursor:
        """(key, title, artists, album) of the first `want` matches with after < key < bound, in key order, read
        as they are consumed."""
        match = f"({text}) AND {extra}" if extra else text
        if clean:
            match = f'({match}) NOT "_e1"'
        return conn.execute(
            "SELECT rowid, title, artists, album FROM docs WHERE docs MATCH ? AND rowid > ? AND rowid < ? "
            "ORDER BY rowid LIMIT ?",
            (match, after, bound, want),
        )

    def _genre_ids(self, genre: str) -> tuple[int, ...]:
        """Genre rowids for a name: exact (case and accents ignored), else every genre containing those words."""
        if self._genres is None:
            self._genres = [
                (rowid, fold(name)) for rowid, name in self.catalog.execute("SELECT rowid, name FROM genres")
            ]
        wanted = " ".join(fold(genre).split())
        if not wanted:
            raise UsageError("--genre needs a genre name")
        exact = tuple(rowid for rowid, name in self._genres if name == wanted)
        if exact:
            return exact
        words = set(wanted.split())
        partial = tuple(rowid for rowid, name in self._genres if words <= set(name.split()))
        if not partial:
            raise FonotecaError(f"no genre called {genre!r} in the catalog")
        return partial[:256]

    def _withdrawn(self) -> dict[int, Any]:
        """Tracks the archive's withdrawals ledger withdraws: search leaves them out (fonoteca.ledger)."""
        from fonoteca.ledger import withdrawn_rowids

        return withdrawn_rowids(self.catalog, self.archive.root)

    # --- results --------------------------------------------------------------------------------------------
    def _tracks(self, keys: Sequence[int], scores: Sequence[float | None]) -> list[dict[str, Any]]:
        """Display data of tracks from the catalog, in the order of `keys`."""
        if not keys:
            return []
        hidden = self._withdrawn()
        rowids = [key_rowid(k) for k in keys]
        if hidden:
            kept = [(r, v) for r, v in zip(rowids, scores, strict=True) if r not in hidden]
            rowids, scores = [r for r, _ in kept], [v for _, v in kept]
            if not rowids:
                return []
        marks = ",".join("?" * len(rowids))
        rows = {
            r[0]: r
            for r in self.catalog.execute(
                "SELECT t.rowid, t.ns, t.id, t.name, t.popularity, t.explicit, t.isrc, t.duration_ms, a.id, a.name, "
                f"a.release_date FROM tracks t LEFT JOIN albums a ON a.rowid = t.album WHERE t.rowid IN ({marks})",
                rowids,
            )
        }
        artists: dict[int, list[dict[str, Any]]] = {}
        for track, id_, name in self.catalog.execute(
            "SELECT l.track, ar.id, ar.name FROM track_artists l JOIN artists ar ON ar.rowid = l.artist "
            f"WHERE l.track IN ({marks}) ORDER BY l.track, l.position",
            rowids,
        ):
            artists.setdefault(track, []).append({"id": id_, "name": name})
        out = []
        for rowid, value in zip(rowids, scores, strict=True):
            row = rows.get(rowid)
            if row is None:
                continue  # gone from the catalog since the index was built
            _, ns, id_, name, popularity, explicit, isrc, duration, album_id, album_name, release_date = row
            out.append(
                {
                    "kind": "track",
                    "rowid": rowid,
                    "source": NAMESPACE_NAMES.get(ns),
                    "id": id_,
                    "name": name,
                    "artists": artists.get(rowid, []),
                    "album": {"id": album_id, "name": album_name, "release_date": release_date} if album_id else None,
                    "year": int(release_date[:4]) if release_date and release_date[:4].isdigit() else None,
                    "popularity": popularity,
                    "explicit": None if explicit is None else bool(explicit),
                    "isrc": isrc,
                    "duration_ms": duration,
                    "score": None if value is None else round(value, 4),
                }
            )
        return out

    # --- shuffle --------------------------------------------------------------------------------------------
    def shuffle(
        self, *, min_popularity: int = 0, count: int = 1, rng: np.random.Generator | None = None
    ) -> list[dict[str, Any]]:
        """`count` distinct tracks drawn uniformly at random among the tracks with popularity >= min_popularity.

        Constant time per draw: the index keeps every track's key sorted by popularity, and how many tracks
        reach each popularity, so a draw is one random number below that count and one array read.
        """
        keys = self.shuffle_keys(min_popularity, count, rng)
        return self._tracks([int(k) for k in keys], [None] * len(keys))

    def shuffle_keys(
        self, min_popularity: int = 0, count: int = 1, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        if not 0 <= min_popularity <= MAX_POPULARITY:
            raise UsageError("--min-popularity must be between 0 and 100")
        if not 1 <= count <= MAX_LIMIT:
            raise UsageError(f"--count must be between 1 and {MAX_LIMIT}")
        keys, end = self._shuffle_array(min_popularity)
        if end == 0:
            raise FonotecaError(f"no tracks with popularity >= {min_popularity} in the index")
        rng = rng or np.random.default_rng()
        picks = rng.choice(end, size=min(count, end), replace=False) if count > 1 else rng.integers(0, end, size=1)
        return np.asarray(keys[picks], dtype=np.int64)

    def _shuffle_array(self, min_popularity: int) -> tuple[np.ndarray, int]:
        conn, _ = self.index()
        for _ in range(3):
            # read on every call: an import may have updated the index (and its shuffle file) since the last one
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('shuffle', 'offsets')").fetchall())
            name = orjson.loads(meta["shuffle"])
            if self._keys is None or self._keys[0] != name:
                try:
                    self._keys = (name, np.load(self.directory / name, mmap_mode="r"))
                except FileNotFoundError:
                    continue  # replaced between our read of meta and the open: read meta again
                self._offsets = orjson.loads(meta["offsets"])
            return self._keys[1], int(self._offsets[min_popularity])
        raise FonotecaError("the search index is changing too fast to read; try again")


def _clip(text: str, size: int = 60) -> str:
    return text if len(text) <= size else text[:size] + "..."


def search(archive: Archive | Path, query: str, **options: Any) -> SearchResponse:
    """One-off search (opens and closes its connections); long-lived callers keep a Searcher."""
    from fonoteca.archive import open_archive

    with Searcher(archive if isinstance(archive, Archive) else open_archive(archive)) as searcher:
        return searcher.search(query, **options)


__all__ = ["Filters", "Rules", "SearchResponse", "Searcher", "parse_years", "rank_key", "score", "search", "Compiled"]
