"""Text normalisation shared by indexing and querying, so that both sides always agree on the tokens.

Why not the engine's own tokenizer: none of them folds accents, splits CJK, and keeps `$uicideboy$`, `AC/DC` and
`P!nk` findable all at once. Here every token is lower case, accent-free, made of letters, digits and marks only:
- accents are folded (NFKD, drop the combining diacritics U+0300-U+036F, NFC again so Hangul recomposes);
  marks of other scripts (Devanagari vowel signs, ...) stay, they are part of the word;
- Han, kana and Hangul are indexed one character per token (these scripts do not separate words by spaces);
- a word with inner punctuation also yields its parts joined (`AC/DC` -> ac, dc, acdc) and, for `$ ! @` next to
  letters, a spelled-out form (`$uicideboy$` -> suicideboys, `P!nk` -> pink, `Ke$ha` -> kesha).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable
from functools import cache
from itertools import pairwise, product

# Plain ASCII text needs none of the slow steps below; most titles are plain.
_PLAIN = re.compile(r"[a-z0-9 ]*")
_CJK = re.compile(
    "([\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af"
    "\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f])"
)
_DIACRITICS = re.compile("[\u0300-\u036f]+")
_LEET = {"$": "s", "!": "i", "@": "a"}
_LEET_SPOT = re.compile(r"\$(?=\w)|(?<=\w)\$|(?<=\w)[!@](?=\w)")
_ASCII_SEPARATORS = re.compile(r"[^a-z0-9]+")
NAME_TAG = "_n"  # prefix of a whole-name token: '_nthe_weeknd' is on every track credited to The Weeknd
NAME_WORDS = 5  # longer artist names get no whole-name token (a query's artist part is short)
NAME_SPELLINGS = 4  # whole-name tokens of one name at most ('AC/DC' -> _nacdc, _nac_dc)


@cache
def _separator_class() -> re.Pattern[str]:
    """A regex matching runs of Unicode punctuation, symbols, separators and control characters."""
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code))[0] in "PSZC":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    parts = []
    for low, high in ranges:
        if 0xD800 <= low <= 0xDFFF:
            continue  # surrogates cannot appear in a regex class
        parts.append(re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}")
    return re.compile("[" + "".join(parts) + "]+")


def fold(text: str) -> str:
    """Lower case without accents: 'Beyoncé' -> 'beyonce', 'Straße' -> 'strasse'; CJK split into characters."""
    if text.isascii():
        return text.lower()
    text = _DIACRITICS.sub("", unicodedata.normalize("NFKD", text))
    text = unicodedata.normalize("NFC", text).casefold()
    return _CJK.sub(r" \1 ", text)


def _split(word: str) -> list[str]:
    """The letter-and-digit parts of a chunk, in order."""
    separators = _ASCII_SEPARATORS if word.isascii() else _separator_class()
    return [p for p in separators.split(word) if p]


def _word_tokens(word: str, out: list[str]) -> None:
    """Tokens of one whitespace-free chunk that contains punctuation."""
    parts = _split(word)
    out.extend(parts)
    if len(parts) > 1:
        out.append("".join(parts))
    leet = _spelled_out(word)
    if leet and leet not in parts:
        out.append(leet)


def _spelled_out(word: str) -> str | None:
    """'$uicideboy$' -> 'suicideboys', 'P!nk' -> 'pink'; None when the word has no such symbol."""
    if "$" not in word and "!" not in word and "@" not in word:
        return None
    if not _LEET_SPOT.search(word):
        return None
    return "".join(_split(_LEET_SPOT.sub(lambda m: _LEET[m.group(0)], word))) or None


def tokens(text: str | None) -> list[str]:
    """Index tokens of a title or name, in order (variants right after their word)."""
    if not text:
        return []
    folded = fold(text)
    if _PLAIN.fullmatch(folded):
        return folded.split()
    out: list[str] = []
    for word in folded.split():
        if word.isalnum():
            out.append(word)
        else:
            _word_tokens(word, out)
    return out


def index_text(text: str | None) -> str:
    """Tokens joined by spaces: what goes into the engine, whose tokenizer then only splits on spaces."""
    return " ".join(tokens(text))


def title_terms(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Tokens of a title and its pairs of neighbouring words (any spelling of one word next to any of the next),
    so that words typed in title order can be found through short pair lists instead of scanning word lists."""
    folded = fold(text)
    if _PLAIN.fullmatch(folded):
        words = folded.split()
        return words, list(dict.fromkeys(pairwise(words)))
    groups = [g for g in (_word_group(w) for w in folded.split()) if g]
    pairs: list[tuple[str, str]] = []
    for group in groups:
        for alternative in group:
            pairs.extend(pairwise(alternative))
    for group, following in pairwise(groups):
        pairs.extend((a[-1], b[0]) for a in group for b in following)
    return tokens(text), list(dict.fromkeys(pairs))


