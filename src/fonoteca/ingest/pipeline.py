"""The coordinator: walk the sources, match each file, pick its tier from the plan, hand the per-file work to an
executor, and write the catalog (only here, only after each file is durable)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fonoteca import durable
from fonoteca.archive import Archive
from fonoteca.audio import fingerprint as fpmod
from fonoteca.audio.tags import read_tags_and_length
from fonoteca.catalog.db import transaction
from fonoteca.catalog.ids import NAMESPACE_NAMES
from fonoteca.errors import FonotecaError, ResourceError, UsageError
from fonoteca.ingest import executor as executors
from fonoteca.ingest import metadata, store
from fonoteca.ingest.match import Match, Matcher, load_map
from fonoteca.ingest.options import IngestOptions
from fonoteca.ingest.task import RESOURCE, Result, Task
from fonoteca.progress import Progress, realtime
from fonoteca.tiers import Tier

NOT_AUDIO = "not_audio"  # quarantine reason: a file named explicitly that is no audio file
SHA256_MISMATCH = "sha256_mismatch"  # quarantine reason: not the file the reference release published

FINAL = ("stored", "duplicate", "conflict", "quarantined")
BRUTE_FORCE_KEYS = 200_000  # up to about 3,000 stored files, compare fingerprints with all of them


@dataclass
class IngestSummary:
    inputs: int = 0
    stored: dict[str, int] = field(default_factory=lambda: {"original": 0, "compact": 0})
    duplicates: int = 0
    conflicts: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)  # reason -> files
    unmatched: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> files (plan says skip, not in plan)
    already: int = 0  # decided by an earlier run, nothing new
    matched_by: dict[str, int] = field(default_factory=dict)  # route -> files
    bytes_in: int = 0
    bytes_stored: int = 0
    audio_seconds: float = 0.0  # decoded audio, all inputs
    seconds: float = 0.0
    workers: int = 0
    executor: str = ""  # where the tasks ran
    coordinator_seconds: float = 0.0  # spent handling results (catalog, renames)
    coordinator_cpu_seconds: float = 0.0  # CPU of that (this process's main thread)
    recovered: dict[str, int] = field(default_factory=dict)
    earlier: dict[str, int] = field(default_factory=dict)  # quarantined/unmatched by an earlier run, unchanged
    items: list[dict[str, Any]] = field(default_factory=list)  # one per input decided in this run (and problems
    # left from earlier runs, with "earlier": true)

    @property
    def problems(self) -> int:
        """Inputs not stored because of themselves: quarantined or unmatched, in this run or an earlier one."""
        return self.quarantined_total + self.unmatched + sum(self.earlier.values())

    @property
    def stored_total(self) -> int:
        return sum(self.stored.values())

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def files_per_second(self) -> float:
        decided = len(self.items)
        return decided / self.seconds if self.seconds else 0.0

    @property
    def realtime(self) -> float:
        return self.audio_seconds / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "stored": self.stored,
            "stored_total": self.stored_total,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "quarantined": self.quarantined,
            "quarantined_total": self.quarantined_total,
            "unmatched": self.unmatched,
            "skipped": self.skipped,
            "already": self.already,
            "matched_by": self.matched_by,
            "bytes_in": self.bytes_in,
            "bytes_stored": self.bytes_stored,
            "audio_seconds": round(self.audio_seconds, 1),
            "seconds": round(self.seconds, 2),
            "files_per_second": round(self.files_per_second, 3),
            "realtime": round(self.realtime, 1),
            "workers": self.workers,
            "executor": self.executor,
            "coordinator_seconds": round(self.coordinator_seconds, 2),
            "coordinator_cpu_seconds": round(self.coordinator_cpu_seconds, 2),
            "recovered": self.recovered,
            "earlier": self.earlier,
            "items": self.items,
        }


@dataclass
class Item:
    path: Path
    size: int
    mtime_ns: int
    match: Match | None = None
    target: int | None = None  # track the file would be stored under
    tier: int = 0
    note: str = ""


def walk(
    sources: list[Path], options: IngestOptions, exclude: Path, named: set[str] | frozenset[str] = frozenset()
) -> Iterator[Path]:
    """Every regular, non-hidden file under the sources (sorted), less sidecars and the archive itself. A file named
    explicitly (a source that is a file, or a path in `named`: the --map entries) is never passed over as a
    sidecar: it comes out and is reported if it is not audio."""
    seen: set[Path] = set()
    for source in sources:
        source = source.expanduser().resolve()
        if not source.exists():
            raise UsageError(f"{source}: no such file or folder")
        if source.is_file():
            named = named | {str(source)}
            candidates: Iterator[Path] = iter([source])
        else:

            def _walk(top: Path = source) -> Iterator[Path]:
                for dirpath, dirnames, filenames in os.walk(top):
                    here = Path(dirpath)
                    if here == exclude or exclude in here.parents:
                        dirnames[:] = []
                        continue
                    dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                    for name in sorted(filenames):
                        if not name.startswith("."):
                            yield here / name

            candidates = _walk()
        for path in candidates:
            if path in seen or not path.is_file():
                continue
            if path.suffix.lower() in options.ignore and str(path) not in named:
                continue
            seen.add(path)
            yield path


class Coordinator:
    def __init__(
        self,
        archive: Archive,
        conn: sqlite3.Connection,
        options: IngestOptions,
        progress: Progress | None,
        remote: bool = False,
        task_threads: int = 1,
    ) -> None:
        self.archive, self.conn, self.options = archive, conn, options
        self.storage = archive.storage
        self.remote = remote
        self.task_threads = task_threads
        self.summary = IngestSummary(workers=options.worker_count)
        self.progress = progress
        self.started = time.perf_counter()  # for the decoding speed the progress shows
        self.items: list[Item] = []
        self.claimed: set[int] = set()
        self.deferred: list[tuple[Item, Task, Result]] = []
        self.done = 0
        self.finished: set[int] = set()  # task indexes whose result was handled
        self.total = 0
        self.tmp_dir: Path | None = None
        self.counts: Counter[str] = Counter()

    # ---- decisions before any decoding ----------------------------------------------------------------------

    def _plan_tier(self, track: int) -> tuple[int | None, int, str]:
        """(target track, tier, why not) following the plan (or the --tier override)."""
        row = self.conn.execute("SELECT tier, rep FROM plan WHERE track = ?", (track,)).fetchone()
        if self.options.tier != "plan":
            rep = row[1] if row and row[1] is not None else None
            return (rep or track), Tier.parse(self.options.tier), ""
        if row is None:
            return None, 0, "not in the plan"
        tier, rep = row
        if tier > 0:
            return track, tier, ""
        if rep is not None:
            rep_row = self.conn.execute("SELECT tier FROM plan WHERE track = ?", (rep,)).fetchone()
            if rep_row and rep_row[0] > 0:
                return rep, rep_row[0], ""
        return None, 0, "the plan skips this track"

    def _has_file(self, track: int) -> bool:
        return self.conn.execute("SELECT 1 FROM files WHERE track = ?", (track,)).fetchone() is not None

    def plan_tasks(self, paths: list[Path], matcher: Matcher) -> list[Task]:
        tasks: list[Task] = []
        for path in paths:
            try:
                st = path.stat()
            except OSError as exc:
                if durable.resource_error(exc):
                    raise ResourceError(
                        f"{durable.resource_error(exc)} while reading {path}: run again when the source is readable"
                    ) from exc
                self._record_simple(Item(path, 0, 0), "quarantined", "unreadable", str(exc), {})
                continue
            self.summary.inputs += 1
            self.summary.bytes_in += st.st_size
            item = Item(path, st.st_size, st.st_mtime_ns)
            if path.suffix.lower() in self.options.ignore:  # named explicitly, yet a sidecar kind of file
                self._record_simple(
                    item,
                    "quarantined",
                    NOT_AUDIO,
                    f"named explicitly but not audio ({path.suffix.lower()} files are never audio)",
                    {},
                )
                continue
            prior = self.conn.execute(
                "SELECT size, mtime_ns, outcome FROM ingest_sources WHERE path = ?", (str(path),)
            ).fetchone()
            unchanged = prior is not None and prior[0] == st.st_size and prior[1] == st.st_mtime_ns
            if unchanged and prior[2] in FINAL:
                self._already(item, prior[2])
                continue
            tags, length = read_tags_and_length(path)
            match, why = matcher.match(str(path), tags, length)
            item.match = match
            if match is not None and match.expected is not None and self._against_source(item, match.expected):
                continue
            if match is None:
                if unchanged:  # unmatched before, still unmatched: nothing new to do
                    self._already(item, "unmatched", why)
                    continue
                item.note = why
                tasks.append(self._task(item, "analyse"))
                continue
            target, tier, why_not = self._plan_tier(match.track)
            if target is None:
                if unchanged and prior[2] == "skipped":
                    self.summary.already += 1
                    continue
                self._record_simple(item, "skipped", why_not, "", {"track": match.track}, track=match.track)
                continue
            item.target, item.tier = target, tier
            if target in self.claimed or self._has_file(target):
                tasks.append(self._task(item, "analyse"))
            else:
                self.claimed.add(target)
                tasks.append(self._task(item, "store"))
        return tasks

    def _against_source(self, item: Item, expected: Any) -> bool:
        """A file an importer described: a derivative whose original is beside it is passed over (the original
        is stored); a size or digest other than the source's sends the file to quarantine naming both. True when
        the file was decided here."""
        if (
            expected.kind == "derivative"
            and expected.original
            and expected.folder is not None
            and (expected.folder / expected.original).is_file()
        ):
            self._record_simple(
                item,
                "skipped",
                "derivative",
                f"made from {expected.original}, which is here: the original is stored",
                {"original": expected.original},
                track=item.match.track if item.match else None,
            )
            return True
        problem = _digest_problem(item.path, item.size, expected)
        if problem is None:
            return False
        what, actual, wanted = problem
        where = f"{expected.item}/{expected.name}" if expected.item else expected.name
        message = (
            f"{what} {actual} differs from the source's {wanted} ({expected.origin} {where}): the file is "
            "not the one the source published"
        )
        self._record_simple(
            item,
            "quarantined",
            "digest_mismatch",
            message,
            {
                "check": what,
                "actual": actual,
                "expected": wanted,
                "source": expected.origin,
                "item": expected.item,
                "name": expected.name,
            },
            track=item.match.track if item.match else None,
        )
        return True

    def _already(self, item: Item, outcome: str, reason: str = "") -> None:
        """An input an earlier run decided. Problems (quarantined, unmatched) stay visible in the summary, so
        --strict keeps failing until they are dealt with."""
        self.summary.already += 1
        if outcome in ("quarantined", "unmatched"):
            if not reason:
                row = self.conn.execute(
                    "SELECT reason FROM ingest_sources WHERE path = ?", (str(item.path),)
                ).fetchone()
                reason = row[0] if row and row[0] else ""
            self.summary.earlier[outcome] = self.summary.earlier.get(outcome, 0) + 1
            self._note(item, outcome, reason, earlier=True)

    def _task(self, item: Item, kind: str) -> Task:
        index = len(self.items)
        self.items.append(item)
        expected = None
        if item.match is not None:
            row = self.conn.execute("SELECT duration_ms FROM tracks WHERE rowid = ?", (item.match.track,)).fetchone()
            if row and row[0]:
                expected = row[0] / 1000
        task = Task(
            index=index,
            path=str(item.path),
            kind=kind,
            expected_duration=expected,
            tolerance=self.options.tolerance(expected or 0.0),
            compact_bitrate=self.options.compact_bitrate,
            fingerprint_seconds=self.options.fingerprint_seconds,
            threads=self.task_threads,
        )
        if kind == "store":
            assert item.target is not None and self.tmp_dir is not None
            task.tier, task.tmp_dir = item.tier, str(self.tmp_dir)
            task.ext = "opus" if item.tier == Tier.COMPACT else (item.path.suffix.lower().lstrip(".") or "bin")
            task.tags = metadata.track_tags(self.conn, item.target)
            task.cover = metadata.track_cover(self.conn, item.target, self.archive.root, self.options.covers_dir)
        return task

    # ---- results, in the coordinator only ---------------------------------------------------------------------

    def on_result(self, task: Task, res: Result) -> None:
        started, cpu_started = time.perf_counter(), time.thread_time()
        item = self.items[task.index]
        if res.reason == RESOURCE:
            raise self._resource_stop(item, res.message)
        try:
            self._handle(task, res, item)
        except Exception as exc:
            what = durable.resource_error(exc)
            if what is None:
                raise
            raise self._resource_stop(item, what) from exc
        finally:
            self.finished.add(task.index)
            self.done += 1
            self.summary.coordinator_seconds += time.perf_counter() - started
            self.summary.coordinator_cpu_seconds += time.thread_time() - cpu_started
            if self.progress:
                self.progress(1, stage=realtime(self.summary.audio_seconds, time.perf_counter() - self.started))

    def _resource_stop(self, item: Item, what: str) -> ResourceError:
        """The run must stop: the machine ran out of something. Nothing is recorded for the files not finished,
        so the next run takes them up again; say how much input is left to bring in."""
        from fonoteca.units import format_size

        left = [i for n, i in enumerate(self.items) if n not in self.finished]
        size = sum(i.size for i in left)
        return ResourceError(
            f"{what}, while ingesting {item.path}. Nothing was quarantined or marked done for it: {len(left):,} "
            f"files ({format_size(size)} of input, so up to about that much space in {self.archive.root / 'files'}) "
            "are still to do. Free space (or the resource) and run the same command again; the files already "
            "stored are kept."
        )

    def _handle(self, task: Task, res: Result, item: Item) -> None:
        if (
            self.remote
            and not res.ok
            and res.reason == "unreadable"
            and not res.source_sha256
            and os.access(item.path, os.R_OK)
        ):
            raise FonotecaError(
                f"a worker could not read {item.path} ({res.message}), which this machine can: the "
                "sources are not at the same paths on the workers. Mount them there, or set "
                '[cluster] storage = "none" (this machine sends each input to a worker)'
            )
        self.summary.audio_seconds += res.duration
        if res.ok and item.match is not None:
            self._check_reference_digests(item.match.track, res)
        try:
            if res.ok and res.out_data is not None:
                self._receive(task, res)
            if not res.ok:
                self._quarantine(item, res)
            elif task.kind == "analyse":
                self.deferred.append((item, task, res))
            else:
                self._store(item, task, res)
        finally:
            if res.out_tmp and os.path.exists(res.out_tmp):
                os.unlink(res.out_tmp)

    def _check_reference_digests(self, track: int, res: Result) -> None:
        """A track the reference release kept a file of (table track_files) takes only that file: its sha256 as
        published, before or after the release embedded its tags. Any other input is quarantined with both
        published digests and its own."""
        row = self.conn.execute(
            "SELECT sha256_original, sha256_with_embedded_meta FROM track_files WHERE track = ?", (track,)
        ).fetchone()
        if row is None or (row[0] is None and row[1] is None) or res.source_sha256 in row:
            return
        res.ok, res.reason = False, SHA256_MISMATCH
        res.message = (
            f"sha256 {res.source_sha256} is neither the reference release's sha256_original "
            f"({row[0]}) nor its sha256_with_embedded_meta ({row[1]}) for this track"
        )
        res.details = dict(
            res.details, sha256=res.source_sha256, sha256_original=row[0], sha256_with_embedded_meta=row[1]
        )

    def _receive(self, task: Task, res: Result) -> None:
        """A finished file that came back from a worker as bytes: into this run's temporary folder, durable and
        checked, as if the worker had written it there."""
        assert self.tmp_dir is not None and res.out_data is not None
        data, res.out_data = res.out_data, None
        if hashlib.sha256(data).hexdigest() != res.stored_sha256 or len(data) != res.stored_size:
            raise FonotecaError(f"the finished file for {task.path} arrived from the worker damaged (sha256 differs)")
        path = self.tmp_dir / f"{uuid.uuid4().hex}.part.{task.ext or 'bin'}"
        durable.write_new(path, data)
        res.out_tmp = str(path)

    def _track_ref(self, track: int | None) -> str | None:
        if track is None:
            return None
        row = self.conn.execute("SELECT ns, id FROM tracks WHERE rowid = ?", (track,)).fetchone()
        return f"{NAMESPACE_NAMES.get(row[0], 'table')}:track:{row[1]}" if row else None

    def _source_row(
        self, item: Item, outcome: str, sha256: str | None, track: int | None, reason: str, detail: dict[str, Any]
    ) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO ingest_sources (path, size, mtime_ns, sha256, outcome, track, reason, detail, "
            "decided_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                str(item.path),
                item.size,
                item.mtime_ns,
                sha256,
                outcome,
                track,
                reason,
                json.dumps(detail, default=str) if detail else None,
                durable.now(),
            ),
        )

    def _note(self, item: Item, outcome: str, reason: str = "", track: int | None = None, **extra: Any) -> None:
        entry: dict[str, Any] = {"path": str(item.path), "outcome": outcome}
        if reason:
            entry["reason"] = reason
        if track is not None:
            entry["track"] = self._track_ref(track)
        entry.update({k: v for k, v in extra.items() if v is not None})
        self.summary.items.append(entry)

    def _record_simple(
        self, item: Item, outcome: str, reason: str, message: str, detail: dict[str, Any], track: int | None = None
    ) -> None:
        if outcome == "quarantined":
            where = store.quarantine(self.archive, item.path, "", reason, message, detail)
            detail = {**detail, "record": where}
            self.summary.quarantined[reason] = self.summary.quarantined.get(reason, 0) + 1
        elif outcome == "skipped":
            self.summary.skipped[reason] = self.summary.skipped.get(reason, 0) + 1
        with transaction(self.conn):
            self._source_row(item, outcome, None, track, reason, detail)
        self._note(item, outcome, reason, track)

    def _quarantine(self, item: Item, res: Result) -> None:
        details = dict(res.details)
        if item.match is not None:
            details["track"] = self._track_ref(item.match.track)
            details["matched_by"] = item.match.route
        where = store.quarantine(self.archive, item.path, res.source_sha256, res.reason, res.message, details)
        with transaction(self.conn):
            self._source_row(
                item,
                "quarantined",
                res.source_sha256,
                item.match.track if item.match else None,
                res.reason,
                {"message": res.message, "record": where},
            )
        self.summary.quarantined[res.reason] = self.summary.quarantined.get(res.reason, 0) + 1
        self._note(item, "quarantined", res.reason, message=res.message, record=where)

    def _save_fingerprint(self, res: Result, track: int | None, index_keys: bool) -> None:
        if not res.fingerprint:
            return
        self.conn.execute(
            "INSERT OR REPLACE INTO fingerprints (sha256, seconds, "
            "fingerprint, raw, usable, track) VALUES (?,?,?,?,?,?)",
            (
                res.source_sha256,
                res.fingerprint_seconds,
                res.fingerprint,
                res.fingerprint_raw,
                int(res.fingerprint_usable),
                track,
            ),
        )
        if index_keys and res.fingerprint_usable:
            raw = fpmod.from_raw_bytes(res.fingerprint_raw)
            keys = sorted({int(v) for v in raw if int(v) % fpmod.SAMPLE_MOD == 0})
            self.conn.executemany(
                "INSERT OR IGNORE INTO fingerprint_keys (key, sha256) VALUES (?, ?)",
                [(k, res.source_sha256) for k in keys],
            )

    def same_recording(self, res: Result, exclude_track: int | None = None) -> tuple[int, float] | None:
        """A stored file whose input sounds like this one: (track, bit error rate), best first."""
        if not res.fingerprint_usable or not res.fingerprint_raw:
            return None
        raw = fpmod.from_raw_bytes(res.fingerprint_raw)
        keys = sorted({int(v) for v in raw if int(v) % fpmod.SAMPLE_MOD == 0})
        found: Counter[str] = Counter()
        stored = self.conn.execute("SELECT count(*) FROM fingerprint_keys").fetchone()[0]
        if stored <= BRUTE_FORCE_KEYS:  # a small archive: compare with every stored fingerprint
            for (sha,) in self.conn.execute("SELECT DISTINCT sha256 FROM fingerprint_keys"):
                found[sha] = 2
            for (sha,) in self.conn.execute(
                "SELECT f.sha256 FROM fingerprints f JOIN files fi ON fi.source_sha256 = f.sha256 WHERE f.usable = 1"
            ):
                found[sha] = 2
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            for (sha,) in self.conn.execute(
                f"SELECT sha256 FROM fingerprint_keys WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ):
                found[sha] += 1
        best: tuple[int, float] | None = None
        for sha, hits in found.most_common(50):
            if hits < 1 or sha == res.source_sha256:
                continue
            row = self.conn.execute(
                "SELECT f.raw, fi.track, fi.duration_ms FROM fingerprints f JOIN files "
                "fi ON fi.source_sha256 = f.sha256 WHERE f.sha256 = ? AND f.usable = 1",
                (sha,),
            ).fetchone()
            if row is None or row[1] == exclude_track:
                continue
            # The fingerprint covers the first two minutes only: a recording of another length (an edit, an
            # extended mix, or just another piece that starts alike) is not the same recording.
            if abs(row[2] / 1000 - res.duration) > self.options.tolerance(row[2] / 1000):
                continue
            ber = fpmod.bit_error_rate(raw, fpmod.from_raw_bytes(row[0]))
            if ber <= self.options.match_ber and (best is None or ber < best[1]):
                best = (row[1], ber)
        return best

    def _duplicate(self, item: Item, res: Result, of: int, how: str, ber: float | None = None) -> None:
        with transaction(self.conn):
            self._save_fingerprint(res, of, False)
            detail = {
                "of": self._track_ref(of),
                "how": how,
                "ber": ber,
                "claimed": self._track_ref(item.match.track) if item.match else None,
            }
            self._source_row(item, "duplicate", res.source_sha256, of, how, detail)
        self.summary.duplicates += 1
        self._note(
            item,
            "duplicate",
            how,
            of,
            ber=None if ber is None else round(ber, 3),
            claimed=detail["claimed"] if item.match and item.match.track != of else None,
        )

    def _store(self, item: Item, task: Task, res: Result) -> None:
        assert item.target is not None and item.match is not None and res.out_tmp
        same = self.conn.execute("SELECT track FROM files WHERE source_sha256 = ?", (res.source_sha256,)).fetchone()
        if same is not None:
            self._duplicate(item, res, same[0], "same input bytes already stored")
            return
        other = self.same_recording(res, exclude_track=item.target)
        if other is not None:
            self._duplicate(item, res, other[0], "fingerprint", other[1])
            return
        ns, track_id = self.conn.execute("SELECT ns, id FROM tracks WHERE rowid = ?", (item.target,)).fetchone()
        tier_name = Tier(item.tier).label
        rel = store.dest_path(NAMESPACE_NAMES.get(ns, "table"), track_id, tier_name, task.ext)
        # Journal the store, make it (durable), then commit the row (and only then forget the journal).
        self.conn.execute(
            "INSERT OR REPLACE INTO ingest_pending (path, started_at) VALUES (?, ?)", (rel, durable.now())
        )
        self.storage.put_atomic(rel, Path(res.out_tmp))
        duration_ms = int(round(res.duration * 1000))
        bit_rate = int(res.stored_size * 8 / res.duration) if res.duration > 0 else None
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO files (track, tier, path, size, sha256, source_sha256, source_size, source_path, "
                "source_container, source_codec, patch, container, codec, bit_rate, sample_rate, channels, "
                "duration_ms, loudness, replaygain_gain, replaygain_peak, matched_by, tags, ingested_at, licence) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    item.target,
                    item.tier,
                    rel,
                    res.stored_size,
                    res.stored_sha256,
                    res.source_sha256,
                    res.source_size,
                    str(item.path),
                    res.source_container,
                    res.source_codec,
                    res.patch,
                    res.stored_container,
                    res.stored_codec,
                    bit_rate,
                    res.stored_sample_rate,
                    res.stored_channels,
                    duration_ms,
                    res.loudness,
                    res.replaygain_gain,
                    res.replaygain_peak,
                    item.match.route,
                    res.tag_family,
                    durable.now(),
                    next(iter(task.tags.get("LICENSE") or []), None) if res.tag_family else None,
                ),
            )
            self.conn.execute(
                "INSERT OR REPLACE INTO plan_sizes (track, tier, bytes) VALUES (?,?,?)",
                (item.target, item.tier, res.stored_size),
            )
            self._save_fingerprint(res, item.target, True)
            self._source_row(
                item, "stored", res.source_sha256, item.target, item.match.route, {"path": rel, "tier": tier_name}
            )
            self.conn.execute("DELETE FROM ingest_pending WHERE path = ?", (rel,))
        res.out_tmp = None
        self.summary.stored[tier_name] += 1
        self.summary.bytes_stored += res.stored_size
        self.summary.matched_by[item.match.route] = self.summary.matched_by.get(item.match.route, 0) + 1
        self._note(item, "stored", item.match.route, item.target, tier=tier_name, file=rel)

    def finish_deferred(self) -> None:
        """Files that were only validated and fingerprinted: duplicates of stored files, conflicts, unmatched."""
        for item, _task, res in self.deferred:
            if item.target is not None:
                row = self.conn.execute(
                    "SELECT fi.source_sha256, f.raw, f.usable FROM files fi LEFT JOIN fingerprints f "
                    "ON f.sha256 = fi.source_sha256 WHERE fi.track = ? ORDER BY fi.tier DESC",
                    (item.target,),
                ).fetchone()
                if row is None:  # the file claimed for this track failed: leave this one for the next run,
                    found = self.same_recording(res)  # unless it is a recording the archive already has
                    if found is not None:
                        self._duplicate(item, res, found[0], "fingerprint", found[1])
                        continue
                    with transaction(self.conn):
                        self._save_fingerprint(res, item.match.track if item.match else None, False)
                        self._source_row(item, "skipped", res.source_sha256, item.target, "deferred", {})
                    self.summary.skipped["deferred"] = self.summary.skipped.get("deferred", 0) + 1
                    self._note(item, "skipped", "deferred", item.target)
                    continue
                sha, raw, usable = row
                if sha == res.source_sha256:
                    self._duplicate(item, res, item.target, "same input bytes already stored")
                    continue
                if usable and res.fingerprint_usable and raw:
                    ber = fpmod.bit_error_rate(fpmod.from_raw_bytes(res.fingerprint_raw), fpmod.from_raw_bytes(raw))
                    if ber > self.options.match_ber:
                        with transaction(self.conn):
                            self._save_fingerprint(res, None, False)
                            self._source_row(
                                item, "conflict", res.source_sha256, item.target, "different recording", {"ber": ber}
                            )
                        self.summary.conflicts += 1
                        self._note(
                            item,
                            "conflict",
                            "the track already has a file that sounds different",
                            item.target,
                            ber=round(ber, 3),
                        )
                        continue
                    self._duplicate(item, res, item.target, "fingerprint", ber)
                else:
                    self._duplicate(item, res, item.target, "track already stored")
                continue
            found = self.same_recording(res)
            if found is not None:
                self._duplicate(item, res, found[0], "fingerprint", found[1])
                continue
            with transaction(self.conn):
                self._save_fingerprint(res, None, False)
                self._source_row(item, "unmatched", res.source_sha256, None, item.note, {})
            self.summary.unmatched += 1
            self._note(item, "unmatched", item.note)


def _digest_problem(path: Path, size: int, expected: Any) -> tuple[str, str, str] | None:
    """(what, actual, expected) for the first of size, md5, sha1 the source gave that the file does not have."""
    if expected.size is not None and expected.size != size:
        return "size", str(size), str(expected.size)
    if not (expected.md5 or expected.sha1):
        return None
    md5, sha1 = hashlib.md5(usedforsecurity=False), hashlib.sha1(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            md5.update(chunk)
            sha1.update(chunk)
    if expected.md5 and md5.hexdigest() != expected.md5:
        return "md5", md5.hexdigest(), expected.md5
    if expected.sha1 and sha1.hexdigest() != expected.sha1:
        return "sha1", sha1.hexdigest(), expected.sha1
    return None


def _task_threads(executor: Any) -> int:
    """Threads a task may use: with fewer local workers than cores, the spare cores go to the tasks (the Opus
    encoder runs beside the decoder); on a cluster the workers' cores are not known here, so one."""
    if executor.remote:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, executor.workers))


