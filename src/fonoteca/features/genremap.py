"""The genre map: every genre placed by how its tracks sound.

1. Each track with features gets the map's dimensions (fonoteca.features.mapping): from its computed features
   (track_features) where present, else from imported ones (audio_features). Computed and imported tracks mix.
2. A genre (genres come from artists) takes the median of each dimension over the tracks of its artists.
3. Placement: x = bounce (left dense/atmospheric, right spiky/bouncy), y = electric (down organic/acoustic, up
   mechanical/electric). Each axis is spread for readability as the mean of the min-max scaled value and its
   rank (percentile) among genres, so order is kept and clusters are pulled apart.
4. Readability adjustment: labels are boxes of their text's estimated size; overlapping boxes are pushed apart
   (mostly vertically, by half the overlap each) in sweeps until none overlap or 60 sweeps have run.
5. Colour: red = loudness, green = tonality, blue = dynamics (see mapping), each spread across genres like the
   axes (min-max and rank), mapped to 40..210 of 255.
"""

from __future__ import annotations

import html

import sqlite3
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import quote

from fonoteca.features.mapping import DIMENSIONS, from_computed, from_imported

WIDTH = 1200
MARGIN = 12
BAND = 20                 # px kept free at the top and bottom for the axis captions
LABEL_HEIGHT = 16
CHAR_WIDTH = 6.6           # px per character at font-size 12 (estimate used for the boxes)
FEATURE_COLUMNS = ("tempo", "loudness_lufs", "dynamic_range_db", "centroid_hz", "flatness", "onset_rate",
                   "regularity", "harmonic_ratio")
IMPORTED_COLUMNS = ("danceability", "energy", "loudness", "speechiness", "acousticness", "instrumentalness",
                    "valence", "tempo")
AXES = {
    "x": {"dimension": "bounce", "low": "denser, more atmospheric", "high": "spikier, bouncier"},
    "y": {"dimension": "electric", "low": "more organic, acoustic", "high": "more mechanical, electric"},
    "color": {"red": "loudness", "green": "tonality", "blue": "dynamics"},
}


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def track_dimensions(conn: sqlite3.Connection) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """{track: dimensions} and {track: 'computed'|'imported'} for every track with usable features."""
    dims: dict[int, dict[str, Any]] = {}
    origin: dict[int, str] = {}
    if _has_table(conn, "track_features"):
        cols = ("track", *FEATURE_COLUMNS, "key_strength")
        for row in conn.execute(f"SELECT {', '.join(cols)} FROM track_features WHERE error IS NULL"):
            values = dict(zip(cols, row))
            d = from_computed(values)
            if d["electric"] is not None and d["bounce"] is not None:
                d["raw"] = {k: values[k] for k in FEATURE_COLUMNS}
                dims[row[0]] = d
                origin[row[0]] = "computed"
    cols = ("track", *IMPORTED_COLUMNS)
    for row in conn.execute(f"SELECT {', '.join(cols)} FROM audio_features"):
        if row[0] in dims:
            continue
        values = dict(zip(cols, row))
        d = from_imported(values)
        if d["electric"] is not None and d["bounce"] is not None:
            d["raw"] = {"tempo": values["tempo"], "loudness_lufs": values["loudness"]}
            dims[row[0]] = d
            origin[row[0]] = "imported"
    return dims, origin


def _spread(values: list[float]) -> list[float]:
    """Mean of min-max scaling and percentile rank (ties share their mean rank): order kept, clusters opened."""
    n = len(values)
    if n == 1:
        return [0.5]
    lo, hi = min(values), max(values)
    span = hi - lo
    order = sorted(range(n), key=lambda i: values[i])
    ranks = [0.0] * n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 / (n - 1)
        i = j + 1
    return [0.5 * ((v - lo) / span if span > 0 else 0.5) + 0.5 * r for v, r in zip(values, ranks)]


def _deoverlap(boxes: list[list[float]], width: float, height: float, sweeps: int = 60) -> int:
    """Push apart overlapping label boxes [left, top, w, h] in place; returns the overlaps left."""
    left_over = 0
    for _ in range(sweeps):
        order = sorted(range(len(boxes)), key=lambda i: boxes[i][0])
        left_over = 0
        for a_pos, a in enumerate(order):
            ax, ay, aw, ah = boxes[a]
            for b in order[a_pos + 1:]:
                bx, by, bw, bh = boxes[b]
                if bx >= ax + aw:
                    break
                dy = min(ay + ah, by + bh) - max(ay, by)
                if dy <= 0:
                    continue
                left_over += 1
                push = dy / 2 + 0.5
                if ay <= by:
                    boxes[a][1] -= push
                    boxes[b][1] += push
                else:
                    boxes[a][1] += push
                    boxes[b][1] -= push
                ay = boxes[a][1]
        for box in boxes:
            box[1] = min(max(box[1], BAND), height - BAND - box[3])
        if left_over == 0:
            break
    return left_over


