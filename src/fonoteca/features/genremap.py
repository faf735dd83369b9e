"""The genre map: every genre placed by how its tracks sound.

1. Each track with features gets the map's dimensions (fonoteca.features.mapping): from its computed features
   (track_features) where present, else from imported ones (audio_features). Computed and imported tracks mix.
2. A genre (genres come from artists) takes the median of each dimension over the tracks of its artists.
3. Placement: x = bounce (left dense/atmospheric, right spiky/bouncy), y = electric (down organic/acoustic, up
   mechanical/electric). Each axis is spread for readability as the mean of the min-max scaled value and its
   rank (percentile) among genres, so order is kept and clusters are pulled apart.
4. Readability: every genre is a dot (its area grows with its tracks) with a hover title; labels are boxes of
   their text's measured size, placed greedily, the largest genres first, next to their dot where they meet no
   label already placed. What does not fit stays unlabelled (its name shows on hover and in the list), so
   hundreds of genres never pile up.
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

from fonoteca.catalog.records import CONTINUOUS_FEATURES
from fonoteca.features.mapping import DIMENSIONS, from_computed, from_imported

WIDTH = 1200
MARGIN = 12
BAND = 20  # px kept free at the top and bottom for the axis captions
LABEL_HEIGHT = 15
LABEL_PAD = 3  # px added to the measured text width
FONT_SIZE = 12
FONT_FAMILY = "DejaVu Sans, Verdana, sans-serif"
CHAR_WIDTH = 7.5  # px per character when no font metrics are at hand (generous)
DOT_MIN, DOT_MAX = 2.0, 7.0
FEATURE_COLUMNS = (
    "tempo",
    "loudness_lufs",
    "dynamic_range_db",
    "centroid_hz",
    "flatness",
    "onset_rate",
    "regularity",
    "harmonic_ratio",
)
IMPORTED_COLUMNS = tuple(f for f in CONTINUOUS_FEATURES if f != "liveness")  # imported features the map reads
AXES = {
    "x": {"dimension": "bounce", "low": "denser, more atmospheric", "high": "spikier, bouncier"},
    "y": {"dimension": "electric", "low": "more organic, acoustic", "high": "more mechanical, electric"},
    "color": {"red": "loudness", "green": "tonality", "blue": "dynamics"},
}


def track_dimensions(conn: sqlite3.Connection) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """{track: dimensions} and {track: 'computed'|'imported'} for every track with usable features."""
    dims: dict[int, dict[str, Any]] = {}
    origin: dict[int, str] = {}
    cols = ("track", *FEATURE_COLUMNS, "key_strength")
    for row in conn.execute(f"SELECT {', '.join(cols)} FROM track_features WHERE error IS NULL"):
        values = dict(zip(cols, row, strict=True))
        d: dict[str, Any] = from_computed(values)
        if d["electric"] is not None and d["bounce"] is not None:
            d["raw"] = {k: values[k] for k in FEATURE_COLUMNS}
            dims[row[0]] = d
            origin[row[0]] = "computed"
    imported_cols = ("track", *IMPORTED_COLUMNS)
    for row in conn.execute(f"SELECT {', '.join(imported_cols)} FROM audio_features"):
        if row[0] in dims:
            continue
        values = dict(zip(imported_cols, row, strict=True))
        found: dict[str, Any] = from_imported(values)
        if found["electric"] is not None and found["bounce"] is not None:
            found["raw"] = {"tempo": values["tempo"], "loudness_lufs": values["loudness"]}
            dims[row[0]] = found
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
    return [0.5 * ((v - lo) / span if span > 0 else 0.5) + 0.5 * r for v, r in zip(values, ranks, strict=True)]


def _text_width(name: str) -> float:
    """Width in px of a label at font-size 12 in DejaVu Sans (the map's first font, and a wide one: a box sized
    for it also holds the text in narrower sans-serif fonts). Measured with matplotlib's font metrics."""
    return _measure()(name)


_MEASURE: list[Any] = []


def _measure() -> Any:
    if not _MEASURE:
        try:
            from matplotlib.font_manager import FontProperties
            from matplotlib.textpath import TextToPath

            engine, font = TextToPath(), FontProperties(family="DejaVu Sans", size=FONT_SIZE)

            def measured(text: str) -> float:
                return engine.get_text_width_height_descent(text, font, ismath=False)[0]

            measured("x")
            _MEASURE.append(measured)
        except Exception:  # noqa: BLE001 (no matplotlib font: a generous estimate per character)
            _MEASURE.append(lambda text: CHAR_WIDTH * len(text))
    return _MEASURE[0]


