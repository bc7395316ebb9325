"""The prepared document every analyzer reads: normalized text, sentences and their tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.text import NormalizedText, Span, normalize, split_sentences
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
    return Document(
        normalized,
        [
            Sentence(span.start, span.end, normalized.text[span.start : span.end], tokens)
            for span, tokens in _tokens_by_sentence(normalized.text, split_sentences(normalized))
        ],
    )


def _tokens_by_sentence(text: str, spans: list[Span]) -> list[tuple[Span, list[Token]]]:
    """Tokenize the whole text once (one tagger call, not one per sentence) and deal tokens to sentences.
    A token that straddles a boundary (rare: MeCab joins across a cut) goes to the sentence it starts in."""
    tokens = tokenize(text)
    out, i = [], 0
    for span in spans:
        while i < len(tokens) and tokens[i].start < span.start:
            i += 1
        j = i
        while j < len(tokens) and tokens[j].start < span.end:
            j += 1
        out.append((span, tokens[i:j]))
        i = j
    return out