def _color(d: dict[str, Any]) -> str:
    channels = [d.get(k) for k in ("loudness", "tonality", "dynamics")]
    return "#" + "".join(f"{int(40 + 170 * (0.5 if c is None else c)):02x}" for c in channels)


def genre_map_from_conn(conn: sqlite3.Connection, *, width: int = WIDTH) -> dict[str, Any]:
    """The map's data: axes, and every genre with tracks that have features (position, colour, medians)."""
    dims, origin = track_dimensions(conn)
    members: dict[int, set[int]] = {}
    if dims:
        for genre, track in conn.execute(
                "SELECT ag.genre, ta.track FROM artist_genres ag JOIN track_artists ta ON ta.artist = ag.artist"):
            if track in dims:
                members.setdefault(genre, set()).add(track)
    names = dict(conn.execute("SELECT rowid, name FROM genres")) if members else {}
    genres: list[dict[str, Any]] = []
    for genre, tracks in members.items():
        name = names.get(genre)
        if not name:
            continue
        entry: dict[str, Any] = {"name": name, "url": "/genres/" + quote(name, safe=""), "tracks": len(tracks),
                                 "computed": sum(1 for t in tracks if origin[t] == "computed")}
        entry["imported"] = entry["tracks"] - entry["computed"]
        entry["dimensions"] = {}
        for k in DIMENSIONS:
            values = [dims[t][k] for t in tracks if dims[t][k] is not None]
            entry["dimensions"][k] = round(median(values), 4) if values else None
        features = {}
        for k in ("tempo", "loudness_lufs", "dynamic_range_db", "centroid_hz", "flatness", "onset_rate",
                  "regularity", "harmonic_ratio"):
            values = [dims[t]["raw"].get(k) for t in tracks if dims[t]["raw"].get(k) is not None]
            if values:
                features[k] = round(float(median(values)), 4)
        entry["features"] = features
        genres.append(entry)
    genres.sort(key=lambda g: g["name"])
    n = len(genres)
    height = max(640, int(n * 2600 / width))
    if genres:
        xs = _spread([g["dimensions"]["bounce"] for g in genres])
        ys = _spread([g["dimensions"]["electric"] for g in genres])
        boxes = []
        for g, x, y in zip(genres, xs, ys):
            g["x"], g["y"] = round(x, 4), round(y, 4)
            w = CHAR_WIDTH * len(g["name"]) + 4
            cx = MARGIN + x * (width - 2 * MARGIN - w)
            cy = BAND + (1 - y) * (height - 2 * BAND - LABEL_HEIGHT)
            boxes.append([cx, cy, w, LABEL_HEIGHT])
        overlaps = _deoverlap(boxes, width, height)
        channels = {}
        for k in ("loudness", "tonality", "dynamics"):  # spread like the axes, so colour tells genres apart
            present = [g["dimensions"][k] for g in genres if g["dimensions"][k] is not None]
            spread = iter(_spread(present)) if present else iter(())
            channels[k] = [next(spread) if g["dimensions"][k] is not None else None for g in genres]
        for i, (g, box) in enumerate(zip(genres, boxes)):
            g["left"], g["top"] = round(box[0], 1), round(box[1], 1)
            g["color"] = _color({k: channels[k][i] for k in channels})
    else:
        overlaps = 0
    return {"genres": genres, "count": n, "width": width, "height": height, "axes": AXES,
            "tracks": {"computed": sum(1 for o in origin.values() if o == "computed"),
                       "imported": sum(1 for o in origin.values() if o == "imported")},
            "overlaps": overlaps}


def genre_map(archive: Any) -> dict[str, Any]:
    """The genre map of an archive (see genre_map_from_conn)."""
    conn = archive.connect(readonly=True)
    try:
        return genre_map_from_conn(conn)
    finally:
        conn.close()


