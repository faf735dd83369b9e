"""Ingest options: command-line values over the archive's [ingest] table over the defaults here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fonoteca.errors import UsageError
from fonoteca.tiers import TierSettings

# Sidecar files a music folder holds that are never audio; everything else is decoded (and quarantined if it is
# not audio), so that nothing in a source folder is silently passed over.
DEFAULT_IGNORE = (
    ".txt",
    ".nfo",
    ".cue",
    ".log",
    ".m3u",
    ".m3u8",
    ".pls",
    ".sfv",
    ".md5",
    ".ffp",
    ".json",
    ".csv",
    ".toml",
    ".pdf",
    ".db",
    ".ini",
    ".accurip",
)


@dataclass
class IngestOptions:
    workers: int = 0  # 0: every core
    map_csv: Path | None = None  # CSV with columns path,track_id or path,isrc
    tier: str = "plan"  # plan | original | compact (override the plan for every file)
    scheduler: str | None = None  # tcp://HOST:PORT of a Dask scheduler (default: [cluster] scheduler)
    storage: str | None = None  # shared | sources | none (default: [cluster] storage, else shared)
    compact_bitrate: int = 75000  # [tiers] compact_bitrate
    duration_tolerance_s: float = 3.0  # [ingest] catalog duration vs decoded, absolute ...
    duration_tolerance_ratio: float = 0.02  # ... or relative, whichever is larger
    fingerprint_seconds: float = 120.0  # [ingest] audio fingerprinted (AcoustID uses 120 s)
    match_ber: float = 0.20  # [ingest] fingerprint bit error rate for "same recording" (see
    # fonoteca.audio.fingerprint.MATCH_BER for the measurements)
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    covers_dir: str = "covers"  # [ingest] local cover art: ARCHIVE/covers/<album id>.jpg|png
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict[str, Any], **overrides: Any) -> IngestOptions:
        section = dict(config.get("ingest", {}))
        opts = cls()
        opts.compact_bitrate = TierSettings.from_config(config).compact_bitrate
        for key in ("duration_tolerance_s", "duration_tolerance_ratio", "fingerprint_seconds", "match_ber"):
            if key in section:
                setattr(opts, key, float(section[key]))
        if "workers" in section:
            opts.workers = int(section["workers"])
        if "ignore" in section:
            opts.ignore = tuple(str(x).lower() for x in section["ignore"])
        if "covers_dir" in section:
            opts.covers_dir = str(section["covers_dir"])
        for key, value in overrides.items():
            if value is not None:
                setattr(opts, key, value)
        opts.check()
        return opts

    def check(self) -> None:
        if self.tier not in ("plan", "original", "compact"):
            raise UsageError(f"--tier takes plan, original or compact, not {self.tier!r}")
        if self.workers < 0:
            raise UsageError("--workers takes a number >= 0 (0: every core)")

    @property
    def worker_count(self) -> int:
        return self.workers or (os.cpu_count() or 1)

    def tolerance(self, expected: float) -> float:
        return max(self.duration_tolerance_s, self.duration_tolerance_ratio * expected)
