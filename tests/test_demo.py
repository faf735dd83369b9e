"""The main job, at a small size and without serving: every stage reports its figures."""

from __future__ import annotations

import orjson

from tests.conftest import run_subprocess


def test_demo_builds_an_archive_end_to_end(tmp_path):
    result = run_subprocess("demo", "--dir", str(tmp_path / "demo"), "--tracks", "1500", "--no-serve", "--json")
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    catalog = report["stages"]["catalog"]
    assert catalog["tracks"] == 1500 and catalog["rejected"] == 0
    assert 0 < catalog["distinct ISRCs"] < 1500  # compilations share recordings
    stats = orjson.loads(run_subprocess("stats", "--json", archive=tmp_path / "demo" / "archive").stdout)
    assert stats["tracks"] == 1500 and stats["audio_features"] == 1500
