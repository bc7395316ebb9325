"""Text steps: normalization with an offset map back to the original, and sentence splitting."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import regex

# A kaomoji is a short bracketed face with no hiragana/kanji inside, optionally with arms outside.
# NFKC would break them (´ becomes space + combining accent), so they are copied verbatim.
# Letters may appear inside ((T_T), (^o^)) but only next to at least one face-only symbol, so that (笑),
# or (株) stay ordinary brackets.
_FACE_SYMBOL = r"_^;´`・ω∀≧≦▽°＾≡￣◕‿ᴗ゜ДдΦ▼▲□◇〃︿"
_KAOMOJI = regex.compile(
    r"[ヽ\\٩ᕦ┐＼⊂ｏo]?"
    rf"[(（](?=[^()（）]*[{_FACE_SYMBOL}])[^()（）\p{{Hiragana}}\p{{Han}}\s]{{1,12}}[)）]"
    r"[ノﾉ/／┌۶ᕤ⊃ｏo]?"
    r"|orz|OTL|m\(_ _\)m"
)
_EMOJI = regex.compile(r"\p{Extended_Pictographic}")
_CONTROL = regex.compile(r"[\p{Cc}\p{Co}\p{Cs}]")
_LONG_VOWEL_RUN = regex.compile(r"([ー〜~])\1+")
_LAUGH_RUN = regex.compile(r"(?<![A-Za-z.])[wW]{2,}(?![A-Za-z.])")
_OPENERS = {"「": "」", "『": "』", "(": ")", "（": "）", "【": "】", "《": "》", "〈": "〉"}
_TERMINATORS = set("。．！？!?…‥")
_KEEP = {"…", "‥"}  # NFKC would spell them "...", losing the sentence end
_CLOSERS_AFTER_END = set("」』)）】》〉\"'")
# Marks, ZWJ, variation selectors and skin tones join the character before them into one grapheme: a sentence
# that ended before one would share that grapheme, and so its span in the original, with the next sentence.
_JOINS_PREVIOUS = regex.compile(r"[\p{M}\p{Grapheme_Extend}\u200d\U0001F3FB-\U0001F3FF]")


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Normalized text plus, for each of its characters, the [start, end) it came from in the original."""

    original: str
    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of the normalized text to a span of the original text."""
        if end <= start:
            pos = self.starts[start] if start < len(self.starts) else len(self.original)
            return pos, pos
        return self.starts[start], self.ends[end - 1]

    def inside_group(self, i: int) -> bool:
        """Whether position i falls between two characters made from one original piece (a grapheme NFKC
        expanded, or a kaomoji kept verbatim): a cut there would give both sides the same original span."""
        return 0 < i < len(self.starts) and self.starts[i] == self.starts[i - 1]


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int


def is_kaomoji(text: str) -> bool:
    return _KAOMOJI.fullmatch(text) is not None


# Code points that join with a neighbour into one grapheme: marks, ﾞﾟ, ZWJ, variation selectors, skin tones, CR.
_CLUSTERING = regex.compile(
    r"[\p{M}\p{Grapheme_Extend}\u200d\ufe0e\ufe0f\U0001F3FB-\U0001F3FF\r\p{Regional_Indicator}]"
)


def _normalize_grapheme(grapheme: str) -> str:
    if _EMOJI.search(grapheme) or grapheme in _KEEP:
        return grapheme
    if _CONTROL.fullmatch(grapheme):
        return "\n" if grapheme in "\n\r" else (" " if grapheme == "\t" else "")
    folded = unicodedata.normalize("NFKC", grapheme)
    # NFKC turns spacing accents (´ ¨ ¯) into space + combining mark, which breaks faces like (´・ω・`).
    return grapheme if folded[:1].isspace() and not grapheme[:1].isspace() else folded


@lru_cache(maxsize=65536)
def _normalize_char(ch: str) -> str:
    return _normalize_grapheme(ch)


def _pieces(original: str) -> list[tuple[str, int, int]]:
    """Split into (normalized piece, original start, original end), kaomoji kept verbatim."""
    pieces: list[tuple[str, int, int]] = []
    pos = 0
    for match in _KAOMOJI.finditer(original):
        pieces.extend(_grapheme_pieces(original, pos, match.start()))
        pieces.append((match.group(), match.start(), match.end()))
        pos = match.end()
    pieces.extend(_grapheme_pieces(original, pos, len(original)))
    return pieces


def _grapheme_pieces(original: str, start: int, end: int) -> list[tuple[str, int, int]]:
    segment = original[start:end]
    if not _CLUSTERING.search(segment):
        # Fast path (most text): every code point is its own grapheme, normalized through a cache.
        return [(_normalize_char(ch), start + i, start + i + 1) for i, ch in enumerate(segment)]
    out = []
    for match in regex.finditer(r"\X", segment):
        s, e = start + match.start(), start + match.end()
        grapheme = "\n" if match.group() == "\r\n" else match.group()
        out.append((_normalize_grapheme(grapheme), s, e))
    return out


def _collapse(text: str, starts: list[int], ends: list[int], pattern: regex.Pattern[str], keep: int):
    """Collapse each match of pattern to its first `keep` characters, keeping the offset map aligned."""
    out, out_starts, out_ends, pos = [], [], [], 0
    for match in pattern.finditer(text):
        s, e = match.start(), match.end()
        out.append(text[pos : s + keep])
        out_starts.extend(starts[pos : s + keep])
        out_ends.extend([*ends[pos : s + keep - 1], ends[e - 1]])
        pos = e
    out.append(text[pos:])
    out_starts.extend(starts[pos:])
    out_ends.extend(ends[pos:])
    return "".join(out), out_starts, out_ends


def normalize(original: str) -> NormalizedText:
    """NFKC width unification that keeps emoji/kaomoji, folds repeated ー/〜 and ｗｗｗ, drops controls."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for piece, s, e in _pieces(original):
        for ch in piece:
            chars.append(ch)
            starts.append(s)
            ends.append(e)
    text = "".join(chars)
    text, starts, ends = _collapse(text, starts, ends, _LONG_VOWEL_RUN, keep=1)
    text, starts, ends = _collapse(text, starts, ends, _LAUGH_RUN, keep=2)
    return NormalizedText(original, text, tuple(starts), tuple(ends))


