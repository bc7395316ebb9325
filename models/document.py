"""The prepared document every analyzer reads: normalized text, sentences and their tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.text import NormalizedText, normalize, split_sentences
from models.tokenize import Token, tokenize


@dataclass(frozen=True, slots=True)
class Sentence:
    start: int  # offsets into the normalized text
    end: int
    text: str
    tokens: list[Token]


@dataclass(frozen=True, slots=True)
class Document:
    normalized: NormalizedText
    sentences: list[Sentence] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.normalized.text

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        return self.normalized.to_original(start, end)


def prepare(text: str) -> Document:
    """normalize → split sentences → tokenize: the shared preprocessing of every analyzer."""
    normalized = normalize(text)
    sentences = [
        Sentence(
            span.start,
            span.end,
            normalized.text[span.start : span.end],
            tokenize(normalized.text[span.start : span.end], offset=span.start),
        )
        for span in split_sentences(normalized.text)
    ]
    return Document(normalized, sentences)
