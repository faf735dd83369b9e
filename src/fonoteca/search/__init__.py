"""Search: full-text index derived from the catalog, id lookup, true shuffle.

For other stages (the web app): keep one `Searcher(archive)` open and call
`searcher.search(query, limit=20, min_popularity=None, year=None, genre=None, explicit=None, exact=False,
entities=0)` -> SearchResponse (the last word as a prefix, typos within [search]'s budget unless exact; with
entities=N also the matching artists and albums; did_you_mean when nothing matched)
and `searcher.shuffle(min_popularity=0, count=1)` -> list of track dicts.
"""

from fonoteca.lazy import lazy_exports

_EXPORTS = {
    "SearchResponse": "engine",
    "Searcher": "engine",
    "search": "engine",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