class _Grid:
    """Placed label boxes in a grid of cells, so a collision check looks at a few neighbours, not every box."""

    def __init__(self, cell: float = 48.0) -> None:
        self.cell = cell
        self.cells: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}

    def _keys(self, box: tuple[float, float, float, float]) -> list[tuple[int, int]]:
        left, top, w, h = box
        c = self.cell
        return [
            (i, j)
            for i in range(int(left // c), int((left + w) // c) + 1)
            for j in range(int(top // c), int((top + h) // c) + 1)
        ]

    def free(self, box: tuple[float, float, float, float]) -> bool:
        left, top, w, h = box
        for key in self._keys(box):
            for other in self.cells.get(key, ()):
                if (
                    left < other[0] + other[2]
                    and other[0] < left + w
                    and top < other[1] + other[3]
                    and other[1] < top + h
                ):
                    return False
        return True

    def add(self, box: tuple[float, float, float, float]) -> None:
        for key in self._keys(box):
            self.cells.setdefault(key, []).append(box)


def _place_labels(genres: list[dict[str, Any]], width: float, height: float) -> int:
    """Label the genres that fit, the largest (most tracks) first: each label is tried right of its dot, then
    left, above, below and at the four corners, and kept only where its box meets no label already placed,
    stays inside the map and covers no other genre's dot. The rest keep their dot (and its hover title). Returns how
    many genres got a label."""
    grid, dots = _Grid(), _Grid()
    for g in genres:
        dots.add((g["px"] - g["r"], g["py"] - g["r"], 2 * g["r"], 2 * g["r"]))
    placed = 0
    for g in sorted(genres, key=lambda g: (-g["tracks"], g["name"])):
        w = _text_width(g["name"]) + LABEL_PAD
        h = LABEL_HEIGHT
        px, py, r = g["px"], g["py"], g["r"]
        g["labelled"], g["left"], g["top"], g["label_width"] = False, None, None, round(w, 1)
        for left, top in (
            (px + r + 2, py - h / 2),
            (px - r - 2 - w, py - h / 2),
            (px - w / 2, py - r - 1 - h),
            (px - w / 2, py + r + 1),
            (px + r, py - r - h),
            (px - r - w, py - r - h),
            (px + r, py + r),
            (px - r - w, py + r),
        ):
            box = (left, top, w, h)
            if (
                left < 0
                or left + w > width
                or top < BAND
                or top + h > height - BAND
                or not grid.free(box)
                or not dots.free(box)
            ):
                continue
            grid.add(box)
            g["labelled"], g["left"], g["top"] = True, round(left, 1), round(top, 1)
            placed += 1
            break
    return placed


def overlapping_labels(genres: list[dict[str, Any]]) -> int:
    """Pairs of label boxes that overlap (0 for a map made here; a check for tests and readers)."""
    boxes = sorted((g["left"], g["top"], g["label_width"], LABEL_HEIGHT) for g in genres if g.get("labelled"))
    count = 0
    for i, (ax, ay, aw, ah) in enumerate(boxes):
        for bx, by, _, bh in boxes[i + 1 :]:
            if bx >= ax + aw:
                break
            if ay < by + bh and by < ay + ah:
                count += 1
    return count


def _color(d: dict[str, Any]) -> str:
    channels = [d.get(k) for k in ("loudness", "tonality", "dynamics")]
    return "#" + "".join(f"{int(40 + 170 * (0.5 if c is None else c)):02x}" for c in channels)


def genre_map_from_conn(conn: sqlite3.Connection, *, width: int = WIDTH) -> dict[str, Any]:
    """The map's data: axes, and every genre with tracks that have features (position, colour, medians)."""
    dims, origin = track_dimensions(conn)
    members: dict[int, set[int]] = {}
    if dims:
        for genre, track in conn.execute(
            "SELECT ag.genre, ta.track FROM artist_genres ag JOIN track_artists ta ON ta.artist = ag.artist"
        ):
            if track in dims:
                members.setdefault(genre, set()).add(track)
    names = dict(conn.execute("SELECT rowid, name FROM genres")) if members else {}
    genres: list[dict[str, Any]] = []
    for genre, tracks in members.items():
        name = names.get(genre)
        if not name:
            continue
        entry: dict[str, Any] = {
            "name": name,
            "url": "/genres/" + quote(name, safe=""),
            "tracks": len(tracks),
            "computed": sum(1 for t in tracks if origin[t] == "computed"),
        }
        entry["imported"] = entry["tracks"] - entry["computed"]
        entry["dimensions"] = {}
        for k in DIMENSIONS:
            values = [dims[t][k] for t in tracks if dims[t][k] is not None]
            entry["dimensions"][k] = round(median(values), 4) if values else None
        features = {}
        for k in (
            "tempo",
            "loudness_lufs",
            "dynamic_range_db",
            "centroid_hz",
            "flatness",
            "onset_rate",
            "regularity",
            "harmonic_ratio",
        ):
            values = [dims[t]["raw"].get(k) for t in tracks if dims[t]["raw"].get(k) is not None]
            if values:
                features[k] = round(float(median(values)), 4)
        entry["features"] = features
        genres.append(entry)
    genres.sort(key=lambda g: g["name"])
    n = len(genres)
    height = max(640, int(n * 2600 / width))
    labelled = 0
    if genres:
        xs = _spread([g["dimensions"]["bounce"] for g in genres])
        ys = _spread([g["dimensions"]["electric"] for g in genres])
        most = max(g["tracks"] for g in genres)
        for g, x, y in zip(genres, xs, ys, strict=True):
            g["x"], g["y"] = round(x, 4), round(y, 4)
            g["r"] = round(DOT_MIN + (DOT_MAX - DOT_MIN) * (g["tracks"] / most) ** 0.5, 1)
            g["px"] = round(MARGIN + DOT_MAX + x * (width - 2 * (MARGIN + DOT_MAX)), 1)
            g["py"] = round(BAND + DOT_MAX + (1 - y) * (height - 2 * (BAND + DOT_MAX)), 1)
        labelled = _place_labels(genres, width, height)
        channels = {}
        for k in ("loudness", "tonality", "dynamics"):  # spread like the axes, so colour tells genres apart
            present = [g["dimensions"][k] for g in genres if g["dimensions"][k] is not None]
            spread = iter(_spread(present)) if present else iter(())
            channels[k] = [next(spread) if g["dimensions"][k] is not None else None for g in genres]
        for i, g in enumerate(genres):
            g["color"] = _color({k: channels[k][i] for k in channels})
    reason, message = (None, None) if genres else _why_empty(conn, dims)
    return {
        "genres": genres,
        "count": n,
        "labelled": labelled,
        "width": width,
        "height": height,
        "axes": AXES,
        "tracks": {
            "computed": sum(1 for o in origin.values() if o == "computed"),
            "imported": sum(1 for o in origin.values() if o == "imported"),
        },
        "overlaps": overlapping_labels(genres),
        "reason": reason,
        "message": message,
    }


def _why_empty(conn: sqlite3.Connection, dims: dict[int, Any]) -> tuple[str, str]:
    """Why there is nothing to draw, in words a reader can act on."""
    if conn.execute("SELECT 1 FROM artist_genres LIMIT 1").fetchone() is None:
        return (
            "no_genres",
            "this catalog has no genres: genres come from artists (Spotify artist objects, "
            "MusicBrainz artists), and none of the imported artists carries any",
        )
    if not dims:
        return (
            "no_features",
            "no track has audio features yet: they come from `fonoteca features` (after "
            "`fonoteca ingest`) or from imported Spotify audio features",
        )
    return ("no_genre_tracks", "no track with audio features is by an artist with a genre")


def genre_map(archive: Any) -> dict[str, Any]:
    """The genre map of an archive (see genre_map_from_conn)."""
    conn = archive.connect(readonly=True)
    try:
        return genre_map_from_conn(conn)
    finally:
        conn.close()


def svg(data: dict[str, Any], *, base_url: str | None = "") -> str:
    """The map as an SVG element: per genre a dot, and its label where one fits, with the name and figures as
    a hover title; linked when base_url is not None. Attributes only (no inline style), so it passes the site's
    Content-Security-Policy."""
    w, h = data["width"], data["height"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="genre-map" viewBox="0 0 {w} {h}" width="{w}" '
        f'height="{h}" role="img" aria-label="Genres placed by how they sound" font-family="{FONT_FAMILY}" '
        f'font-size="{FONT_SIZE}">',
        f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>',
        f'<text x="{w / 2}" y="12" text-anchor="middle" fill="#888888" font-size="10">'
        f"↑ {html.escape(AXES['y']['high'])}</text>",
        f'<text x="{w / 2}" y="{h - 3}" text-anchor="middle" fill="#888888" font-size="10">'
        f"↓ {html.escape(AXES['y']['low'])}</text>",
        f'<text x="3" y="{h - 3}" fill="#888888" font-size="10">← {html.escape(AXES["x"]["low"])}</text>',
        f'<text x="{w - 3}" y="{h - 3}" text-anchor="end" fill="#888888" font-size="10">'
        f"{html.escape(AXES['x']['high'])} →</text>",
    ]
    for g in data["genres"]:
        title = html.escape(f"{g['name']}: {g['tracks']} tracks ({g['computed']} computed, {g['imported']} imported)")
        name = html.escape(g["name"])
        item = (
            f'<circle cx="{g["px"]}" cy="{g["py"]}" r="{g["r"]}" fill="{g["color"]}" data-genre="{name}">'
            f"<title>{title}</title></circle>"
        )
        if g["labelled"]:
            item += (
                f'<text x="{g["left"]}" y="{round(g["top"] + LABEL_HEIGHT - 3.5, 1)}" fill="{g["color"]}" '
                f'data-genre="{name}"><title>{title}</title>{name}</text>'
            )
        if base_url is not None:
            item = f'<a href="{html.escape(base_url + g["url"])}">{item}</a>'
        parts.append(item)
    parts.append("</svg>")
    return "\n".join(parts)


def write_genre_map(
    archive: Any, out_path: Path | str, *, base_url: str | None = None, data: dict[str, Any] | None = None
) -> Path:
    """Write the map as a standalone HTML page (.html) or an image (.png, .svg). base_url: link each genre to
    BASE_URL/genres/NAME (the archive's website)."""
    out = Path(out_path)
    data = data if data is not None else genre_map(archive)
    suffix = out.suffix.lower()
    if suffix not in (".svg", ".html", ".htm", ".png"):
        from fonoteca.errors import UsageError

        raise UsageError(f"--out must end in .html, .png or .svg, not {out.name!r}")
    if not data["genres"]:
        from fonoteca.errors import FonotecaError

        raise FonotecaError(
            f"no genre map to draw: {data.get('message') or 'no genre has tracks with features'}; "
            f"nothing written to {out}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".svg":
        out.write_text(svg(data, base_url=base_url), encoding="utf-8")
    elif suffix in (".html", ".htm"):
        body = svg(data, base_url=base_url)
        out.write_text(
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Genre map</title></head>'
            f"<body><h1>Genre map</h1><p>{data['count']} genres placed by how their tracks sound "
            f"({data['tracks']['computed']} tracks with computed features, {data['tracks']['imported']} with "
            f"imported ones). Up: {AXES['y']['high']}; down: {AXES['y']['low']}; left: {AXES['x']['low']}; "
            f"right: {AXES['x']['high']}. Colour: red loudness, green tonality, blue dynamics. The "
            f"{data['labelled']} largest genres that fit are named; point at a dot for the others.</p>\n{body}\n"
            "</body></html>\n",
            encoding="utf-8",
        )
    elif suffix == ".png":
        _png(data, out)
    else:
        from fonoteca.errors import UsageError

        raise UsageError(f"--out must end in .html, .png or .svg, not {out.name!r}")
    return out


def _png(data: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patches
    import matplotlib.pyplot as plt

    w, h = data["width"], data["height"]
    dpi = 100
    fig = plt.figure(figsize=(w / dpi, h / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    for g in data["genres"]:
        ax.add_patch(matplotlib.patches.Circle((g["px"], g["py"]), g["r"], color=g["color"]))
        if g["labelled"]:
            ax.text(
                g["left"],
                g["top"] + LABEL_HEIGHT - 3.5,
                g["name"],
                color=g["color"],
                fontsize=FONT_SIZE * 0.72,
                family="DejaVu Sans",
            )
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
        "JOIN tracks t ON t.rowid = ta.track WHERE ag.genre = ? AND EXISTS (SELECT 1 FROM "
        "files f WHERE f.track = t.rowid) ORDER BY t.popularity DESC, t.rowid LIMIT 1",
        (genre,),
    ).fetchone()
    return None if row is None else row[0]
