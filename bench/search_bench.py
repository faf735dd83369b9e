"""Search benchmark: Fonoteca's index against a plain SQLite FTS5 bm25 anchor and Tantivy, on one catalog.

    python bench/search_bench.py --catalog ARCHIVE_DIR --work BENCH_DIR [--queries 1000] [--engines ...]
        [--per-class 200] [--web]

The catalog is opened read-only; every index is written under --work. Measured, on the same data and the same
queries in the same run:
- fonoteca   `fonoteca index rebuild`'s build (catalog -> index), then Searcher.search(q, limit=20): the whole
             call, results with display fields read from the catalog; "fonoteca-index" is the ranking alone.
- anchor     a plain FTS5 table (default unicode61 tokenizer) over raw title/artists/album, ranked by bm25,
             top 20: the obvious way to do it.
- tantivy    tantivy-py over the same tokens, sorted by popularity; two rankings: BM25 weighted by popularity
             (weight_by_field) top 20, and the 50 most popular matches (what Fonoteca re-ranks), both index-only.
Queries: 1-3 consecutive words of real titles (tracks drawn half uniformly, half by popularity, so word
frequencies are mixed), a quarter of them with a word of the artist's name, as typed (case, accents).
Latency: one warm-up pass over all queries, then a measured pass; median, p95, p99 in milliseconds.

As people type (engines "typos" and "tantivy"), on the same queries and on the query set of
fonoteca.search.quality (--per-class queries of each class: clean, title + artist, one typo of each kind, missing
marks, two typos, prefixes; intended track known), with recall@1 and recall@10 per class:
- fonoteca-exact   Searcher.search(q, exact=True): the search as it was before prefixes and typos
- fonoteca-typos   Searcher.search(q): the last word as a prefix, typos within the budget
- tantivy-fuzzy-*  Tantivy with the same budget: per word a FuzzyTermQuery (distance 1 from 5 letters, 2 from 9,
                   transpositions cost 1; the last word with prefix=True) OR the exact term, over title, artists and
                   album; ranked by BM25 x popularity (top 20) or the most popular matches (top 50)
The index size is split into the documents (what the index was before) and the vocabulary tables.
--web: the site's /api/search (uncached, `fonoteca serve --workers 2`) under 50 concurrent clients against
Datasette on the same catalog (bench/web_bench.py's servers and load generator), with the typed queries and with
the query set's (typos, prefixes); the server reads the index built here.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from fonoteca.archive import Archive, open_archive
from fonoteca.search.engine import Filters, Searcher
from fonoteca.search.expand import Rules
from fonoteca.search.index import _switch, build_index
from fonoteca.search.quality import CLASSES, Case, QuerySet, evaluate, searcher_run
from fonoteca.search.text import query_groups

LIMIT = 20


class BenchArchive(Archive):
    """The catalog archive with its index folder redirected into the bench folder (catalog stays untouched)."""

    bench_index: Path

    def dir(self, name: str) -> Path:
        if name == "index":
            return self.bench_index
        return super().dir(name)


# --- queries ---------------------------------------------------------------------------------------------------


def make_queries(catalog: sqlite3.Connection, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    max_rowid = catalog.execute("SELECT max(rowid) FROM tracks").fetchone()[0]
    sample = sorted(set(rng.randint(1, max_rowid) for _ in range(count * 40)))  # deterministic for a seed
    rows = catalog.execute(
        f"SELECT rowid, popularity FROM tracks WHERE rowid IN ({','.join(map(str, sample))}) "
        "AND level > 0 AND popularity > 0"
    ).fetchall()
    popular = [r for r, _ in rows]
    weights = [p for _, p in rows]
    queries: list[str] = []
    while len(queries) < count:
        if popular and rng.random() < 0.5:
            rowid = rng.choices(popular, weights=weights)[0]
        else:
            rowid = rng.randint(1, max_rowid)
        row = catalog.execute(
            "SELECT t.name, (SELECT ar.name FROM track_artists l JOIN artists ar ON ar.rowid = l.artist "
            "WHERE l.track = t.rowid ORDER BY l.position LIMIT 1) FROM tracks t WHERE t.rowid = ? AND t.level > 0",
            (rowid,),
        ).fetchone()
        if row is None or not row[0]:
            continue
        words = [w for w in row[0].split() if any(ch.isalnum() for ch in w)]
        if not words:
            continue
        size = min(len(words), rng.choices((1, 2, 3), weights=(4, 4, 2))[0])
        start = rng.randint(0, len(words) - size)
        query = words[start : start + size]
        if row[1] and rng.random() < 0.25:
            query.append(rng.choice(row[1].split()))
        queries.append(" ".join(query))
    return queries


# --- measuring ---------------------------------------------------------------------------------------------------


@dataclass
class Latency:
    median: float
    p95: float
    p99: float
    mean: float
    max: float
    queries: int

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def measure(
    run: Callable[[str], Any], queries: list[str], label: str, repeat: int = 1, warmup: int | None = None
) -> dict[str, Any]:
    """Latency per query, wall clock and CPU time of this process (SQLite and Tantivy run in it): one run, or the
    fastest of `repeat` runs. On a shared, overloaded machine the wall clock also measures the neighbours (time
    spent waiting for a core); the CPU time is what the query itself cost."""
    for query in queries[:warmup]:  # warm-up: page cache, statement cache, lazy imports
        run(query)
    wall, cpu = [], []
    for query in queries:
        best_wall = best_cpu = float("inf")
        for _ in range(repeat):
            started, cpu_started = time.perf_counter_ns(), time.process_time_ns()
            run(query)
            best_wall = min(best_wall, (time.perf_counter_ns() - started) / 1e6)
            best_cpu = min(best_cpu, (time.process_time_ns() - cpu_started) / 1e6)
        wall.append(best_wall)
        cpu.append(best_cpu)
    result = {"wall": summary(wall).as_dict(), "cpu": summary(cpu).as_dict()}
    for kind in ("wall", "cpu"):
        lat = result[kind]
        print(
            f"  {label:<28} {kind:<4} median {lat['median']:8.3f} ms  p95 {lat['p95']:8.3f} ms  "
            f"p99 {lat['p99']:8.3f} ms",
            flush=True,
        )
    return result


def summary(times: list[float]) -> Latency:
    return Latency(
        statistics.median(times),
        percentile(times, 0.95),
        percentile(times, 0.99),
        statistics.fmean(times),
        max(times),
        len(times),
    )


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- fonoteca ------------------------------------------------------------------------------------------------------


def build_fonoteca(archive: Archive, work: Path) -> dict[str, Any]:
    folder = work / "fonoteca"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    catalog = archive.connect(readonly=True)
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    db_path, meta = build_index(catalog, archive.catalog_path, folder, "bench")
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    catalog.close()
    _switch(folder, db_path)
    size = dir_size(folder)
    parts = index_parts(db_path)
    print(
        f"  fonoteca build: {meta['tracks']:,} tracks in {seconds:.1f} s ({meta['tracks'] / seconds:,.0f}/s), "
        f"{size / 1e6:,.1f} MB, {cpu:.1f} CPU s (this process and its workers), load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    print(
        f"  of which the vocabulary (prefixes, typos): {parts['vocabulary_bytes'] / 1e6:,.1f} MB, "
        f"{meta.get('terms', 0):,} terms; size / size without it: x{size / (size - parts['vocabulary_bytes']):.3f}",
        flush=True,
    )
    return {
        "tracks": meta["tracks"],
        "seconds": round(seconds, 2),
        "tracks_per_second": round(meta["tracks"] / seconds),
        "bytes": size,
        "cpu_seconds": round(cpu, 1),
        "load_after": os.getloadavg()[0],
        "terms": meta.get("terms"),
        **parts,
        "bytes_without_vocabulary": size - parts["vocabulary_bytes"],
        "size_ratio_to_before": round(size / (size - parts["vocabulary_bytes"]), 4),
    }


VOCABULARY_TABLES = ("terms", "term_keys", "completions", "sqlite_autoindex_terms_1")


def index_parts(db_path: Path) -> dict[str, int]:
    """Bytes of the documents (the index as it was before the vocabulary) and of the vocabulary tables."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        sizes = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    finally:
        conn.close()
    vocabulary = sum(v for k, v in sizes.items() if k in VOCABULARY_TABLES)
    return {"vocabulary_bytes": vocabulary, "documents_bytes": sum(sizes.values()) - vocabulary}


