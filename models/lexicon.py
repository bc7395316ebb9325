"""Loading of the hand-written lexicons in models/lexicons (TSV and YAML), with a content hash for versions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar

import ahocorasick

LEXICON_DIR = Path(__file__).parent / "lexicons"
V = TypeVar("V")


class PhraseIndex(Generic[V]):
    """Leftmost-longest, non-overlapping matching of many phrases in one pass (Aho-Corasick):
    a regex alternation of a thousand phrases was the pipeline's slowest step."""

    def __init__(self, values: dict[str, V]) -> None:
        self._automaton: Any = None
        if values:
            self._automaton = ahocorasick.Automaton()
            for phrase, value in values.items():
                self._automaton.add_word(phrase, (len(phrase), value))
            self._automaton.make_automaton()

    def find(self, text: str) -> list[tuple[int, int, V]]:
        """(start, end, value) of each match."""
        if self._automaton is None:
            return []
        return [(end + 1 - length, end + 1, value) for end, (length, value) in self._automaton.iter_long(text)]


def read_tsv(path: Path) -> dict[str, float]:
    """`key<TAB>number` lines; `#` comments and blank lines skipped; a malformed line is an error."""
    table: dict[str, float] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise ValueError(f"{path.name}:{number}: expected 'key<TAB>number', got {line!r}")
        key = parts[0].strip()
        if key in table:
            raise ValueError(f"{path.name}:{number}: {key!r} is listed twice")
        table[key] = float(parts[1])
    return table


def content_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class SentimentLexicon:
    lemmas: dict[str, float]
    surfaces: PhraseIndex[float]  # phrases, emoji and kaomoji
    intensifiers: dict[str, float]
    digest: str


@lru_cache(maxsize=4)
def load_sentiment_lexicon(directory: Path = LEXICON_DIR) -> SentimentLexicon:
    files = [directory / n for n in ("sentiment_lemmas.tsv", "sentiment_phrases.tsv", "emoji.tsv", "intensifiers.tsv")]
    surfaces = {**read_tsv(files[1]), **read_tsv(files[2])}
    return SentimentLexicon(read_tsv(files[0]), PhraseIndex(surfaces), read_tsv(files[3]), content_hash(*files))