def svg(data: dict[str, Any], *, base_url: str | None = "") -> str:
    """The map as an SVG element: one <text> per genre at its label position, linked when base_url is not None.
    Attributes only (no inline style), so it passes the site's Content-Security-Policy."""
    w, h = data["width"], data["height"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="genre-map" viewBox="0 0 {w} {h}" width="{w}" '
             f'height="{h}" role="img" aria-label="Genres placed by how they sound" font-family="sans-serif" '
             f'font-size="12">',
             f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>',
             f'<text x="{w / 2}" y="12" text-anchor="middle" fill="#888888" font-size="10">'
             f'↑ {html.escape(AXES["y"]["high"])}</text>',
             f'<text x="{w / 2}" y="{h - 3}" text-anchor="middle" fill="#888888" font-size="10">'
             f'↓ {html.escape(AXES["y"]["low"])}</text>',
             f'<text x="3" y="{h - 3}" fill="#888888" font-size="10">← {html.escape(AXES["x"]["low"])}</text>',
             f'<text x="{w - 3}" y="{h - 3}" text-anchor="end" fill="#888888" font-size="10">'
             f'{html.escape(AXES["x"]["high"])} →</text>']
    for g in data["genres"]:
        title = (f'{g["name"]}: {g["tracks"]} tracks ({g["computed"]} computed, {g["imported"]} imported)')
        text = (f'<text x="{g["left"]}" y="{g["top"] + 12}" fill="{g["color"]}" data-genre="{html.escape(g["name"])}">'
                f'<title>{html.escape(title)}</title>{html.escape(g["name"])}</text>')
        if base_url is not None:
            text = f'<a href="{html.escape(base_url + g["url"])}">{text}</a>'
        parts.append(text)
    parts.append("</svg>")
    return "\n".join(parts)


def write_genre_map(archive: Any, out_path: Path | str, *, base_url: str | None = None,
                    data: dict[str, Any] | None = None) -> Path:
    """Write the map as a standalone HTML page (.html) or an image (.png, .svg). base_url: link each genre to
    BASE_URL/genres/NAME (the archive's website)."""
    out = Path(out_path)
    data = data if data is not None else genre_map(archive)
    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".svg":
        out.write_text(svg(data, base_url=base_url), encoding="utf-8")
    elif suffix in (".html", ".htm"):
        body = svg(data, base_url=base_url)
        out.write_text(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Genre map</title></head>"
            f"<body><h1>Genre map</h1><p>{data['count']} genres placed by how their tracks sound "
            f"({data['tracks']['computed']} tracks with computed features, {data['tracks']['imported']} with "
            f"imported ones). Up: {AXES['y']['high']}; down: {AXES['y']['low']}; left: {AXES['x']['low']}; "
            f"right: {AXES['x']['high']}. Colour: red loudness, green tonality, blue dynamics.</p>\n{body}\n"
            "</body></html>\n", encoding="utf-8")
    elif suffix == ".png":
        _png(data, out)
    else:
        from fonoteca.errors import UsageError

        raise UsageError(f"--out must end in .html, .png or .svg, not {out.name!r}")
    return out


def _png(data: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w, h = data["width"], data["height"]
    dpi = 100
    fig = plt.figure(figsize=(w / dpi, h / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    for g in data["genres"]:
        ax.text(g["left"], g["top"] + 12, g["name"], color=g["color"], fontsize=9, family="sans-serif")
    ax.text(w / 2, 10, "↑ " + AXES["y"]["high"], ha="center", color="#888888", fontsize=7)
    ax.text(w / 2, h - 3, "↓ " + AXES["y"]["low"], ha="center", color="#888888", fontsize=7)
    ax.text(3, h - 3, "← " + AXES["x"]["low"], color="#888888", fontsize=7)
    ax.text(w - 3, h - 3, AXES["x"]["high"] + " →", ha="right", color="#888888", fontsize=7)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)


def example_track(conn: sqlite3.Connection, genre: int) -> int | None:
    """The most popular track of a genre that has a stored file (its example), or None."""
    row = conn.execute(
        "SELECT ta.track FROM artist_genres ag JOIN track_artists ta ON ta.artist = ag.artist "
        "JOIN tracks t ON t.rowid = ta.track WHERE ag.genre = ? AND EXISTS (SELECT 1 FROM files f WHERE f.track = t.rowid) "
        "ORDER BY t.popularity DESC, t.rowid LIMIT 1", (genre,)).fetchone()
    return None if row is None else row[0]