def _cpu_seconds() -> float:
    """User + system time of this process and of its finished children (the build's worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# --- anchor: plain FTS5 + bm25 ---------------------------------------------------------------------------------------


def build_anchor(catalog: sqlite3.Connection, work: Path) -> tuple[Path, dict[str, Any]]:
    path = work / "anchor.sqlite3"
    path.unlink(missing_ok=True)
    out = sqlite3.connect(path, isolation_level=None)
    out.execute("PRAGMA journal_mode=OFF")
    out.execute("PRAGMA synchronous=OFF")
    out.execute("CREATE VIRTUAL TABLE anchor USING fts5(title, artists, album)")
    started = time.perf_counter()
    rows = catalog.execute(
        "SELECT t.rowid, t.name, (SELECT group_concat(ar.name, ' ') FROM track_artists l JOIN artists ar "
        "ON ar.rowid = l.artist WHERE l.track = t.rowid), a.name FROM tracks t LEFT JOIN albums a ON a.rowid = t.album "
        "WHERE t.level > 0"
    )
    out.execute("BEGIN")
    count = 0
    while batch := rows.fetchmany(50_000):
        out.executemany("INSERT INTO anchor (rowid, title, artists, album) VALUES (?,?,?,?)", batch)
        count += len(batch)
    out.execute("COMMIT")
    out.execute("INSERT INTO anchor(anchor) VALUES ('optimize')")
    seconds = time.perf_counter() - started
    out.close()
    print(
        f"  anchor build: {count:,} tracks in {seconds:.1f} s ({count / seconds:,.0f}/s), "
        f"{path.stat().st_size / 1e6:,.1f} MB",
        flush=True,
    )
    return path, {
        "tracks": count,
        "seconds": round(seconds, 2),
        "tracks_per_second": round(count / seconds),
        "bytes": path.stat().st_size,
    }


def anchor_runner(path: Path) -> Callable[[str], Any]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA cache_size=-262144")

    def run(query: str) -> list[int]:
        # the anchor's own tokenizer: quote each whitespace word as an FTS5 string (no syntax errors either)
        terms = " AND ".join('"' + w.replace('"', '""') + '"' for w in query.split())
        try:
            return [
                r
                for (r,) in conn.execute(
                    "SELECT rowid FROM anchor WHERE anchor MATCH ? ORDER BY bm25(anchor) LIMIT ?", (terms, LIMIT)
                )
            ]
        except sqlite3.OperationalError:
            return []

    return run


# --- tantivy ---------------------------------------------------------------------------------------------------------


def build_tantivy(fonoteca_db: Path, work: Path) -> tuple[Any, dict[str, Any]]:
    import tantivy

    folder = work / "tantivy"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    builder = tantivy.SchemaBuilder()
    for name in ("title", "artists", "album"):
        builder.add_text_field(name, tokenizer_name="whitespace", index_option="freq")
    builder.add_text_field("tags", tokenizer_name="whitespace", index_option="basic")
    builder.add_unsigned_field("pop", fast=True, indexed=True)
    builder.add_unsigned_field("key", fast=True, stored=True)  # stored: recall maps hits back to tracks
    schema = builder.build()
    index = tantivy.Index(schema, path=str(folder), sort_by_field="pop", sort_order=tantivy.Order.Desc)
    writer = index.writer(heap_size=1_000_000_000, num_threads=os.cpu_count() or 1)
    source = sqlite3.connect(f"file:{fonoteca_db}?mode=ro", uri=True)
    started = time.perf_counter()
    count = 0
    for key, title, artists, album, tags in source.execute("SELECT rowid, title, artists, album, tags FROM docs"):
        doc = tantivy.Document(title=title, artists=artists, album=album, tags=tags)
        doc.add_unsigned("pop", 100 - (key >> 40))
        doc.add_unsigned("key", key)
        writer.add_document(doc)
        count += 1
    writer.commit()
    writer.wait_merging_threads()
    seconds = time.perf_counter() - started
    source.close()
    index.reload()
    size = dir_size(folder)
    print(
        f"  tantivy build (from tokens): {count:,} docs in {seconds:.1f} s ({count / seconds:,.0f}/s), "
        f"{size / 1e6:,.1f} MB",
        flush=True,
    )
    return (index, schema), {
        "tracks": count,
        "seconds": round(seconds, 2),
        "tracks_per_second": round(count / seconds),
        "bytes": size,
        "segments": index.searcher().num_segments,
    }


def open_tantivy(work: Path) -> tuple[Any, Any]:
    import tantivy

    index = tantivy.Index.open(str(work / "tantivy"))
    return index, index.schema


def tantivy_runners(built: Any) -> dict[str, Callable[[str], Any]]:
    import tantivy

    index, schema = built
    searcher = index.searcher()
    Occur, Query = tantivy.Occur, tantivy.Query

    def query_of(text: str) -> Any:
        clauses = []
        for group in query_groups(text):
            options = []
            for alternative in group:
                per_field = []
                for field in ("title", "artists", "album"):
                    terms = [Query.term_query(schema, field, t) for t in alternative]
                    per_field.append(
                        terms[0] if len(terms) == 1 else Query.boolean_query([(Occur.Must, t) for t in terms])
                    )
                options.extend(per_field)
            clauses.append((Occur.Must, Query.boolean_query([(Occur.Should, q) for q in options])))
        return Query.boolean_query(clauses)

    def weighted(text: str) -> Any:
        return searcher.search(query_of(text), limit=LIMIT, count=False, weight_by_field="pop").hits

    def most_popular(text: str) -> Any:
        return searcher.search(query_of(text), limit=50, count=False, order_by_field="pop").hits

    return {"tantivy-bm25*pop": weighted, "tantivy-top50-by-pop": most_popular}


def tantivy_fuzzy_runners(built: Any, rules: Rules) -> dict[str, Callable[[str], Any]]:
    """Tantivy as people type, with Fonoteca's edit budget: per word, the exact term OR a FuzzyTermQuery
    (transpositions cost 1; the last word a fuzzy prefix), over title, artists and album; every word required."""
    import tantivy

    index, schema = built
    searcher = index.searcher()
    Occur, Query = tantivy.Occur, tantivy.Query

    def query_of(text: str) -> Any:
        groups = query_groups(text)
        clauses = []
        for number, group in enumerate(groups):
            last = number == len(groups) - 1
            options = []
            for alternative in group:
                for field in ("title", "artists", "album"):
                    terms = []
                    for token in alternative:
                        budget = rules.budget(token)
                        exact = Query.term_query(schema, field, token)
                        if budget or last:
                            fuzzy = Query.fuzzy_term_query(
                                schema, field, token, distance=budget, transposition_cost_one=True, prefix=last
                            )
                            terms.append(Query.boolean_query([(Occur.Should, exact), (Occur.Should, fuzzy)]))
                        else:
                            terms.append(exact)
                    options.append(
                        terms[0] if len(terms) == 1 else Query.boolean_query([(Occur.Must, t) for t in terms])
                    )
            clauses.append((Occur.Must, Query.boolean_query([(Occur.Should, q) for q in options])))
        return Query.boolean_query(clauses)

    def weighted(text: str) -> Any:
        return searcher.search(query_of(text), limit=LIMIT, count=False, weight_by_field="pop").hits

    def most_popular(text: str) -> Any:
        return searcher.search(query_of(text), limit=50, count=False, order_by_field="pop").hits

    def keys(hits: Any) -> list[int]:
        return [int(searcher.doc(address)["key"][0]) for _, address in hits]

    return {"tantivy-fuzzy-bm25*pop": weighted, "tantivy-fuzzy-top50-by-pop": most_popular, "_keys": keys}


def tracks_of_keys(catalog: sqlite3.Connection, keys: list[int]) -> list[tuple[str | None, list[str]]]:
    """(title, artist names) of index keys, in order: what evaluate() compares with the intended track."""
    out = []
    for key in keys:
        rowid = key & ((1 << 40) - 1)
        row = catalog.execute("SELECT name FROM tracks WHERE rowid = ?", (rowid,)).fetchone()
        artists = [
            n
            for (n,) in catalog.execute(
                "SELECT ar.name FROM track_artists l JOIN artists ar ON ar.rowid = l.artist WHERE l.track = ? "
                "ORDER BY l.position",
                (rowid,),
            )
        ]
        out.append((row[0] if row else None, artists))
    return out


# --- as people type: the quality query set ----------------------------------------------------------------------


def load_cases(catalog: sqlite3.Connection, work: Path, per_class: int, seed: int, fresh: bool) -> list[Case]:
    saved = work / "quality.json"
    if saved.exists() and not fresh:
        cases = [Case(**c) for c in orjson.loads(saved.read_bytes())]
        if len(cases) >= per_class * len(CLASSES) * 0.9:
            print(f"quality queries: {saved} (--new-queries to draw new ones)", flush=True)
            return cases
    cases = QuerySet(catalog, seed=seed).cases(per_class)
    saved.write_bytes(orjson.dumps([c.as_dict() for c in cases], option=orjson.OPT_INDENT_2))
    return cases


def measure_by_class(
    run: Callable[[str], Any], cases: list[Case], label: str, repeat: int, warmup: int | None
) -> dict[str, Any]:
    """Latency over every case, and per class (CPU median/p95/p99)."""
    queries = [c.query for c in cases]
    result = measure(run, queries, label, repeat, warmup)
    per_class: dict[str, list[float]] = {}
    for case in cases:
        started = time.process_time_ns()
        run(case.query)
        per_class.setdefault(case.kind, []).append((time.process_time_ns() - started) / 1e6)
    result["cpu_by_class"] = {kind: summary(times).as_dict() for kind, times in per_class.items()}
    return result


def print_recall(label: str, recall: dict[str, dict[str, Any]]) -> None:
    cells = "  ".join(f"{kind} {r['recall@1']:.3f}/{r['recall@10']:.3f}" for kind, r in recall.items())
    print(f"  {label:<28} recall@1/@10: {cells}", flush=True)


def run_typing(
    report: dict[str, Any],
    searcher: Searcher,
    catalog: sqlite3.Connection,
    cases: list[Case],
    queries: list[str],
    tantivy_built: Any,
    rules: Rules,
    args: argparse.Namespace,
) -> None:
    print(
        f"as people type: {len(cases)} queries of the quality set ({args.per_class} per class) and the "
        f"{len(queries)} typed queries",
        flush=True,
    )
    latency, recall = report["latency_ms"], report.setdefault("recall", {})
    runs: dict[str, tuple[Callable[[str], Any], Callable[[str], list[Any]]]] = {
        "fonoteca-exact": (lambda q: searcher.search(q, limit=LIMIT, exact=True), searcher_run(searcher, exact=True)),
        "fonoteca-typos": (lambda q: searcher.search(q, limit=LIMIT), searcher_run(searcher)),
    }
    if tantivy_built is not None:
        fuzzy = tantivy_fuzzy_runners(tantivy_built, rules)
        keys = fuzzy.pop("_keys")
        for label, run in fuzzy.items():
            runs[label] = (run, lambda q, run=run: tracks_of_keys(catalog, keys(run(q))[:10]))
    for label, (timed, evaluated) in runs.items():
        latency[label + " (typed queries)"] = measure(
            timed, queries, label + " (typed queries)", args.repeat, args.warmup
        )
        latency[label + " (quality set)"] = measure_by_class(
            timed, cases, label + " (quality set)", args.repeat, args.warmup
        )
        recall[label] = evaluate(evaluated, cases)
        print_recall(label, recall[label])


def compare_typing(report: dict[str, Any]) -> None:
    """The goal's ratios: prefix + typos against the exact search on the same queries, CPU p95 and p99."""
    latency = report["latency_ms"]
    ratios = {}
    for queries in ("typed queries", "quality set"):
        exact, typos = latency.get(f"fonoteca-exact ({queries})"), latency.get(f"fonoteca-typos ({queries})")
        if exact and typos:
            ratios[queries] = {p: round(typos["cpu"][p] / exact["cpu"][p], 3) for p in ("median", "p95", "p99")}
            print(
                f"fonoteca-typos / fonoteca-exact, CPU, {queries}: "
                + "  ".join(f"{p} x{v}" for p, v in ratios[queries].items()),
                flush=True,
            )
    if ratios:
        report["typos_over_exact_cpu"] = ratios


