"""The large vocabulary of `synth --words N`: distinct words, Zipf-like frequencies, deterministic catalogs whose
titles and names use far more words than the built-in list (what a search index meets in a real catalog)."""

from __future__ import annotations

import collections
import random

import orjson
import zstandard

from fonoteca.search.text import tokens
from fonoteca.synth.catalog import FIRST, FOREIGN, LAST, WORDS, CatalogSynth
from fonoteca.synth.words import Lexicon, generated_word
from tests.conftest import run_cli


def test_a_lexicon_has_as_many_distinct_words_as_asked_common_ones_first():
    lexicon = Lexicon(50_000, ["love", "night", "love"])
    assert len(lexicon) == len(set(lexicon.words)) == 50_000
    assert lexicon.words[:2] == ["love", "night"]
    assert Lexicon(50_000, ["love", "night"]).words == lexicon.words  # the words of a rank never change
    assert any(not w.isascii() for w in lexicon.words[:1000]), "accented and Han spellings are part of it"


def test_generated_words_grow_longer_with_rank():
    assert len(generated_word(5)) < len(generated_word(5_000_000))
    assert len({generated_word(r) for r in range(5000)}) > 4500  # syllable joins rarely collide


def test_draws_follow_rank_frequencies():
    lexicon, rng = Lexicon(100_000), random.Random(3)
    draws = collections.Counter(lexicon.draw(rng) for _ in range(200_000))
    first, tenth, thousandth = (draws[lexicon.words[r]] for r in (0, 9, 999))
    # Zipf-Mandelbrot weights 1/(r + 2.7): rank 1 about 3.4x rank 10, rank 10 about 79x rank 1000
    assert 2.5 < first / tenth < 4.5
    assert tenth > 20 * max(1, thousandth)
    assert len(draws) > 20_000, "the long tail is drawn too"


def test_default_synth_keeps_to_the_built_in_words():
    allowed = {t for w in WORDS + FIRST + LAST + FOREIGN for t in tokens(w)}
    synth = CatalogSynth(400, seed=4)
    found = {t for track in synth.track_objects() for t in tokens(track["name"])}
    assert found - allowed == {"feat", "remastered"}


def _title_terms(path) -> set[str]:
    found: set[str] = set()
    text = zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())
    for line in text.splitlines():
        obj = orjson.loads(line)
        if obj.get("type") == "track":
            found.update(tokens(obj["name"]))
    return found


def test_synth_words_gives_a_catalog_with_a_large_vocabulary(tmp_path):
    small, large, again = (tmp_path / f"{n}.jsonl.zst" for n in ("small", "large", "again"))
    common = ("--tracks", "3000", "--seed", "8", "--kinds", "artist,track")
    assert run_cli("synth", "catalog", *common, "--out", small).exit_code == 0
    result = run_cli("synth", "catalog", *common, "--words", "20000", "--out", large)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert run_cli("synth", "catalog", *common, "--words", "20000", "--out", again).exit_code == 0
    assert large.read_bytes() == again.read_bytes()  # same seed, same catalog
    built_in, vocabulary = _title_terms(small), _title_terms(large)
    assert len(built_in) < 200
    assert len(vocabulary) > 10 * len(built_in)