def query_pairs(groups: list[list[tuple[str, ...]]]) -> list[list[tuple[str, str]]]:
    """For each two neighbouring query words, the word pairs that title_terms would have indexed for them."""
    return [
        list(dict.fromkeys((a[-1], b[0]) for a in group for b in following)) for group, following in pairwise(groups)
    ]


def query_groups(text: str, *, max_groups: int = 16) -> list[list[tuple[str, ...]]]:
    """What a typed query must match: a list of groups, all required; a group is a list of alternatives, and an
    alternative is a tuple of tokens that must all be present.

    'AC/DC live' -> [[('acdc',), ('ac', 'dc')], [('live',)]]; '$uicideboy$' -> [[('uicideboy',), ('suicideboys',)]].
    Only the first `max_groups` words count, so a 10 kB paste stays a cheap query.
    """
    return query_words(text, max_groups=max_groups)[0]


def query_words(text: str, *, max_groups: int = 16) -> tuple[list[list[tuple[str, ...]]], list[int]]:
    """query_groups(text), and the typed words in order as indexes into those groups: a word typed twice is one
    group (nothing new to require), but the ranking still counts it twice ("midnight baby midnight")."""
    groups: list[list[tuple[str, ...]]] = []
    order: list[int] = []
    seen: dict[tuple[tuple[str, ...], ...], int] = {}
    for word in fold(text).split():
        group = _word_group(word)
        if not group:
            continue  # only punctuation
        key = tuple(group)
        if key in seen:
            order.append(seen[key])
            continue
        if len(groups) >= max_groups:
            break
        seen[key] = len(groups)
        order.append(len(groups))
        groups.append(group)
    return groups, order


def name_tags(name: str | None) -> list[str]:
    """The whole-name tokens of an artist's name: each spelling the query side (query_groups) gives its words,
    joined by '_' ('Fire$' -> _nfire, _nfires). They let "title words, then the artist's whole name" find the
    tracks of an artist whose name is a common word (a rare token instead of a common one), and tell the
    ranking that one artist's whole name was typed (engine.score)."""
    if not name:
        return []
    groups = [g for g in (_word_group(w) for w in fold(name).split()) if g]
    if not groups or len(groups) > NAME_WORDS:
        return []
    return name_keys(groups, NAME_SPELLINGS) or [name_key(group[0] for group in groups)]


def name_key(spellings: Iterable[tuple[str, ...]]) -> str:
    return NAME_TAG + "_".join("_".join(tokens) for tokens in spellings)


def name_keys(groups: list[list[tuple[str, ...]]], most: int) -> list[str] | None:
    """The whole-name tokens that words (groups of alternatives, as query_groups gives) may stand for, or None
    when there would be more than `most` (or the words are too many to be a name)."""
    if not groups or len(groups) > NAME_WORDS:
        return None
    count = 1
    for group in groups:
        count *= len(group)
        if count > most:
            return None
    return list(dict.fromkeys(name_key(spellings) for spellings in product(*groups)))


def _word_group(word: str) -> list[tuple[str, ...]]:
    if word.isalnum():
        return [(word,)]
    parts = _split(word)
    if not parts:
        return []
    alternatives: list[tuple[str, ...]] = []
    if len(parts) > 1:
        alternatives.append(("".join(parts),))
        alternatives.append(tuple(dict.fromkeys(parts)))
    else:
        alternatives.append((parts[0],))
    leet = _spelled_out(word)
    if leet and (leet,) not in alternatives:
        alternatives.append((leet,))
    return alternatives