def ingest(
    archive: Archive,
    sources: list[Path],
    options: IngestOptions | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Ingest every file under `sources` into the archive and return what happened (see IngestSummary).
    `progress` is told the inputs to handle, then each one handled, with the decoding speed as its step."""
    options = options or IngestOptions.from_config(archive.config)
    options.check()
    started = time.perf_counter()
    mapping = load_map(options.map_csv) if options.map_csv else None
    with executors.make_executor(options, archive.config) as executor, store.ingest_lock(archive):
        conn = archive.connect()
        try:
            conn.execute("PRAGMA synchronous=FULL")  # a committed row survives a power cut, not just a crash
            recovered = store.recover(archive, conn)
            if options.tier == "plan" and conn.execute("SELECT 1 FROM plan WHERE tier > 0 LIMIT 1").fetchone() is None:
                raise FonotecaError(
                    "there is no plan to follow: run `fonoteca plan` first, or choose a tier for "
                    "every file with --tier original|compact"
                )
            coord = Coordinator(
                archive, conn, options, progress, remote=executor.remote, task_threads=_task_threads(executor)
            )
            coord.summary.recovered = recovered
            coord.summary.workers, coord.summary.executor = executor.workers, executor.describe()
            coord.tmp_dir = store.run_tmp_dir(archive)
            try:
                paths = list(walk(sources, options, archive.root, frozenset(mapping or {})))
                matcher = Matcher(conn, mapping, options.duration_tolerance_s, options.duration_tolerance_ratio)
                tasks = coord.plan_tasks(paths, matcher)
                coord.total = len(tasks)
                if progress:
                    progress(total=len(tasks))
                if tasks:
                    executors.preflight(executor, str(coord.tmp_dir), tasks[0].path)
                    executors.run(executor, tasks, coord.on_result)
                deferred_started, cpu_started = time.perf_counter(), time.thread_time()
                coord.finish_deferred()
                coord.summary.coordinator_seconds += time.perf_counter() - deferred_started
                coord.summary.coordinator_cpu_seconds += time.thread_time() - cpu_started
            finally:
                import shutil

                shutil.rmtree(coord.tmp_dir, ignore_errors=True)
            summary = coord.summary
        finally:
            conn.close()
    summary.seconds = time.perf_counter() - started
    return summary
