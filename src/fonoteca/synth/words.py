"""A large vocabulary with the frequencies of real text, for catalogs whose search index must be measured honestly.

The built-in word list of `synth catalog` has about sixty words: enough for tests, but a search index over it has
a few hundred terms whatever the catalog size, where a real catalog's titles and names hold millions (names in
every language, numbers, misspellings). Term count drives what a search engine costs: the vocabulary tables, the
typo and prefix expansion, the posting lists' lengths. `Lexicon(n)` is a vocabulary of n distinct words drawn
with Zipf-Mandelbrot frequencies (the word of rank r has weight 1 / (r + 2.7)): the common words of the built-in
list first, then generated words that grow longer with their rank and lie apart from each other, a tenth of them
with an accent, one in fifty in a script without spaces. Deterministic: the words of a rank never depend on the
seed, the draws do.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence

ZIPF_OFFSET = 2.7  # Mandelbrot's offset: the most common word is a few percent of the text, not a third of it
_ONSETS = ("", "b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr", "ch")
_VOWELS = ("a", "e", "i", "o", "u", "y")
_CODAS = ("", "n", "r", "s", "l", "x")
_SYLLABLES = [o + v + c for o in _ONSETS for v in _VOWELS for c in _CODAS]  # 720, all distinct
_ACCENTED = {"a": "á", "e": "é", "i": "ï", "o": "ö", "u": "ú", "y": "ÿ"}
_HAN_START, _HAN_SIZE = 0x4E00, 0x9FFF - 0x4E00 + 1


_MIX = 0x9E3779B97F4A7C15  # odd 64-bit constant: rank * _MIX scatters neighbouring ranks over the syllable space


def _syllable_count(rank: int) -> int:
    """Frequent words are short: one syllable for the first ranks, then two, then mostly three or four."""
    if rank < 300:
        return 1
    if rank < 30_000:
        return 2
    return 3 + (rank % 5 == 0)


def generated_word(rank: int) -> str:
    """The generated word of a rank: syllables picked by a multiplicative hash of the rank, so that words are
    spread over the space of syllable strings as real words are (few others one letter away), not packed into
    every combination as counting in syllables would."""
    if rank % 50 == 7:  # a word of a script written without spaces: one or two Han characters
        first, second = divmod(rank // 50, _HAN_SIZE)
        return chr(_HAN_START + second) + (chr(_HAN_START + first % _HAN_SIZE) if first else "")
    n = (rank * _MIX + 1) % (1 << 64)
    syllables = []
    for _ in range(_syllable_count(rank)):
        n, digit = divmod(n, len(_SYLLABLES))
        syllables.append(_SYLLABLES[digit])
    word = "".join(syllables)
    if rank % 10 == 3:  # an accented spelling (folded to the plain one by the index: both spellings occur)
        for i, ch in enumerate(word):
            if ch in _ACCENTED:
                return word[:i] + _ACCENTED[ch] + word[i + 1 :]
    return word


class Lexicon:
    """`size` distinct words, the given common ones first; `draw(rng)` picks one with Zipf-Mandelbrot frequency."""

    def __init__(self, size: int, common: Sequence[str] = ()) -> None:
        if size < 1:
            raise ValueError("a lexicon needs at least one word")
        words = list(dict.fromkeys(common))[:size]
        seen = set(words)
        for rank in itertools.count():
            if len(words) >= size:
                break
            word = generated_word(rank)
            if word not in seen:
                seen.add(word)
                words.append(word)
        self.words = words
        self._cumulative = list(itertools.accumulate(1.0 / (r + ZIPF_OFFSET) for r in range(1, size + 1)))

    def __len__(self) -> int:
        return len(self.words)

    def draw(self, rng: random.Random) -> str:
        at = bisect.bisect_right(self._cumulative, rng.random() * self._cumulative[-1])
        return self.words[min(at, len(self.words) - 1)]