# --- the site under load -----------------------------------------------------------------------------------------


def run_web(report: dict[str, Any], archive: Archive, work: Path, cases: list[Case], args: argparse.Namespace) -> None:
    """The site's /api/search against Datasette, 50 clients, through bench/web_bench.py's servers and wrk."""
    import urllib.parse

    import web_bench

    site = work / "web-archive"  # the catalog, and the index built here, as one archive for `fonoteca serve`
    site.mkdir(exist_ok=True)
    shutil.copyfile(archive.root / "fonoteca.toml", site / "fonoteca.toml")
    for name, target in (("catalog.sqlite3", archive.catalog_path), ("index", work / "fonoteca")):
        link = site / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target.resolve())
    catalog = sqlite3.connect(f"file:{archive.catalog_path}?mode=ro", uri=True)
    typed = web_bench.make_queries(catalog, args.web_queries, args.seed)
    catalog.close()
    datasette_db = work / "datasette" / "catalog.db"
    datasette_db.parent.mkdir(exist_ok=True)
    web_bench.build_datasette_db(archive.catalog_path, datasette_db)
    options = argparse.Namespace(warmup=8, duration=args.web_duration, connections=50, threads=2)
    quote = urllib.parse.quote_plus
    typing = [c.query for c in cases]
    servers = {
        "fonoteca-2w typed": ("fonoteca", [f"/api/search?q={quote(q)}&size=20" for q in typed]),
        "fonoteca-2w typos+prefixes": ("fonoteca", [f"/api/search?q={quote(q)}&size=20" for q in typing]),
        "fonoteca-2w suggest": ("fonoteca", [f"/api/suggest?q={quote(q)}" for q in typing]),
        "datasette-fast typed": (
            "datasette",
            [
                f"/catalog/track_search.json?_search={quote(q)}&_size=20&_nocount=1&_nofacet=1&_nosuggest=1"
                for q in typed
            ],
        ),
    }
    results = report.setdefault("web", {})
    for label, (server, paths) in servers.items():
        port = web_bench.free_port()
        if server == "fonoteca":
            cmd = [
                sys.executable,
                "-m",
                "fonoteca",
                "-A",
                str(site),
                "serve",
                "--port",
                str(port),
                "--workers",
                "2",
                "--rate-limit",
                "1000000000",
                "--rate-burst",
                "1000000000",
                "--no-build-index",
                "--cache-entries",
                "0",
            ]
            ready = "/api/health"
        else:
            cmd = [
                str(web_bench.BIN / "datasette"),
                "serve",
                "-i",
                str(datasette_db),
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
            ]
            ready = "/-/versions.json"
        result = web_bench.measure(
            label.replace(" ", "-").replace("+", "-"), cmd, ready, port, paths, work, options, dict(os.environ)
        )
        result.pop("sample", None)
        results[label] = result
    best = results["datasette-fast typed"]["rps"]
    for label, result in results.items():
        if label.startswith("fonoteca") and best:
            print(
                f"  {label}: p99 {result['p99'] / 1000:.1f} ms, errors {result['errors']}, "
                f"{result['rps'] / best:.1f}x Datasette's requests/s",
                flush=True,
            )


