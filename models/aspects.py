"""Aspect–opinion tagging: which thing the customer judges (接客), the words that judge it (丁寧), and the polarity.

A small tagger reads the encoder's token states (the same forward pass as the other heads) and tags each token
with BIO tags: aspect terms carry their polarity (B-POS, I-NEG …), opinion terms are B-OP / I-OP. Spans are
mapped back onto the text through the tokenizer's character offsets, and each aspect is paired with the nearest
opinion of its sentence.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

TAGS = ["O", "B-POS", "I-POS", "B-NEG", "I-NEG", "B-OP", "I-OP"]
POLARITY_OF = {"POS": "positive", "NEG": "negative"}
KIND_OF_POLARITY = {v: k for k, v in POLARITY_OF.items()}
IGNORE = -100


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str  # POS, NEG (aspects) or OP (opinions)


@dataclass(frozen=True)
class AspectOpinion:
    """An aspect term, the opinion about it (None when its sentence has none), the polarity; offsets in the text."""

    aspect: str
    aspect_start: int
    aspect_end: int
    opinion: str | None
    opinion_start: int | None
    opinion_end: int | None
    polarity: str
    score: float  # the tagger's mean probability of the aspect's tags


class AspectTagger(nn.Module):
    """A bidirectional GRU over the encoder's token states, then a tag per token. The encoder was tuned for pooled
    vectors: over its frozen final states a per-token linear probe reached dev aspect F1 0.004 after 6 epochs, one
    transformer layer 0.21 after 30, this GRU 0.38, and 0.46 reading layers 6 and 12 side by side (pipelines.aspects,
    docs/evaluation.md)."""

    def __init__(self, hidden: int, width: int = 192) -> None:
        super().__init__()
        self.dropout = nn.Dropout(0.2)
        self.context = nn.GRU(hidden, width, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * width, len(TAGS))

    def forward(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Tag logits [windows, length, tags] for token states [windows, length, hidden]. Each window is read to
        its own last token only (packed): padding never reaches the backward direction, so a window's tags do not
        depend on the longest window of its batch."""
        lengths = attention_mask.sum(dim=1).cpu()
        packed = pack_padded_sequence(self.dropout(states), lengths, batch_first=True, enforce_sorted=False)
        context, _ = pad_packed_sequence(self.context(packed)[0], batch_first=True, total_length=states.shape[1])
        return self.out(self.dropout(context))


@dataclass(frozen=True)
class TokenTags:
    """A document's most likely tag per token, and that tag's probability."""

    tags: list[int]
    scores: list[float]


def document_tags(
    probs: torch.Tensor, document_of_token: torch.Tensor, token_of_position: torch.Tensor, tokens: Sequence[int]
) -> list[TokenTags]:
    """Per document, each of its tokens' most likely tag, gathered from the windows' positions ([windows * length,
    tags] probabilities); a token no window holds (none, today) is O with probability 1. One argmax over the whole
    batch, then plain lists: a few tensor operations per document cost more than the tagger's arithmetic."""
    keep = token_of_position >= 0
    best = probs[keep].max(dim=-1)
    found = [TokenTags([0] * n, [1.0] * n) for n in tokens]
    owners, numbers = document_of_token[keep].tolist(), token_of_position[keep].tolist()
    for d, t, tag, score in zip(owners, numbers, best.indices.tolist(), best.values.tolist(), strict=True):
        found[d].tags[t] = tag
        found[d].scores[t] = score
    return found


def term_key(aspect: str) -> str:
    """An aspect as analytics count it: ＵＳＢケーブル, USBｹｰﾌﾞﾙ and usbケーブル are one aspect."""
    return unicodedata.normalize("NFKC", aspect).casefold().strip()


def gold_spans(text: str, triples: Sequence[Sequence[str]]) -> list[tuple[Span, Span]]:
    """Character spans of labelled (aspect, opinion, polarity) triples: a term that occurs more than once is the
    occurrence nearest its partner. Triples of a polarity the tags cannot carry (neutral) are left out."""
    pairs = []
    for aspect, opinion, polarity in triples:
        if polarity not in KIND_OF_POLARITY:
            continue
        aspect_at, opinion_at = _occurrences(text, aspect), _occurrences(text, opinion)
        if not aspect_at or not opinion_at:
            continue
        a, o = min(((a, o) for a in aspect_at for o in opinion_at), key=lambda p: abs(p[0] - p[1]))
        pairs.append((Span(a, a + len(aspect), KIND_OF_POLARITY[polarity]), Span(o, o + len(opinion), "OP")))
    return pairs


