"""Normalization with its offset map, sentence splitting and grapheme counting (models/text.py)."""

from __future__ import annotations

import pytest

from models.document import prepare
from models.text import grapheme_count, is_kaomoji, normalize, split_sentences

REALISTIC = [
    "ＡＢＣ１２３の商品を注文しました。届くのが遅いです！！",
    "ｶﾞｯｶﾘしました…。二度と買いません",
    "店員さんの対応が最高でした👍🏻また来ます",
    "家族👨‍👩‍👧で利用しました❤️すごく楽しかった",
    "ちょっと残念(´・ω・`)次に期待します",
    "ありがとうございます(^^)助かりました",
    "無事に届きました（＾＾）梱包も丁寧！",
    "すごーーーく美味しかった〜〜〜",
    "草ｗｗｗ まじでウケる",
    "一行目です\r\n二行目です\r\n",
    "「ありがとう。また来てね。」と言われた。嬉しかった",
    "値段は高い?!でも満足",
    "客: 注文した商品が届きません\n担当: 申し訳ございません。確認いたします\n客: よろしくお願いします",
    "ﾎﾟｲﾝﾄが付かない！？　どういうこと",
    "配送が遅い（３日もかかった）。残念です",
    "\tタブと\x07制御文字が入った文です。",
]


def sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


def pipeline_sentences(original: str) -> list[str]:
    """Sentences as prepare() sees them: split after normalization."""
    return [s.text for s in prepare(original).sentences]


# --- normalization -----------------------------------------------------------------------------


def test_full_width_ascii_and_digits_become_half_width():
    assert normalize("ＡＢＣ１２３").text == "ABC123"
    assert normalize("ｉＰｈｏｎｅ１５を購入").text == "iPhone15を購入"


def test_half_width_katakana_with_dakuten_maps_back_to_the_exact_original_span():
    original = "本当にｶﾞｯｶﾘしました"
    norm = normalize(original)
    assert norm.text == "本当にガッカリしました"
    start = norm.text.index("ガッカリ")
    a, b = norm.to_original(start, start + len("ガッカリ"))
    assert original[a:b] == "ｶﾞｯｶﾘ"
    # the single normalized ガ covers both ｶ and ﾞ
    assert norm.to_original(start, start + 1) == (3, 5)


@pytest.mark.parametrize("emoji", ["👍🏻", "👨‍👩‍👧", "❤️", "🙇‍♀️"])
def test_emoji_are_kept_intact(emoji):
    original = f"とても良かったです{emoji}また来ます"
    assert emoji in normalize(original).text


@pytest.mark.parametrize("kaomoji", ["(´・ω・`)", "(^^)", "（＾＾）", "ヽ(・∀・)ノ", "(*´∀`*)"])
def test_kaomoji_are_kept_verbatim(kaomoji):
    assert is_kaomoji(kaomoji)
    norm = normalize(f"届きました{kaomoji}ありがとう")
    assert kaomoji in norm.text
    start = norm.text.index(kaomoji)
    a, b = norm.to_original(start, start + len(kaomoji))
    assert norm.original[a:b] == kaomoji


@pytest.mark.parametrize("text", ["商品(3個)", "配送（翌日）", "(笑)", "(ABC)"])
def test_bracketed_words_are_not_kaomoji(text):
    assert not is_kaomoji(text)


def test_crying_face_is_a_kaomoji():
    assert is_kaomoji("(T_T)")


def test_long_vowel_and_wave_dash_runs_fold_to_one_and_map_to_the_whole_run():
    original = "すごーーーい〜〜〜"
    norm = normalize(original)
    assert norm.text == "すごーい〜"
    assert norm.to_original(2, 3) == (2, 5)  # ー ← ーーー
    assert norm.to_original(4, 5) == (6, 9)  # 〜 ← 〜〜〜


def test_laughter_folds_to_ww_but_urls_are_untouched():
    norm = normalize("草ｗｗｗ")
    assert norm.text == "草ww"
    assert norm.to_original(1, 3) == (1, 4)
    assert normalize("ワロタwwwwww").text == "ワロタww"
    assert normalize("詳細はwww.example.jpへ").text == "詳細はwww.example.jpへ"


def test_control_characters_are_removed_and_tabs_become_spaces():
    norm = normalize("届\x00き\x07ました\tです")
    assert norm.text == "届きました です"
    assert norm.to_original(0, 2) == (0, 3)


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_carriage_returns_become_line_feeds(newline):
    norm = normalize(f"一行目{newline}二行目")
    assert norm.text == "一行目\n二行目"
    assert norm.to_original(3, 4) == (3, 3 + len(newline))


@pytest.mark.parametrize("original", REALISTIC)
def test_offset_map_is_aligned_and_monotonic(original):
    norm = normalize(original)
    assert len(norm.starts) == len(norm.ends) == len(norm.text)
    assert list(norm.starts) == sorted(norm.starts)
    assert list(norm.ends) == sorted(norm.ends)
    assert all(0 <= s < e <= len(original) for s, e in zip(norm.starts, norm.ends, strict=True))


@pytest.mark.parametrize("original", REALISTIC)
def test_every_sentence_span_maps_back_to_an_original_slice_that_normalizes_to_it(original):
    norm = normalize(original)
    spans = split_sentences(norm)
    assert spans
    for first in range(len(spans)):
        for last in range(first, len(spans)):
            start, end = spans[first].start, spans[last].end
            a, b = norm.to_original(start, end)
            assert normalize(original[a:b]).text == norm.text[start:end]