# --- main ------------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, required=True, help="archive directory (read-only)")
    parser.add_argument("--work", type=Path, required=True, help="folder for the indexes built here")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument(
        "--anchor-queries", type=int, default=None, help="measure the anchor on the first N queries only"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--engines", default="fonoteca,typos,anchor,tantivy,shuffle")
    parser.add_argument("--per-class", type=int, default=200, help="quality-set queries per class (typos engine)")
    parser.add_argument("--web", action="store_true", help="also the site's /api/search under 50 clients vs Datasette")
    parser.add_argument("--web-duration", type=int, default=30, help="seconds measured per server (--web)")
    parser.add_argument("--web-queries", type=int, default=2000, help="distinct typed queries for --web")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse indexes already in --work (no build figures); Tantivy's is built when missing",
    )
    parser.add_argument("--repeat", type=int, default=1, help="per query, keep the fastest of N runs")
    parser.add_argument("--new-queries", action="store_true", help="draw new queries even if --work has some")
    parser.add_argument("--warmup", type=int, default=None, help="warm up on the first N queries (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    engines = set(args.engines.split(","))
    args.work.mkdir(parents=True, exist_ok=True)

    source = open_archive(args.catalog)
    archive = BenchArchive(source.root, source.config)
    archive.bench_index = args.work / "fonoteca"
    catalog = archive.connect(readonly=True)
    tracks = catalog.execute("SELECT count(*) FROM tracks WHERE level > 0").fetchone()[0]
    print(
        f"catalog {args.catalog}: {tracks:,} tracks; machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    saved = args.work / "queries.json"
    if saved.exists() and not args.new_queries:
        queries = orjson.loads(saved.read_bytes())[: args.queries]  # the very same queries as earlier runs
        print(f"queries: {saved} (--new-queries to draw new ones)", flush=True)
    else:
        queries = make_queries(catalog, args.queries, args.seed)
        saved.write_bytes(orjson.dumps(queries, option=orjson.OPT_INDENT_2))
    report: dict[str, Any] = {
        "catalog": str(args.catalog),
        "tracks": tracks,
        "queries": len(queries),
        "load_before": os.getloadavg(),
        "build": {},
        "latency_ms": {},
    }

    print("build", flush=True)
    if not args.reuse:
        report["build"]["fonoteca"] = build_fonoteca(archive, args.work)
    report["repeat"] = args.repeat
    anchor_path = args.work / "anchor.sqlite3"
    if "anchor" in engines and not args.reuse:
        anchor_path, report["build"]["anchor"] = build_anchor(catalog, args.work)
    tantivy_built = None
    if "tantivy" in engines:
        try:
            import tantivy  # noqa: F401  (bench-only: pip install tantivy)
        except ImportError:
            print("  tantivy not installed (pip install 'tantivy>=0.27'): skipped", flush=True)
            engines.discard("tantivy")
    if "tantivy" in engines:
        from fonoteca.search.index import current_db

        if args.reuse and (args.work / "tantivy" / "meta.json").exists():
            tantivy_built = open_tantivy(args.work)
        else:  # built when missing, --reuse or not (--reuse on an index built elsewhere, e.g. by scale_bench)
            db = current_db(args.work / "fonoteca")
            assert db is not None
            tantivy_built, report["build"]["tantivy"] = build_tantivy(db, args.work)

    repeat = args.repeat
    print(f"latency over {len(queries)} queries (top {LIMIT}), warm, fastest of {repeat} per query", flush=True)
    searcher = Searcher(archive)
    if "fonoteca" in engines:
        report["latency_ms"]["fonoteca"] = measure(
            lambda q: searcher.search(q, limit=LIMIT), queries, "fonoteca", repeat, args.warmup
        )
        filters = Filters()
        report["latency_ms"]["fonoteca-index"] = measure(
            lambda q: searcher._ranked(query_groups(q), filters, LIMIT)[0],
            queries,
            "fonoteca-index (no display)",
            repeat,
            args.warmup,
        )
    if tantivy_built is not None:
        for label, run in tantivy_runners(tantivy_built).items():
            report["latency_ms"][label] = measure(run, queries, label, repeat, args.warmup)
    if "shuffle" in engines:
        # constant time: one random number and one array read, whatever the catalog size
        rng = np.random.default_rng(args.seed)
        draws = [str(p) for p in (0, 30, 60) for _ in range(300)]
        report["latency_ms"]["shuffle-key"] = measure(
            lambda p: searcher.shuffle_keys(int(p), 1, rng), draws, "shuffle (one key)", args.repeat, args.warmup
        )
        report["latency_ms"]["shuffle-track"] = measure(
            lambda p: searcher.shuffle(min_popularity=int(p), count=1, rng=rng),
            draws,
            "shuffle (track with display)",
            args.repeat,
            args.warmup,
        )
    cases: list[Case] = []
    if "typos" in engines or args.web:
        cases = load_cases(catalog, args.work, args.per_class, args.seed, args.new_queries)
    if "typos" in engines:
        run_typing(report, searcher, catalog, cases, queries, tantivy_built, Rules.from_config(archive.config), args)
    if args.web:
        run_web(report, source, args.work, cases, args)
    if "anchor" in engines:
        anchor_set = queries[: args.anchor_queries] if args.anchor_queries else queries
        report["latency_ms"]["anchor"] = measure(
            anchor_runner(anchor_path), anchor_set, "anchor (FTS5 bm25)", repeat, args.warmup
        )
        if len(anchor_set) == len(queries):
            print("ratio anchor / engine (higher is better):")
            for kind in ("wall", "cpu"):
                anchor = report["latency_ms"]["anchor"][kind]
                for label, lats in report["latency_ms"].items():
                    lat = lats[kind]
                    if label != "anchor" and not label.startswith("shuffle"):
                        print(
                            f"  {label:<28} {kind:<4} median x{anchor['median'] / lat['median']:.1f}  "
                            f"p95 x{anchor['p95'] / lat['p95']:.1f}  p99 x{anchor['p99'] / lat['p99']:.1f}"
                        )
    compare_typing(report)
    report["load_after"] = os.getloadavg()
    if args.out:
        args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    sys.exit(main())
