"""What a typed word may mean: the word itself, completions of the last word (as people type), and the indexed
words within the typo budget, each with its cost, so that the ranking can put exact matches first.

The rules follow Meilisearch's and Typesense's defaults: a word of 5+ characters matches within 1 edit, 9+ within
2 (a swap of neighbouring letters is one edit); the last word also matches as a prefix. `[search]` in
fonoteca.toml changes them:

    [search]
    typos = true              # false: every word must match exactly (as `fonoteca search --exact`)
    prefix = true             # false: the last word is a whole word too
    one_typo_length = 5       # words this long get 1 typo ...
    two_typos_length = 9      # ... and this long 2
    prefix_length = 1         # the last word is completed from this many characters on
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from typing import Any

from fonoteca.errors import FonotecaError
from fonoteca.search import vocab

LONGEST_FUZZY = 64  # longer words are taken as typed: no indexed word is that long, and it keeps pastes cheap
# How many completions a last word gets: one or two letters could mean thousands of words, so they are bounded
# hard (the most frequent ones, from a stored list); longer prefixes mean few words anyway.
COMPLETIONS_BY_LENGTH = {1: 8, 2: 12}
COMPLETIONS = 24
VARIANTS = 8  # typo variants per word, fewest edits and most frequent first


@dataclass(frozen=True)
class Rules:
    """The matching rules of `[search]` (see the module docstring)."""

    typos: bool = True
    prefix: bool = True
    one_typo_length: int = 5
    two_typos_length: int = 9
    prefix_length: int = 1

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Rules:
        section = config.get("search", {}) or {}
        values: dict[str, Any] = {}
        for name, default in cls().__dict__.items():
            if name not in section:
                continue
            value = section[name]
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise FonotecaError(f"fonoteca.toml [search] {name}: expected true or false, not {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
                raise FonotecaError(
                    f"fonoteca.toml [search] {name}: expected a whole number from 1 to 100, not {value!r}"
                )
            values[name] = value
        rules = cls(**values)
        if rules.two_typos_length < rules.one_typo_length:
            raise FonotecaError(
                "fonoteca.toml [search] two_typos_length must be at least one_typo_length "
                f"({rules.two_typos_length} < {rules.one_typo_length})"
            )
        return rules

    def exact(self) -> Rules:
        return replace(self, typos=False, prefix=False)

    def budget(self, word: str) -> int:
        """Edits allowed for a typed word: none for short words, numbers and pastes."""
        if not self.typos or len(word) > LONGEST_FUZZY or word.isdigit():
            return 0
        if len(word) >= self.two_typos_length:
            return 2
        return 1 if len(word) >= self.one_typo_length else 0


@dataclass(frozen=True)
class Alternative:
    """Tokens that together stand for a typed word, and what it cost to get there."""

    tokens: tuple[str, ...]
    edits: int = 0
    completed: bool = False  # a completion of the last word, not the word as typed
    # (edits, completed): what the ranking sorts by first; made once, as scoring reads it per candidate
    rank: tuple[int, bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rank", (self.edits, self.completed))


Word = list[Alternative]


def exact_words(groups: list[list[tuple[str, ...]]]) -> list[Word]:
    return [[Alternative(alt) for alt in group] for group in groups]


def as_groups(words: list[Word]) -> list[list[tuple[str, ...]]]:
    return [[alt.tokens for alt in word] for word in words]


def _typed_tokens(word: Word) -> list[str]:
    """The single-token spellings of a typed word (the ones that can be completed or corrected)."""
    return [alt.tokens[0] for alt in word if len(alt.tokens) == 1 and not alt.edits and not alt.completed]


def completable(words: list[Word], rules: Rules) -> list[str]:
    """The spellings of the last word that are completed as a prefix (none when prefixes are off)."""
    if not rules.prefix or not words:
        return []
    return [t for t in _typed_tokens(words[-1]) if rules.prefix_length <= len(t) <= LONGEST_FUZZY]


def with_completions(
    conn: sqlite3.Connection, words: list[Word], rules: Rules, found: list[str] | None = None, *, only: bool = False
) -> list[Word] | None:
    """The words with the last one's completions added; None when there are none to add.

    found: completions the caller saw in tracks that match the other words (engine.Searcher._completions_in_context),
    added first; only: they are all the completions that can match, so the most frequent ones are not added."""
    if not rules.prefix or not words:
        return None
    last = words[-1]
    have = {alt.tokens for alt in last}
    added: Word = []

    def add(term: str) -> None:
        if (term,) not in have:
            have.add((term,))
            added.append(Alternative((term,), 0, True))

    for term in found or ():
        add(term)
    if not only:
        for token in completable(words, rules):
            for term in vocab.completions(conn, token, COMPLETIONS_BY_LENGTH.get(len(token), COMPLETIONS)):
                add(term)
    if not added:
        return None
    return words[:-1] + [last + added]


def with_typos(conn: sqlite3.Connection, words: list[Word], rules: Rules) -> list[Word] | None:
    """The words with their typo variants added (indexed words within the budget); None when there are none."""
    if not rules.typos:
        return None
    out: list[Word] = []
    changed = False
    for word in words:
        have = {alt.tokens for alt in word}
        added: Word = []
        for token in _typed_tokens(word):
            for variant in vocab.neighbours(conn, token, rules.budget(token), VARIANTS):
                if (variant.term,) not in have:
                    have.add((variant.term,))
                    added.append(Alternative((variant.term,), variant.edits))
        changed = changed or bool(added)
        out.append(word + added)
    return out if changed else None


def corrections(conn: sqlite3.Connection, groups: list[list[tuple[str, ...]]], rules: Rules) -> list[str] | None:
    """For "did you mean": each typed word, or the indexed word nearest to it when it is not indexed (one edit
    more than the typo budget, at most 2); None when no word could be corrected."""
    typed = [group[0][0] if len(group[0]) == 1 else " ".join(group[0]) for group in groups]
    indexed = vocab.known(conn, typed)
    out, changed = [], False
    for token in typed:
        if token in indexed or " " in token or len(token) > LONGEST_FUZZY or token.isdigit():
            out.append(token)
            continue
        budget = (
            min(2, (2 if len(token) >= rules.two_typos_length else 1 if len(token) >= rules.one_typo_length else 0) + 1)
            if len(token) >= 3
            else 0
        )
        found = vocab.neighbours(conn, token, budget, 1)
        if found:
            out.append(found[0].term)
            changed = True
        else:
            out.append(token)
    return out if changed else None