def test_empty_span_maps_to_a_position():
    norm = normalize("ＡＢＣ")
    assert norm.to_original(1, 1) == (1, 1)
    assert norm.to_original(3, 3) == (3, 3)


# --- sentence splitting -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("注文しました。届きました", ["注文しました。", "届きました"]),
        ("すごい！！また買う", ["すごい！！", "また買う"]),
        ("え?!本当に", ["え?!", "本当に"]),
        ("届かない？？どうなってるの", ["届かない？？", "どうなってるの"]),
        ("残念でした…また来ます", ["残念でした…", "また来ます"]),
        ("一行目\n\n二行目", ["一行目", "二行目"]),
        ("最高😊また来ます", ["最高😊", "また来ます"]),
        ("嬉しい(^^)また行きます", ["嬉しい(^^)", "また行きます"]),
        ("良い😊😊！また来る", ["良い😊😊！", "また来る"]),
        ("美味しい😋、また来る", ["美味しい😋、また来る"]),
    ],
)
def test_split_sentences(text, expected):
    assert sentences(text) == expected


@pytest.mark.parametrize(
    "text",
    ["「ありがとう。また来てね。」と言われた", "『最高。また行く！』と書きました", "（注：本日は休業。）明日来ます"],
)
def test_never_splits_inside_quotes_or_parentheses(text):
    assert sentences(text) == [text]


def test_quote_followed_by_more_text_ends_at_the_outer_terminator():
    assert sentences("「ありがとう。また来てね。」と言われた。嬉しかった") == [
        "「ありがとう。また来てね。」と言われた。",
        "嬉しかった",
    ]


@pytest.mark.parametrize(
    ("text", "last"),
    [
        ("「ありがとう。また来てね。と言われた。嬉しかった。", "嬉しかった。"),
        ("（注：本日は休業。明日来ます。ありがとう", "ありがとう"),
        ("店員さんが）と言った。次回に期待です。", "次回に期待です。"),
    ],
)
def test_unbalanced_brackets_do_not_swallow_the_rest(text, last):
    got = sentences(text)
    assert len(got) >= 2
    assert got[-1] == last


def test_sentences_are_split_on_the_normalized_text_in_prepare():
    assert pipeline_sentences("ｶﾞｯｶﾘ！！二度と買わない") == ["ガッカリ!!", "二度と買わない"]


@pytest.mark.parametrize("text", ["残念でした…また来ます", "良かったです．また来ます"])
def test_ellipsis_and_full_width_period_still_split_after_normalization(text):
    assert len(pipeline_sentences(text)) == 2


def test_clause_final_crying_kaomoji_ends_the_sentence():
    assert sentences("悲しい(T_T)もう行かない") == ["悲しい(T_T)", "もう行かない"]


def test_long_chat_transcript_splits_per_line():
    lines = []
    for i in range(1, 26):
        lines.append(f"客: 注文番号{i:05d}の商品がまだ届きません")
        lines.append(f"担当: ご不便をおかけしております。確認いたします（{i}件目）")
    text = "\r\n".join(lines)
    norm = normalize(text)
    got = [norm.text[s.start : s.end] for s in split_sentences(norm)]
    assert all("\n" not in s for s in got)
    assert sum(s.startswith("客:") for s in got) == 25
    assert sum(s.startswith("担当:") for s in got) == 25
    assert len(got) == 75  # each agent line is two sentences
    assert got[-1] == "確認いたします(25件目)"


@pytest.mark.parametrize("joiner", ["\u3099", "\u0301", "\u200d", "\ufe0f"])
def test_a_sentence_end_keeps_what_joins_it_into_one_grapheme(joiner):
    # Found by tests/models/test_text_properties.py: 。 followed by a combining mark is one grapheme of the
    # original, so a cut between them made two sentences share (and overlap on) that grapheme's span.
    original = f"届いた。{joiner}次も頼む"
    norm = normalize(original)
    spans = [norm.to_original(s.start, s.end) for s in split_sentences(norm)]
    assert [original[a:b] for a, b in spans] == [f"届いた。{joiner}", "次も頼む"]


def test_no_sentence_ends_inside_a_piece_kept_whole_from_the_original():
    # Found by tests/models/test_text_properties.py: the control character between (´) and orz is dropped, and in
    # the normalized text (´)o reads as a kaomoji with an arm, which ended a sentence inside the piece `orz`.
    original = "(´)\x1forz"
    norm = normalize(original)
    spans = [norm.to_original(s.start, s.end) for s in split_sentences(norm)]
    assert [original[a:b] for a, b in spans] == [original]


def test_leading_and_trailing_whitespace_is_not_part_of_a_sentence():
    text = "  配送が早い。\n\n  　梱包も丁寧。  "
    assert sentences(text) == ["配送が早い。", "梱包も丁寧。"]
    assert sentences("   \n  ") == []


# --- graphemes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [("👨‍👩‍👧", 1), ("家族👨‍👩‍👧", 3), ("👍🏻", 1), ("❤️", 1), ("ｶﾞ", 1), ("🇯🇵", 1), ("ありがとう", 5)],
)
def test_grapheme_count(text, count):
    assert grapheme_count(text) == count
