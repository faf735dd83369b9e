"""The statistics page reads what `fonoteca stats --out DIR` wrote: stats.json (every chart's numbers) and each
chart as NAME.svg / NAME.png. The default folder is ARCHIVE/stats."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import orjson

CHART_NAME = re.compile(r"^[a-z0-9_]{1,64}$")
FORMATS = {"svg": "image/svg+xml", "png": "image/png"}


class Charts:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._signature: tuple[int, int] | None = None
        self._index: dict[str, Any] | None = None

    def index(self) -> dict[str, Any] | None:
        """stats.json, re-read when it changes; None when there is none (or it is unreadable)."""
        path = self.directory / "stats.json"
        try:
            st = path.stat()
        except OSError:
            return None
        signature = (st.st_size, st.st_mtime_ns)
        if signature != self._signature:
            with self._lock:
                try:
                    data = orjson.loads(path.read_bytes())
                except (OSError, orjson.JSONDecodeError):
                    data = None
                self._index = data if isinstance(data, dict) and isinstance(data.get("charts"), dict) else None
                self._signature = signature
        return self._index

    def charts(self) -> list[dict[str, Any]]:
        index = self.index()
        if index is None:
            return []
        out = []
        for name, chart in index["charts"].items():
            if not isinstance(name, str) or not CHART_NAME.match(name) or not isinstance(chart, dict):
                continue
            formats = [ext for ext in FORMATS if (self.directory / f"{name}.{ext}").is_file()]
            out.append(
                {
                    "name": name,
                    "title": chart.get("title") if isinstance(chart.get("title"), str) else name,
                    "formats": formats,
                    "images": {ext: f"/stats/charts/{name}.{ext}" for ext in formats},
                    "numbers": chart.get("numbers"),
                }
            )
        return out

    def file(self, name: str, ext: str) -> Path | None:
        """A chart image, only for a chart stats.json names and a known format."""
        if ext not in FORMATS or not CHART_NAME.match(name):
            return None
        if not any(c["name"] == name for c in self.charts()):
            return None
        path = self.directory / f"{name}.{ext}"
        return path if path.is_file() and not path.is_symlink() else None
