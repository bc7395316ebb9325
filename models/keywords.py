"""Keyword rules shared by the topic and stage analyzers: a keyword hits a token lemma or a substring."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import regex

from models.document import Sentence
from models.lexicon import PhraseIndex

_HIRAGANA_ONLY = regex.compile(r"\p{Hiragana}+")


@dataclass(frozen=True, slots=True)
class Hit:
    label: str
    start: int
    end: int


class KeywordMatcher:
    """Labels → keywords. A keyword matches a token lemma exactly, or (2+ characters, not only hiragana,
    so that ない or いい never fire inside other words) any substring of the normalized sentence."""

    def __init__(self, keywords: dict[str, list[str]]) -> None:
        self._by_lemma: dict[str, set[str]] = defaultdict(set)
        self._by_substring: dict[str, set[str]] = defaultdict(set)
        for label, words in keywords.items():
            for word in words:
                self._by_lemma[word].add(label)
                if len(word) >= 2 and not _HIRAGANA_ONLY.fullmatch(word):
                    self._by_substring[word].add(label)
        self._phrases = PhraseIndex(dict(self._by_substring))

    def hits(self, sentence: Sentence) -> list[Hit]:
        """Every (label, span) hit in the sentence, spans in normalized-text offsets."""
        found: dict[tuple[str, int], Hit] = {}
        for start, end, labels in self._phrases.find(sentence.text):
            for label in labels:
                found[(label, sentence.start + start)] = Hit(label, sentence.start + start, sentence.start + end)
        for token in sentence.tokens:
            for label in self._by_lemma.get(token.lemma, ()):
                if not any(h.label == label and h.start <= token.start < h.end for h in found.values()):
                    found[(label, token.start)] = Hit(label, token.start, token.end)
        return sorted(found.values(), key=lambda h: h.start)