def _bracket_pairs(text: str) -> dict[int, int]:
    """Opening index → closing index for balanced brackets; unbalanced ones are ignored."""
    pairs: dict[int, int] = {}
    stack: list[tuple[int, str]] = []
    closers = {v: k for k, v in _OPENERS.items()}
    for i, ch in enumerate(text):
        if ch in _OPENERS:
            stack.append((i, ch))
        elif ch in closers:
            for depth in range(len(stack) - 1, -1, -1):
                if stack[depth][1] == closers[ch]:
                    pairs[stack[depth][0]] = i
                    del stack[depth:]
                    break
    return pairs


def _protected(text: str) -> list[bool]:
    """True for characters inside balanced 「」『』（） (kaomoji are not quotations)."""
    inside = [False] * len(text)
    kaomoji_starts = {m.start() for m in _KAOMOJI.finditer(text)}
    for open_at, close_at in _bracket_pairs(text).items():
        if open_at in kaomoji_starts or open_at - 1 in kaomoji_starts:
            continue
        for i in range(open_at + 1, close_at):
            inside[i] = True
    return inside


def _end_after(text: str, i: int) -> int:
    """Extend a sentence end over repeated terminators, closing quotes and what joins them into one grapheme."""
    while i < len(text) and (
        text[i] in _TERMINATORS or text[i] in _CLOSERS_AFTER_END or _JOINS_PREVIOUS.match(text[i])
    ):
        i += 1
    return i


def _boundaries(text: str) -> list[int]:
    inside = _protected(text)
    symbol_ends = {m.end() for m in _KAOMOJI.finditer(text)}
    symbol_ends |= {
        m.end()
        for m in regex.finditer(
            r"\p{Extended_Pictographic}[\p{M}\u200d\p{Extended_Pictographic}\U0001F3FB-\U0001F3FF]*", text
        )
    }
    cuts, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\n":
            cuts.append(i + 1)
        elif not inside[i] and (ch in _TERMINATORS or _is_full_stop(text, i)):
            i = _end_after(text, i + 1)
            cuts.append(i)
            continue
        elif not inside[i] and i + 1 in symbol_ends and _ends_clause(text, i + 1):
            cuts.append(i + 1)
        i += 1
    return cuts


def _is_full_stop(text: str, i: int) -> bool:
    """A "." that NFKC made from ．: after Japanese text and not inside a number, URL or version."""
    if text[i] != "." or i == 0 or text[i - 1].isascii():
        return False
    return i + 1 >= len(text) or not text[i + 1].isascii() or text[i + 1].isspace()


def _ends_clause(text: str, end: int) -> bool:
    """An emoji/kaomoji closes a clause unless more emoji or punctuation directly follow it."""
    if end >= len(text):
        return True
    nxt = text[end]
    return not (
        _EMOJI.match(nxt) or nxt in _TERMINATORS or nxt in "、,\u200d\ufe0f" or unicodedata.category(nxt) == "Sk"
    )


def split_sentences(text: str | NormalizedText) -> list[Span]:
    """Sentence spans: 。！？!?… and line breaks, clause-final emoji/kaomoji; never inside 「」『』（）, nor, for a
    normalized text, inside what one piece of the original became (`(´)orz` reads `(´)o` + `rz` as a kaomoji)."""
    normalized = text if isinstance(text, NormalizedText) else None
    plain = normalized.text if normalized else str(text)
    cuts = [c for c in _boundaries(plain) if not (normalized and normalized.inside_group(c))]
    spans, start = [], 0
    for cut in [*cuts, len(plain)]:
        s, e = start, cut
        while s < e and plain[s].isspace():
            s += 1
        while e > s and plain[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append(Span(s, e))
        start = max(start, cut)
    return spans


def grapheme_count(text: str) -> int:
    """User-perceived characters (extended grapheme clusters): 👨‍👩‍👧 counts as one."""
    return len(regex.findall(r"\X", text))
