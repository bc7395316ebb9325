"""Properties of normalization's offset map and of sentence splitting (models/text.py), for any Unicode text:
offsets land inside the original, spans are ordered and disjoint, and no character is lost on the way."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from models.text import NormalizedText, normalize, split_sentences

# Pieces that real reviews are made of and that stress the offset map: ZWJ emoji sequences, skin tones and flags,
# kaomoji, full-width and half-width forms (ｶﾞ is two code points for one kana), combining marks, runs that
# normalization folds (ーーー, ｗｗｗ), CRLF, NUL and other control characters, brackets and sentence ends.
FRAGMENTS = [
    "👨‍👩‍👧", "👍🏻", "❤️", "🙇‍♀️", "🇯🇵", "😡", "(´・ω・`)", "(^^)", "（＾＾）", "m(_ _)m", "orz", "ヽ(・∀・)ノ",
    "ＡＢＣ１２３", "ｶﾞｯｶﾘ", "ﾎﾟｲﾝﾄ", "ｗｗｗ", "www", "すごーーーく", "〜〜", "e\u0301", "\u3099", "㍻", "①", "½",
    "\r\n", "\r", "\n", "\x00", "\x07", "\t", "\u3000", "\u200d", "\ufe0f", "\ue000", "。", "！？", "…", "．", ".",
    "「", "」", "（", "）", "『", "』", "配送が遅い", "店員さんが丁寧でした", "けど", "abc", " ",
]  # fmt: skip
texts = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.characters()), max_size=25).map("".join),
)
PROPERTY = settings(max_examples=200, deadline=None)


def blank(text: str) -> bool:
    """Whitespace, or nothing at all once normalized (control characters are dropped)."""
    return not normalize(text).text.strip()


def mapped(norm: NormalizedText, start: int, end: int) -> tuple[int, int]:
    a, b = norm.to_original(start, end)
    assert 0 <= a <= b <= len(norm.original)
    return a, b


@PROPERTY
@given(texts)
def test_every_normalized_character_maps_into_the_original_in_order(original: str) -> None:
    norm = normalize(original)
    assert len(norm.starts) == len(norm.ends) == len(norm.text)
    for i in range(len(norm.text)):
        assert 0 <= norm.starts[i] < norm.ends[i] <= len(original)
        if i:
            assert norm.starts[i - 1] <= norm.starts[i] and norm.ends[i - 1] <= norm.ends[i]


@PROPERTY
@given(texts, st.data())
def test_any_span_maps_back_inside_the_original(original: str, data: st.DataObject) -> None:
    norm = normalize(original)
    start = data.draw(st.integers(0, len(norm.text)))
    end = data.draw(st.integers(start, len(norm.text)))
    a, b = mapped(norm, start, end)
    if end > start:  # a non-empty span covers the original of its first and last characters
        assert (a, b) == (norm.starts[start], norm.ends[end - 1])


@PROPERTY
@given(texts)
def test_only_blank_characters_are_dropped_by_normalization(original: str) -> None:
    norm = normalize(original)
    covered = {p for s, e in zip(norm.starts, norm.ends, strict=True) for p in range(s, e)}
    assert all(blank(original[p]) for p in range(len(original)) if p not in covered)


@PROPERTY
@given(texts)
def test_sentences_are_ordered_disjoint_trimmed_and_cover_every_visible_character(text: str) -> None:
    spans = split_sentences(text)
    previous_end = 0
    for span in spans:
        assert previous_end <= span.start < span.end <= len(text)
        assert not text[span.start].isspace() and not text[span.end - 1].isspace()
        assert not text[previous_end : span.start].strip()  # only whitespace between sentences
        previous_end = span.end
    assert not text[previous_end:].strip()


@PROPERTY
@given(texts)
def test_sentences_mapped_to_the_original_lose_no_text(original: str) -> None:
    norm = normalize(original)
    spans = [mapped(norm, s.start, s.end) for s in split_sentences(norm)]
    for (_, previous_end), (start, _) in pairwise(spans):
        assert previous_end <= start  # ordered and disjoint in the original too
    covered = {p for a, b in spans for p in range(a, b)}
    assert all(blank(original[p]) for p in range(len(original)) if p not in covered)
