"""stream, download, getCoverArt, getLyricsBySongId. Files come from the catalog's files table or a release's
payload (fonoteca.web.media.locate: never a path from the request, always inside files/ or releases/R/data/),
or, for a released track this mirror does not hold, from the swarm as it arrives (fonoteca.subsonic.fetcher)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from starlette.responses import FileResponse, Response, StreamingResponse

from fonoteca.errors import FonotecaError
from fonoteca.subsonic import covers, items
from fonoteca.subsonic import media as transcoding
from fonoteca.subsonic import responses as r
from fonoteca.subsonic.api import endpoint
from fonoteca.subsonic.browse import song_ref
from fonoteca.subsonic.library import Released, Snapshot
from fonoteca.subsonic.service import Context
from fonoteca.web.media import AudioFile, locate

RANGE = re.compile(r"^\s*bytes\s*=\s*(\d{0,19})\s*-\s*(\d{0,19})\s*$")
AUDIO_CACHE = "private, max-age=3600"


def _track_id(ctx: Context, snap: Snapshot, rowid: int) -> str:
    row = ctx.service.library.conn(snap).execute("SELECT id FROM tracks WHERE rowid = ?", (rowid,)).fetchone()
    if row is None:
        raise r.not_found("song")
    return row[0]


def held_file(ctx: Context, snap: Snapshot, rowid: int, track_id: str) -> AudioFile | None:
    site = ctx.service.site
    audio, _where, _row = locate(ctx.service.library.conn(snap), site.archive, site.releases, rowid, track_id)
    return audio


def _kbps(audio: AudioFile) -> int | None:
    bit_rate = audio.info.get("bit_rate")
    if isinstance(bit_rate, int) and bit_rate > 0:
        return bit_rate // 1000
    duration = audio.info.get("duration_ms")
    if isinstance(duration, int) and duration > 0:
        return int(audio.size * 8 / duration)
    return None


def _serve(ctx: Context, *, download: bool) -> Response:
    snap = ctx.service.library.snapshot()
    rowid = song_ref(ctx, snap)
    track_id = _track_id(ctx, snap, rowid)
    audio = held_file(ctx, snap, rowid, track_id)
    if audio is None:
        released = snap.released.get(track_id) if ctx.service.config.fetch_missing else None
        if released is None:
            raise r.not_found(f"a file for song {rowid} on this server")
        return _remote(ctx, released)
    headers = {"cache-control": AUDIO_CACHE}
    if download:
        headers["content-disposition"] = f'attachment; filename="{rowid}{audio.path.suffix}"'
        return FileResponse(audio.path, media_type=audio.media_type, headers=headers)
    plan = transcoding.plan_transcode(
        ctx.one("format"),
        ctx.integer("maxBitRate", 0, high=10000),
        ctx.number("timeOffset", 0.0, high=24 * 3600),
        audio.path.suffix.lstrip(".").lower(),
        _kbps(audio),
    )
    if plan is None:
        return FileResponse(audio.path, media_type=audio.media_type, headers=headers)
    chunks = transcoding.transcode(audio.path, plan, ctx.service.config.transcode_max_seconds)
    return StreamingResponse(chunks, media_type=plan.media_type, headers={"cache-control": r.NO_STORE})


@endpoint("stream")
def stream(ctx: Context) -> Response:
    return _serve(ctx, download=False)


@endpoint("download")
def download(ctx: Context) -> Response:
    return _serve(ctx, download=True)


# --- not held yet: from the swarm --------------------------------------------------------------------------------
def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a single byte range; None for the whole file; 416 when unsatisfiable."""
    if not header:
        return None
    match = RANGE.match(header)
    if match is None or (not match.group(1) and not match.group(2)):
        return None  # not a single range we understand: the whole file, as RFC 9110 allows
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = min(size, int(last) + 1) if last else size
    else:
        start, end = max(0, size - int(last)), size
    if start >= size or start >= end:
        raise r.SubsonicError(
            r.GENERIC,
            f"the range {header[:60]!r} lies beyond the file ({size} bytes)",
            http_status=416,
            headers={"content-range": f"bytes */{size}"},
        )
    return start, end


