"""The tiers, defined once: what the plan chooses, what ingest stores, what pack and the site report.

The integer values are the ones stored in the catalog (`plan.tier`, `files.tier`, `plan_sizes.tier`); the names
are the ones people type (`--tier original`) and read. `TierSettings` is the archive's `[tiers]` table, read here
and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from fonoteca.errors import FonotecaError, UsageError


class Tier(IntEnum):
    SKIP = 0  # catalogued only
    COMPACT = 1  # re-encoded to Ogg Opus with libopus
    ORIGINAL = 2  # the source audio kept bit-exact, metadata as tags, the untagged input rebuildable

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> Tier:
        """A tier from the name a person typed (original, compact, skip)."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise UsageError(f"unknown tier {name!r}: use original, compact or skip") from None

    @classmethod
    def label_of(cls, value: int) -> str:
        """The name of a stored tier value; the number itself for a value this version does not know."""
        try:
            return cls(value).label
        except ValueError:
            return str(value)


STORED_TIERS = (Tier.ORIGINAL, Tier.COMPACT)  # tiers that keep a file, best first

COMPACT_CODECS = ("opus",)


@dataclass(frozen=True)
class TierSettings:
    """`[tiers]` of fonoteca.toml: the compact codec and the bit rates the plan sizes files with."""

    compact_codec: str = "opus"
    compact_bitrate: int = 75_000  # bit/s, what ingest encodes the compact tier at
    original_bitrate: int = 160_000  # bit/s, what the plan assumes an original file takes

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TierSettings:
        section = config.get("tiers", {})
        try:
            settings = cls(
                str(section.get("compact_codec", cls.compact_codec)).lower(),
                int(section.get("compact_bitrate", cls.compact_bitrate)),
                int(section.get("original_bitrate", cls.original_bitrate)),
            )
        except (TypeError, ValueError) as exc:
            raise FonotecaError(f"fonoteca.toml [tiers]: {exc}") from None
        settings.check()
        return settings

    def check(self) -> None:
        if self.compact_codec not in COMPACT_CODECS:
            raise FonotecaError(
                f"fonoteca.toml [tiers] compact_codec = {self.compact_codec!r}: the compact tier is "
                f"encoded with {', '.join(COMPACT_CODECS)} only"
            )
        if not 6_000 <= self.compact_bitrate <= 510_000:
            raise FonotecaError(
                f"fonoteca.toml [tiers] compact_bitrate = {self.compact_bitrate}: libopus takes 6000-510000 bit/s"
            )
        if self.original_bitrate <= 0:
            raise FonotecaError("fonoteca.toml [tiers] original_bitrate must be positive")

    @property
    def bitrates(self) -> dict[int, int]:
        """Bit rate per stored tier (keyed by Tier, an int), for sizing files that are not stored yet."""
        return {Tier.COMPACT: self.compact_bitrate, Tier.ORIGINAL: self.original_bitrate}
