"""Keyword rules shared by the topic and stage analyzers: a keyword hits a token lemma or a substring."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import regex

from models.document import Sentence

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
        longest_first = sorted(self._by_substring, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, longest_first))) if longest_first else None

    def hits(self, sentence: Sentence) -> list[Hit]:
        """Every (label, span) hit in the sentence, spans in normalized-text offsets."""
        found: dict[tuple[str, int], Hit] = {}
        if self._pattern is not None:
            for m in self._pattern.finditer(sentence.text):
                for label in self._by_substring[m.group()]:
                    start = sentence.start + m.start()
                    found[(label, start)] = Hit(label, start, sentence.start + m.end())
        for token in sentence.tokens:
            for label in self._by_lemma.get(token.lemma, ()):
                if not any(h.label == label and h.start <= token.start < h.end for h in found.values()):
                    found[(label, token.start)] = Hit(label, token.start, token.end)
        return sorted(found.values(), key=lambda h: h.start)
