"""Loading of the hand-written lexicons in models/lexicons (TSV and YAML), with a content hash for versions."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

LEXICON_DIR = Path(__file__).parent / "lexicons"


@dataclass(frozen=True, slots=True)
class SurfaceMatcher:
    """Longest-first substring matching of many phrases in one regex pass."""

    pattern: re.Pattern[str] | None
    values: dict[str, float]

    @classmethod
    def build(cls, values: dict[str, float]) -> SurfaceMatcher:
        if not values:
            return cls(None, {})
        alternation = "|".join(re.escape(p) for p in sorted(values, key=len, reverse=True))
        return cls(re.compile(alternation), values)

    def find(self, text: str) -> list[tuple[int, int, float]]:
        if self.pattern is None:
            return []
        return [(m.start(), m.end(), self.values[m.group()]) for m in self.pattern.finditer(text)]


def read_tsv(path: Path) -> dict[str, float]:
    """`key<TAB>number` lines; `#` comments and blank lines skipped; a malformed line is an error."""
    table: dict[str, float] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise ValueError(f"{path.name}:{number}: expected 'key<TAB>number', got {line!r}")
        table[parts[0].strip()] = float(parts[1])
    return table


def content_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class SentimentLexicon:
    lemmas: dict[str, float]
    surfaces: SurfaceMatcher  # phrases, emoji and kaomoji
    intensifiers: dict[str, float]
    digest: str


@lru_cache(maxsize=4)
def load_sentiment_lexicon(directory: Path = LEXICON_DIR) -> SentimentLexicon:
    files = [directory / n for n in ("sentiment_lemmas.tsv", "sentiment_phrases.tsv", "emoji.tsv", "intensifiers.tsv")]
    surfaces = {**read_tsv(files[1]), **read_tsv(files[2])}
    return SentimentLexicon(
        read_tsv(files[0]), SurfaceMatcher.build(surfaces), read_tsv(files[3]), content_hash(*files)
    )
