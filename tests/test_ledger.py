"""The withdrawals ledger: lines appended by `withdraw` / `reinstate`, each with the sha256 of the line before it;
`ledger verify` names the first line that was edited, removed, inserted or cut; bad input changes nothing."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from fonoteca import archive as archive_mod
from fonoteca import ledger
from tests.conftest import run_cli

TABLE = "track_id,title,artist\nas-001,One,Ann\nas-002,Two,Ann\nas-003,Three,Bob\n"
MAPPING = 'kind = "track"\nnamespace = "table"\n[columns]\nid = "track_id"\nname = "title"\nartist_names = "artist"\n'


@pytest.fixture
def small(tmp_path: Path) -> Path:
    root = archive_mod.init(tmp_path / "archive", name="Ledger test").root
    (tmp_path / "t.csv").write_text(TABLE, encoding="utf-8")
    (tmp_path / "t.toml").write_text(MAPPING, encoding="utf-8")
    r = run_cli("import", "table", str(tmp_path / "t.csv"), "--map", str(tmp_path / "t.toml"), archive=root)
    assert r.exit_code == 0, r.stderr
    return root


def _lines(root: Path) -> list[bytes]:
    return (root / "withdrawals.jsonl").read_bytes().splitlines()


def test_entries_chain_the_sha256_of_the_line_before(small: Path) -> None:
    r = run_cli(
        "withdraw",
        "table:track:as-001",
        "table:as-002",
        "--reason",
        "takedown notice 7",
        "--category",
        "rights-holder",
        archive=small,
    )
    assert r.exit_code == 0, r.stderr
    assert r.stdout.split() == ["table:track:as-001", "table:track:as-002"]  # what was withdrawn, for scripts
    r = run_cli("reinstate", "table:track:as-002", "--reason", "notice withdrawn", "--json", archive=small)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["seq"] == 2
    lines = _lines(small)
    first, second = (json.loads(x) for x in lines)
    assert first["prev"] == "0" * 64 and first["action"] == "withdraw" and first["category"] == "rights-holder"
    assert second["prev"] == hashlib.sha256(lines[0]).hexdigest() and second["action"] == "reinstate"
    r = run_cli("ledger", "verify", "--json", archive=small)
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"] and json.loads(r.stdout)["entries"] == 2
    current = json.loads(run_cli("ledger", "list", "--json", archive=small).stdout)
    assert [w["track"] for w in current] == ["table:track:as-001"] and current[0]["reason"] == "takedown notice 7"


@pytest.mark.parametrize("damage", ["edit", "remove", "insert", "cut"])
def test_verify_catches_a_changed_history(small: Path, damage: str) -> None:
    for i in (1, 2, 3):
        assert run_cli("withdraw", f"table:as-00{i}", "--reason", f"reason {i}", archive=small).exit_code == 0
    lines = _lines(small)
    if damage == "edit":  # a reason rewritten after the fact, the line otherwise valid
        lines[0] = lines[0].replace(b"reason 1", b"reason X")
        expected_line = 2
    elif damage == "remove":
        del lines[1]
        expected_line = 2
    elif damage == "insert":
        forged = json.loads(lines[1])
        lines.insert(1, json.dumps(dict(forged, tracks=["table:track:as-003"])).encode())
        expected_line = 3  # a forged line that chains to line 1 passes, but the true line 2 after it breaks
    else:
        (small / "withdrawals.jsonl").write_bytes(b"\n".join(lines)[:-5])
        expected_line = 3
    if damage != "cut":
        (small / "withdrawals.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    r = run_cli("ledger", "verify", "--json", archive=small)
    assert r.exit_code == 1
    report = json.loads(r.stdout)
    assert not report["ok"] and report["problems"][0]["line"] == expected_line, report
    # nothing is appended to a broken ledger
    r = run_cli("withdraw", "table:as-003", "--reason", "again", archive=small)
    assert r.exit_code == 1 and "does not verify" in r.stderr


def test_a_broken_chain_never_brings_a_track_back(small: Path) -> None:
    for i in (1, 2):
        assert run_cli("withdraw", f"table:as-00{i}", "--reason", "r", archive=small).exit_code == 0
    lines = _lines(small)
    lines[0] = lines[0].replace(b'"reason":"r"', b'"reason":"edited"')
    (small / "withdrawals.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    assert set(ledger.withdrawn(small)) == {"table:track:as-001", "table:track:as-002"}


def test_bad_input_writes_nothing(small: Path) -> None:
    r = run_cli("withdraw", "table:as-404", "table:as-001", "--reason", "x", archive=small)
    assert r.exit_code == 1 and "as-404" in r.stderr and not (small / "withdrawals.jsonl").exists()
    r = run_cli("withdraw", "table:as-001", "--reason", "x", "--category", "because", archive=small)
    assert r.exit_code == 2 and "--category" in r.stderr and not (small / "withdrawals.jsonl").exists()
    r = run_cli("withdraw", "table:as-001", "--reason", "x", "--until", "next week", archive=small)
    assert r.exit_code == 2 and "--until" in r.stderr
    r = run_cli("reinstate", "table:as-001", archive=small)
    assert r.exit_code == 1 and "not withdrawn" in r.stderr and not (small / "withdrawals.jsonl").exists()


def test_a_withdrawal_until_a_date_lapses_by_itself(small: Path) -> None:
    past = (date.today() - timedelta(days=1)).isoformat()
    future = (date.today() + timedelta(days=30)).isoformat()
    assert run_cli("withdraw", "table:as-001", "--reason", "embargo", "--until", past, archive=small).exit_code == 0
    assert run_cli("withdraw", "table:as-002", "--reason", "embargo", "--until", future, archive=small).exit_code == 0
    assert set(ledger.withdrawn(small)) == {"table:track:as-002"}
    listed = json.loads(run_cli("ledger", "list", "--all", "--json", archive=small).stdout)
    assert [e["until"] for e in listed] == [past, future]  # the history keeps both


def test_verify_a_ledger_file_outside_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "withdrawals.jsonl"
    path.write_text(
        '{"seq": 1, "action": "withdraw", "tracks": ["x:track:1"], "reason": "", "category": null, '
        '"until": null, "at": "2026-01-01T00:00:00Z", "prev": "' + "0" * 64 + '"}\nnot json\n'
    )
    r = run_cli("ledger", "verify", str(path), "--json")
    assert (
        r.exit_code == 1
        and json.loads(r.stdout)["problems"][0] == {"line": 2, "reason": json.loads(r.stdout)["problems"][0]["reason"]}
        and "not JSON" in r.stdout
    )
