"""fugashi + unidic-lite tokenization: one tagger per thread, reused for every call."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import fugashi

_local = threading.local()


@dataclass(frozen=True, slots=True)
class Token:
    surface: str
    lemma: str
    pos: str
    pos2: str
    reading: str
    start: int
    end: int

    @property
    def is_content(self) -> bool:
        return self.pos in ("名詞", "動詞", "形容詞", "形状詞", "副詞") and self.pos2 != "非自立可能"


def _tagger() -> fugashi.Tagger:
    tagger = getattr(_local, "tagger", None)
    if tagger is None:
        tagger = _local.tagger = fugashi.Tagger()
    return tagger


def tokenize(text: str, offset: int = 0) -> list[Token]:
    """Tokens of text with [start, end) character offsets (shifted by `offset`)."""
    tokens: list[Token] = []
    pos = offset
    for word in _tagger()(text):
        pos += len(word.white_space)
        feature = word.feature
        surface = word.surface
        tokens.append(
            Token(
                surface=surface,
                lemma=feature.lemma or surface,
                pos=feature.pos1,
                pos2=feature.pos2,
                reading=feature.kana or "",
                start=pos,
                end=pos + len(surface),
            )
        )
        pos += len(surface)
    return tokens
