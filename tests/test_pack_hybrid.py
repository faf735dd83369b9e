"""The hybrid torrent writer against libtorrent's own creation, the bencoder, the path sanitiser against hostile
names, band settings and the seeding generator."""

from __future__ import annotations

import random
import unicodedata
import warnings
from pathlib import Path

import libtorrent as lt
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from fonoteca.errors import FonotecaError, UsageError
from fonoteca.pack import bencode, hybrid, paths
from fonoteca.pack.listing import pick, score
from fonoteca.pack.settings import PackSettings, parse_bands

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SIZES = [0, 1, 5000, 16383, 16384, 16385, 32767, 32768, 32769, 100_000, 3 * 65536 + 7, 1 << 20, 3 * (1 << 20) + 123]


def _files(root: Path, sizes: list[int], seed: int = 5) -> list[hybrid.Entry]:
    rng = random.Random(seed)
    entries = []
    for i, size in enumerate(sizes):
        folder = f"{i % 3:02x}"
        (root / "tor" / folder).mkdir(parents=True, exist_ok=True)
        path = root / "tor" / folder / f"f{i:02d}.bin"
        path.write_bytes(rng.randbytes(size))
        entries.append(hybrid.Entry((folder, path.name), str(path), size))
    return entries


def libtorrent_reference(root: Path, name: str, entries: list[hybrid.Entry], piece: int) -> dict:
    """What libtorrent's own create_torrent + set_piece_hashes make of the same files (hybrid by default)."""
    fs = lt.file_storage()
    for e in hybrid.order(entries):
        fs.add_file("/".join((name, *e.path)), e.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ct = lt.create_torrent(fs, piece)
    lt.set_piece_hashes(ct, str(root))
    return ct.generate()


@pytest.mark.parametrize("piece", [16384, 32768, 262144])
def test_same_info_hashes_as_libtorrent(tmp_path, piece):
    entries = _files(tmp_path, SIZES)
    mine = hybrid.build("tor", entries, piece, workers=2)
    ref = libtorrent_reference(tmp_path, "tor", entries, piece)
    ours = bencode.decode(mine.metainfo)
    assert bencode.encode(ours[b"info"]) == lt.bencode(ref[b"info"])  # byte for byte
    assert ours[b"piece layers"] == ref[b"piece layers"]
    ti = lt.torrent_info(mine.metainfo)
    assert str(ti.info_hashes().v1) == mine.info_hash_v1
    assert ti.info_hashes().v2.to_bytes().hex() == mine.info_hash_v2
    assert ti.info_hashes().v1 == lt.torrent_info(ref).info_hashes().v1
    # file indexes and offsets as libtorrent counts them (pad files included)
    fs = ti.layout()
    for placed in mine.files:
        assert fs.file_path(placed.index) == "tor/" + placed.path
        assert fs.file_offset(placed.index) == placed.offset and fs.file_size(placed.index) == placed.size
    assert mine.data_size == sum(SIZES)


def test_workers_and_segments_give_the_same_torrent(tmp_path, monkeypatch):
    entries = _files(tmp_path, [5 * (1 << 20) + 17, 300_000, 2 << 20, 1])
    one = hybrid.build("tor", entries, 65536, workers=1)
    three = hybrid.build("tor", entries, 65536, workers=3)  # processes
    with hybrid.Hasher(2, mode="thread") as threads:
        two = hybrid.build("tor", entries, 65536, hasher=threads)
    monkeypatch.setattr(hybrid, "SPLIT_AT", 1 << 20)  # in this process and threads only
    monkeypatch.setattr(hybrid, "SEGMENT", 1 << 20)
    monkeypatch.setattr(hybrid, "READ_CHUNK", 256 * 1024)
    monkeypatch.setattr(hybrid, "BATCH_FILES", 1)
    with hybrid.Hasher(3, mode="thread") as threads:
        split = hybrid.build("tor", entries, 65536, hasher=threads)
    single = hybrid.build("tor", entries, 65536, workers=1)
    assert one.metainfo == three.metainfo == two.metainfo == split.metainfo == single.metainfo
    assert (
        lt.torrent_info(split.metainfo).info_hashes().v1
        == lt.torrent_info(libtorrent_reference(tmp_path, "tor", entries, 65536)).info_hashes().v1
    )


def test_trackers_and_web_seeds_stay_outside_the_info_hash(tmp_path):
    entries = _files(tmp_path, [70_000, 20_000])
    plain = hybrid.build("tor", entries, 16384)
    seeded = hybrid.build(
        "tor",
        entries,
        16384,
        trackers=["udp://127.0.0.1:1/a", "http://127.0.0.1:2/b"],
        web_seeds=["http://127.0.0.1:3/data/"],
    )
    assert plain.info_hash_v1 == seeded.info_hash_v1 and plain.info_hash_v2 == seeded.info_hash_v2
    ti = lt.torrent_info(seeded.metainfo)
    assert [t.url for t in ti.trackers()] == ["udp://127.0.0.1:1/a", "http://127.0.0.1:2/b"]
    assert [w["url"] for w in ti.web_seeds()] == ["http://127.0.0.1:3/data/"]
    assert b"creation date" not in bencode.decode(seeded.metainfo)


def test_hash_checks_size_type_and_sha256(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 100)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    with pytest.raises(hybrid.HashError, match="expected"):
        hybrid.build("t", [hybrid.Entry(("d", "a"), str(tmp_path / "a"), 99)], 16384)
    with pytest.raises(hybrid.HashError):
        hybrid.build("t", [hybrid.Entry(("d", "a"), str(tmp_path / "link"), 100)], 16384)
    with pytest.raises(hybrid.HashError, match="does not match"):
        hybrid.build("t", [hybrid.Entry(("d", "a"), str(tmp_path / "a"), 100, sha256="00" * 32)], 16384)
    import hashlib

    good = hashlib.sha256(b"x" * 100).hexdigest()
    assert hybrid.build("t", [hybrid.Entry(("d", "a"), str(tmp_path / "a"), 100, sha256=good)], 16384).files


def test_layouts_libtorrent_cannot_load_are_refused(tmp_path):
    (tmp_path / "f").write_bytes(b"1")
    e = lambda *p: hybrid.Entry(p, str(tmp_path / "f"), 1)  # noqa: E731
    with pytest.raises(ValueError, match="both a file and a folder"):
        hybrid.order([e("a"), e("a", "b")])
    with pytest.raises(ValueError, match="order"):
        hybrid.order([e("a.txt"), e("a", "b")])
    with pytest.raises(ValueError, match="duplicate"):
        hybrid.order([e("a", "b"), e("a", "b")])
    with pytest.raises(ValueError):
        hybrid.order([e("a", "..")])


def test_piece_length_rule():
    assert hybrid.piece_length_for(10**6, [10**5] * 10) == 16384
    assert hybrid.piece_length_for(200 * 10**9, [8 * 10**6] * 25_000) == 1 << 20  # a quarter of the mean file
    assert hybrid.piece_length_for(200 * 10**9, [2 * 10**9] * 100) == 8 << 20  # ~24k pieces
    assert hybrid.piece_length_for(10**13, [10**11] * 100) == 16 << 20  # capped
    assert hybrid.piece_length_for(10**13, [10**11] * 100, max_piece=4 << 20) == 4 << 20


def test_metainfo_estimate_is_an_upper_bound_and_pieces_grow_to_fit(tmp_path):
    entries = _files(tmp_path, SIZES)
    for piece in (16384, 65536):
        t = hybrid.build("tor", entries, piece)
        estimate = hybrid.metainfo_estimate([("/".join(e.path), e.size) for e in entries], piece)
        assert len(t.metainfo) <= estimate <= len(t.metainfo) + 4096
    files = [(f"{i % 256:02x}/{'x' * 22}{i}.flac", 8_000_000) for i in range(20_000)]
    piece = hybrid.fit_piece_length(files, 1 << 20, 8_000_000)
    assert piece == 4 << 20 and hybrid.metainfo_estimate(files, piece) <= 8_000_000
    assert hybrid.metainfo_estimate(files, piece // 2) > 8_000_000


def test_bencode_round_trip_and_strictness():
    value = {"b": [1, -2, b"\x00\xff", "é"], "a": {"x": 0}}
    data = bencode.encode(value)
    assert data == b"d1:ad1:xi0ee1:bli1ei-2e2:\x00\xff2:\xc3\xa9ee"
    assert bencode.decode(data) == {b"a": {b"x": 0}, b"b": [1, -2, b"\x00\xff", "é".encode()]}
    for bad in (b"i-0e", b"i01e", b"d1:bi1e1:ai2ee", b"4:abc", b"i1ei2e", b"x"):
        with pytest.raises(ValueError):
            bencode.decode(bad)


# ------------------------------------------------------------------------------------------------ sanitiser

HOSTILE = [
    "..",
    ".",
    "",
    "/",
    "/etc/passwd",
    "../../etc/passwd",
    "a/../../b",
    "..\\..\\win.ini",
    "C:\\x",
    "a\x00b",
    "\x1b[31mred",
    "line\nbreak",
    "tab\there",
    "CON",
    "con.txt",
    "Nul",
    "COM1",
    "lpt9.flac",
    "COM¹",
    "aux.",
    "name.",
    "name ",
    " lead",
    ".hidden",
    "a" * 1000,
    "é" * 300,
    "e\u0301",
    "\u202eevil\u202c.flac",
    "zero\u200bwidth",
    '<>:"|?*',
    "\ud800surrogate",
    "emoji🎵" * 40,
    "\u2028sep",
    "~",
    "-rf",
    "a:b",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_component_makes_hostile_names_safe(text):
    out = paths.component(text)
    _assert_safe(out)
    assert paths.component(text) == out  # deterministic
    assert paths.is_safe_relative(f"3f/{out}.flac")


def _assert_safe(out: str) -> None:
    assert out and out not in (".", "..")
    assert "/" not in out and "\\" not in out and "\x00" not in out
    assert not any(unicodedata.category(ch)[0] == "C" for ch in out)
    assert not any(ch in '<>:"|?*' for ch in out)
    assert not out.startswith((".", " ")) and not out.endswith((".", " "))
    assert out.split(".", 1)[0].lower() not in paths._RESERVED
    assert unicodedata.normalize("NFC", out) == out
    assert len(out.encode("utf-8")) <= 100


def test_component_keeps_clean_ids_and_separates_different_inputs():
    for clean in ("4uLU6hMCjMI75M1A2tKUQC", "b10bbbfc-cf9e-42e0-be17-e2c3e1d2600d", "some_id-1.2"):
        assert paths.component(clean) == clean
    outs = {paths.component(t) for t in HOSTILE}
    assert len(outs) == len(set(HOSTILE))
    assert paths.extension("../../FLAC") == "flac" and paths.extension("") == "bin" and paths.extension("m4a") == "m4a"


@hsettings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=300))
def test_component_is_always_safe(text):
    _assert_safe(paths.component(text))


def test_release_names_are_checked():
    assert paths.check_name("release-2025.1") == "release-2025.1"
    for bad in ("", "../x", ".hidden", "a/b", "CON", "x" * 201, "é", "a..b"):
        with pytest.raises(UsageError):
            paths.check_name(bad)


# ------------------------------------------------------------------------------------------------ settings


def test_bands_parse_and_must_cover_0_to_100_once():
    bands = parse_bands(["50-100", "40-49", "30-39", "20-29", "10-19", "1-9", "0"])
    assert [b.name for b in bands] == [
        "pop_50-100",
        "pop_40-49",
        "pop_30-39",
        "pop_20-29",
        "pop_10-19",
        "pop_1-9",
        "pop_0",
    ]
    assert [b.name for b in PackSettings().bands] == [b.name for b in bands]
    assert PackSettings().band_of(None).name == "pop_0" and PackSettings().band_of(77).name == "pop_50-100"
    for bad in (["0-50"], ["0-60", "50-100"], ["x"], ["0-100", "5"], []):
        with pytest.raises(ValueError):
            parse_bands(bad)


def test_settings_from_config():
    s = PackSettings.from_config(
        {
            "pack": {
                "bands": ["0-100"],
                "target_size": "1.5GiB",
                "max_files": 10,
                "piece_size": "1MiB",
                "trackers": ["udp://t.example:80/announce"],
                "web_seeds": ["https://w.example/releases/{release}/data/"],
            }
        }
    )
    assert s.target_size == int(1.5 * 1024**3) and s.piece_size == 1 << 20 and s.max_files == 10
    for bad in (
        {"target_size": "lots"},
        {"piece_size": "1000000"},
        {"trackers": ["file:///etc/passwd"]},
        {"web_seeds": ["udp://x/"]},
        {"max_files": 0},
        {"bands": ["0-99"]},
    ):
        with pytest.raises(FonotecaError):
            PackSettings.from_config({"pack": bad})


# ------------------------------------------------------------------------------------------------ pick


def _rec(name, size, seeders, pop=(0, 0), **flags):
    return {
        "name": name,
        "data_size": size,
        "seeders": seeders,
        "leechers": flags.get("leechers", 0),
        "pop_min": pop[0],
        "pop_max": pop[1],
        "band": flags.get("band", "pop_0"),
        "is_metadata": flags.get("meta", False),
        "obsolete": flags.get("obsolete", False),
        "embargo": flags.get("embargo", False),
        "listens_covered": flags.get("listens", 0.0),
        "stats_scraped_at": flags.get("scraped", "2025-06-01T00:00:00Z"),
        "added_to_torrents_list_at": flags.get("added", "2025-01-01T00:00:00Z"),
    }


def test_score_is_the_reference_formula_over_the_popularity_weight():
    plain = _rec("x", 100, 3, leechers=5)
    assert score(plain, 200.0, 0.0, 0.5) == pytest.approx((3 + 0.1 * 5) * (200 / 100) + 0.5)
    popular = _rec("y", 100, 3, (100, 100), leechers=5)
    assert score(popular, 200.0, 1.0, 0.5) == pytest.approx(((3 + 0.5) * 2 + 0.5) / 2.0)
    unknown = _rec("z", 100, 0, scraped=None)  # never counted: seeders unknown, scored as none
    assert score(unknown, 100.0, 0.0, 1.0) == pytest.approx(1.0)


def test_pick_filters_then_takes_the_neediest_within_the_budget():
    items = [
        _rec("meta-old", 10, 50, meta=True, added="2024-01-01T00:00:00Z"),
        _rec("meta-new", 10, 50, meta=True, added="2025-01-01T00:00:00Z"),
        _rec("well-seeded", 100, 40),
        _rec("few", 100, 1),
        _rec("dead", 100, 0),  # counted with no seeders at all: the reference drops it
        _rec("uncounted", 100, 0, scraped=None),  # nobody counted: kept
        _rec("gone", 100, 1, obsolete=True),
        _rec("held", 100, 1, embargo=True),
        _rec("other-band", 100, 1, band="pop_50-100"),
        _rec("big", 1000, 1),
    ]
    names = [p.record["name"] for p in pick(items, 10**9, seed=7)]
    assert names[0] == "meta-new" and "meta-old" not in names
    assert not {"gone", "held", "dead"} & set(names) and "uncounted" in names
    assert names.index("few") < names.index("well-seeded")  # 1 seeder beats 40 whatever the jitter (at most 2)
    assert [p.record["name"] for p in pick(items, 10**9, seed=7)] == names  # the same seed, the same list
    # bands are applied before the budget: a band-limited pick fills the budget from that band alone
    banded = [p.record["name"] for p in pick(items, 120, bands=["pop_50-100"], seed=1)]
    assert banded == ["meta-new", "other-band"]
    # budget: what does not fit is passed over, smaller ones still fill the disk
    picks = pick(items, 350, seed=3)
    assert all(p.cumulative <= 350 for p in picks) and "big" not in [p.record["name"] for p in picks]
    assert len(picks) == 4 and picks[-1].cumulative == 310
    assert pick(items, 0) == []
    with pytest.raises(UsageError):
        pick(items, -1)