def _occurrences(text: str, term: str) -> list[int]:
    found, at = [], text.find(term)
    while term and at >= 0:
        found.append(at)
        at = text.find(term, at + 1)
    return found


def token_tags(offsets: Sequence[tuple[int, int]], spans: Sequence[Span]) -> list[int]:
    """A tag number per token: B on the first token that overlaps a span, I on the others. Aspects are tagged
    first; an opinion keeps only tokens no aspect took."""
    tags = [0] * len(offsets)
    for span in sorted(spans, key=lambda s: s.kind == "OP"):
        inside = [t for t, (s, e) in enumerate(offsets) if s < span.end and e > span.start and tags[t] == 0]
        for k, t in enumerate(inside):
            tags[t] = TAGS.index(f"{'B' if k == 0 else 'I'}-{span.kind}")
    return tags


def decode(text: str, offsets: Sequence[tuple[int, int]], tags: Sequence[int]) -> list[Span]:
    """Spans from token tags; an I- tag without its B- opens a span, as a B- would. Leading spaces and the
    tokenizer's bare word markers are not part of a span."""
    return [span for span, _ in _runs(text, offsets, tags)]


def above(spans: dict[Span, float], threshold: float) -> dict[Span, float]:
    """The spans whose aspect terms scored at least `threshold` (opinion terms all stay)."""
    return {s: score for s, score in spans.items() if s.kind == "OP" or score >= threshold}


def spans_with_scores(text: str, offsets: Sequence[tuple[int, int]], tagged: TokenTags) -> dict[Span, float]:
    """The most likely tags' spans, each with the mean probability of its tokens' tags."""
    return {span: fmean(tagged.scores[t] for t in tokens) for span, tokens in _runs(text, offsets, tagged.tags)}


def _runs(text: str, offsets: Sequence[tuple[int, int]], tags: Sequence[int]) -> list[tuple[Span, list[int]]]:
    runs: list[tuple[Span, list[int]]] = []
    open_kind: str | None = None
    start, end, members = 0, 0, list[int]()
    for t, ((s, e), tag) in enumerate(zip(offsets, tags, strict=True)):
        if t + 1 < len(offsets) and e > offsets[t + 1][0]:
            continue  # a bare word marker (▁), mapped onto the first character of the token after it
        label = TAGS[tag]
        kind = label[2:] if label != "O" else None
        if open_kind is not None and (kind != open_kind or label.startswith("B-")):
            runs.append((Span(start, end, open_kind), members))
            open_kind = None
        if kind is not None:
            if open_kind is None:
                open_kind, start, members = kind, s, []
            end = e
            members.append(t)
    if open_kind is not None:
        runs.append((Span(start, end, open_kind), members))
    return [(trimmed, members) for span, members in runs if (trimmed := _trimmed(text, span)) is not None]


def _trimmed(text: str, span: Span) -> Span | None:
    start, end = span.start, span.end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end, span.kind) if end > start else None


def pair(text: str, spans: Mapping[Span, float], sentence_starts: Sequence[int]) -> list[AspectOpinion]:
    """Each aspect (with its score) and the nearest opinion of its sentence, by character distance."""

    def sentence_of(at: int) -> int:
        return bisect_right(sentence_starts, at) - 1

    opinions = [s for s in spans if s.kind == "OP"]
    found = []
    for aspect, score in spans.items():
        if aspect.kind == "OP":
            continue
        near = [o for o in opinions if sentence_of(o.start) == sentence_of(aspect.start)]
        opinion = min(near, key=lambda o: abs(o.start - aspect.start), default=None)
        found.append(
            AspectOpinion(
                text[aspect.start : aspect.end],
                aspect.start,
                aspect.end,
                text[opinion.start : opinion.end] if opinion else None,
                opinion.start if opinion else None,
                opinion.end if opinion else None,
                POLARITY_OF[aspect.kind],
                round(score, 4),
            )
        )
    return found