def _remote(ctx: Context, released: Released) -> Response:
    fetcher = ctx.service.fetcher
    size = released.line.size
    wanted = _range(ctx.headers.get("range"), size)
    try:
        remote = fetcher.open(released)
    except FonotecaError as exc:
        raise r.SubsonicError(
            r.GENERIC, f"this mirror does not hold the file yet and could not fetch it: {exc}"
        ) from exc
    start, end = wanted or (0, size)
    timeout = ctx.service.config.fetch_timeout

    async def body() -> AsyncIterator[bytes]:
        pos = start
        if pos:
            fetcher.ask(remote, pos)
        waited = 0.0
        while pos < end:
            ready = fetcher.ready(remote, pos)
            if ready <= 0:
                if waited > timeout:
                    raise FonotecaError(f"no piece of {remote.path.name} arrived in {timeout:.0f} s")
                await anyio.sleep(0.01)
                waited += 0.01
                continue
            waited = 0.0
            take = min(ready, end - pos, 1 << 20)
            data = await anyio.to_thread.run_sync(_read, remote.path, pos, take)
            if not data:
                await anyio.sleep(0.01)
                continue
            pos += len(data)
            fetcher.ask(remote, pos)
            yield data
        fetcher.finished(remote)

    suffix = Path(released.line.path).suffix.lower()
    from fonoteca.web.media import MEDIA_TYPES

    headers = {"cache-control": r.NO_STORE, "accept-ranges": "bytes", "content-length": str(end - start)}
    status = 200
    if wanted is not None:
        status = 206
        headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    return StreamingResponse(
        body(), status_code=status, media_type=MEDIA_TYPES.get(suffix, "application/octet-stream"), headers=headers
    )


def _read(path: Path, pos: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(pos)
        return f.read(size)


# --- cover art and lyrics -----------------------------------------------------------------------------------------
def _cover_file(ctx: Context, snap: Snapshot, ref: items.Ref) -> Path | None:
    """A held file whose embedded picture stands for the song, album or artist."""
    lib = ctx.service.library
    if ref.kind == "song":
        songs = [ref.rowid] if snap.contains(ref.rowid) else []
    elif ref.kind == "album":
        songs = items.album_songs(lib, snap, ref.rowid)[:20] if ref.rowid in snap.albums else []
    elif ref.kind == "artist":
        songs = []
        for album in snap.artist_albums.get(ref.rowid, [])[:5]:
            songs += items.album_songs(lib, snap, album)[:5]
    else:
        songs = []
    conn = lib.conn(snap)
    for rowid in songs:
        row = conn.execute("SELECT id FROM tracks WHERE rowid = ?", (rowid,)).fetchone()
        if row is None:
            continue
        audio = held_file(ctx, snap, rowid, row[0])
        if audio is not None:
            return audio.path
    return None


@endpoint("getCoverArt")
def get_cover_art(ctx: Context) -> Response:
    snap = ctx.service.library.snapshot()
    ref = items.parse_id(ctx.one("id"), kinds=("song", "album", "artist", "playlist", "catalog_playlist"))
    size = ctx.integer("size", None, low=1, high=covers.MAX_SIZE)
    if ref.kind == "song" and not snap.contains(ref.rowid):
        raise r.not_found(f"cover art {ref.text!r}")
    if ref.kind == "album" and ref.rowid not in snap.albums:
        raise r.not_found(f"cover art {ref.text!r}")
    if ref.kind == "artist" and ref.rowid not in snap.artist_albums:
        raise r.not_found(f"cover art {ref.text!r}")
    data = covers.cover(ctx.service.root, _cover_file(ctx, snap, ref), ref.text, size)
    return Response(data, media_type="image/jpeg", headers={"cache-control": "private, max-age=86400"})


@endpoint("getLyricsBySongId")
def get_lyrics_by_song_id(ctx: Context) -> dict:
    snap = ctx.service.library.snapshot()
    rowid = song_ref(ctx, snap)
    song = items.songs(ctx.service.library, snap, [rowid], None, 0, has_files=False)
    audio = held_file(ctx, snap, rowid, _track_id(ctx, snap, rowid))
    texts = transcoding.lyrics(audio.path) if audio is not None else []
    found: list[dict[str, Any]] = []
    for text in texts[:4]:
        found.append(
            {
                "displayArtist": song[0].get("artist") if song else None,
                "displayTitle": song[0].get("title") if song else None,
                "lang": "xxx",
                "synced": False,
                "line": [{"value": line} for line in text.splitlines()[:5000]],
            }
        )
    return {"lyricsList": {"structuredLyrics": found}}
