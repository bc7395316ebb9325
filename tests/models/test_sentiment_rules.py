"""Lexicon sentiment (models/analyzers/sentiment_rules.py) on prepared Japanese documents."""

from __future__ import annotations

import pytest

from models.analyzers.base import DocumentResult
from models.analyzers.sentiment_rules import RuleSentimentAnalyzer
from models.document import prepare
from models.text import normalize

DOCUMENT_LABELS = {"positive", "neutral", "negative", "mixed"}
SENTENCE_LABELS = {"positive", "neutral", "negative"}


@pytest.fixture(scope="module")
def analyzer() -> RuleSentimentAnalyzer:
    return RuleSentimentAnalyzer()


@pytest.fixture
def run(analyzer):
    def _run(text: str) -> DocumentResult:
        return analyzer.analyze([prepare(text)])[0]

    return _run


@pytest.mark.parametrize("text", ["最高でした", "最高でした！！", "神対応でした", "大満足です😊"])
def test_clear_praise_is_positive(run, text):
    assert run(text).document.label == "positive"


@pytest.mark.parametrize("text", ["最悪。二度と買わない", "ｶﾞｯｶﾘしました", "本当にひどすぎる", "もう二度と頼みません"])
def test_clear_complaints_are_negative(run, text):
    assert run(text).document.label == "negative"


def test_never_again_is_evidence_even_without_a_sentiment_word(run):
    result = run("二度と行かない")
    assert result.document.label == "negative"
    assert [e.weight for e in result.document.evidence] == [-1.5]


@pytest.mark.parametrize(
    "text", ["悪くない", "悪くはない", "悪くなかったです", "不満はありません", "不満はないです", "問題ありません"]
)
def test_negated_criticism_is_not_negative(run, text):
    result = run(text)
    assert result.document.label != "negative"
    assert result.document.scores["positive"] > result.document.scores["negative"]


def test_negated_criticism_with_an_adverb_is_not_negative(run):
    assert run("不満は特にありません").document.label != "negative"


@pytest.mark.parametrize(
    "text", ["美味しくなかった", "美味しくありませんでした", "良くないです", "満足できませんでした"]
)
def test_negated_praise_is_negative(run, text):
    assert run(text).document.label == "negative"


def test_negation_weakens_the_flipped_word(run):
    assert run("悪くない").document.scores["positive"] < run("良い").document.scores["positive"]


@pytest.mark.parametrize(
    ("earlier_positive", "earlier_negative"),
    [("安いけど遅い", "遅いけど安い"), ("安いけれど遅い", "遅いけれど安い"), ("安いですが遅い", "遅いですが安い")],
)
def test_the_clause_after_a_contrast_weighs_more(run, earlier_positive, earlier_negative):
    assert run(earlier_positive).document.label == "negative"
    assert run(earlier_negative).document.label == "positive"
    weights = {e.start: e.weight for e in run(earlier_positive).document.evidence}
    assert abs(weights[0]) < abs(weights[max(weights)])


@pytest.mark.parametrize("text", ["安いが遅い", "安いのに遅い"])
def test_ga_and_noni_are_contrasts_too(run, text):
    assert run(text).document.label == "negative"


def test_contrast_opener_sentence_halves_what_came_before(run):
    result = run("料理は最高でした。でも店員の態度は最悪でした。")
    assert result.document.scores["negative"] > result.document.scores["positive"]
    first = result.document.evidence[0]
    assert first.weight == pytest.approx(1.0)  # 最高 (2.0) halved by でも


def test_intensifier_raises_and_downtoner_lowers_the_score(run):
    strong, plain, weak = run("とても良い"), run("良い"), run("少し良い")
    assert strong.document.scores["positive"] > plain.document.scores["positive"] > weak.document.scores["positive"]
    assert strong.document.evidence[0].weight > weak.document.evidence[0].weight


@pytest.mark.parametrize(("text", "label"), [("👍👍", "positive"), ("😡", "negative"), ("🎉✨", "positive")])
def test_emoji_only(run, text, label):
    assert run(text).document.label == label


@pytest.mark.parametrize(
    ("text", "label"), [("(T_T)", "negative"), ("（＾＾）", "positive"), ("(´・ω・`)", "negative")]
)
def test_kaomoji_only(run, text, label):
    assert run(text).document.label == label


def test_two_thumbs_are_stronger_than_one(run):
    assert run("👍👍").document.scores["positive"] > run("👍").document.scores["positive"]


@pytest.mark.parametrize("text", ["明日届く予定です", "注文番号は１２３４５です", "本日１５時に発送しました"])
def test_neutral_facts(run, text):
    result = run(text)
    assert result.document.label == "neutral"
    assert result.document.scores["neutral"] == 1.0
    assert result.document.evidence == []


def test_equal_praise_and_complaint_in_separate_sentences_is_mixed(run):
    result = run("料理は美味しかった。店員は不親切だった。")
    assert result.document.label == "mixed"
    assert [s.label for s in result.sentences] == ["positive", "negative"]


def test_a_question_counts_half(run):
    asked, stated = run("美味しいですか？"), run("美味しいです。")
    assert asked.document.evidence[0].weight == pytest.approx(stated.document.evidence[0].weight / 2)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("美味しかったです", "positive"),
        ("うまかった", "positive"),
        ("うまかったー！", "positive"),
        ("ｳﾏｲ", "positive"),
        ("美味しくありませんでした", "negative"),
        ("まずかった", "negative"),
    ],
)
def test_polite_and_casual_registers(run, text, label):
    assert run(text).document.label == label


def test_agent_lines_in_a_transcript_count_less(run):
    customer = run("客: ありがとうございます")
    agent = run("担当: ありがとうございます")
    assert agent.document.evidence[0].weight == pytest.approx(customer.document.evidence[0].weight * 0.3)
    assert agent.sentences[0].evidence[0].weight == customer.sentences[0].evidence[0].weight


MANY = [
    "最高でした",
    "最悪。二度と買わない",
    "安いけど遅い",
    "料理は最高でした。でも店員の態度は最悪でした。",
    "明日届く予定です",
    "ｶﾞｯｶﾘ…ＳＵＰＥＲ最悪でした😡",
    "すごーーーく良かった〜〜〜(^^)",
    "ありがとう（＾＾）助かりました👍🏻",
    "客: 商品が届きません。最悪です\r\n担当: 大変申し訳ございません。\r\n客: 早く対応してください",
]


@pytest.mark.parametrize("text", MANY)
def test_probabilities_sum_to_one(run, text):
    result = run(text)
    assert set(result.document.scores) == DOCUMENT_LABELS
    assert sum(result.document.scores.values()) == pytest.approx(1.0, abs=1e-3)
    assert all(0.0 <= v <= 1.0 for v in result.document.scores.values())
    assert result.document.label == max(result.document.scores, key=result.document.scores.get)
    for sentence in result.sentences:
        assert set(sentence.scores) == SENTENCE_LABELS
        assert sum(sentence.scores.values()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("text", MANY)
def test_every_evidence_span_maps_into_the_text(analyzer, text):
    doc = prepare(text)
    result = analyzer.analyze([doc])[0]
    evidence = result.document.evidence + [e for s in result.sentences for e in s.evidence]
    for e in evidence:
        assert 0 <= e.start < e.end <= len(doc.text)
        assert e.label == ("positive" if e.weight > 0 else "negative")
        a, b = doc.original_span(e.start, e.end)
        # 👍 matched inside 👍🏻 maps to the whole original grapheme, so compare by containment
        assert doc.text[e.start : e.end] in normalize(text[a:b]).text
    for sentence, labelled in zip(doc.sentences, result.sentences, strict=True):
        assert all(sentence.start <= e.start and e.end <= sentence.end for e in labelled.evidence)


def test_evidence_of_half_width_katakana_points_at_the_original_characters(analyzer):
    text = "ｶﾞｯｶﾘしました😡"
    doc = prepare(text)
    spans = [doc.original_span(e.start, e.end) for e in analyzer.analyze([doc])[0].document.evidence]
    assert sorted(text[a:b] for a, b in spans) == sorted(["ｶﾞｯｶﾘ", "😡"])


def test_emoji_matched_without_its_skin_tone_maps_to_the_whole_original_emoji(analyzer):
    text = "良かったです👍🏻"
    doc = prepare(text)
    spans = [doc.original_span(e.start, e.end) for e in analyzer.analyze([doc])[0].document.evidence]
    assert "👍🏻" in [text[a:b] for a, b in spans]


def test_batch_results_follow_input_order(analyzer):
    docs = [prepare(t) for t in ["最高でした", "最悪でした", "明日届きます"]]
    assert [r.document.label for r in analyzer.analyze(docs)] == ["positive", "negative", "neutral"]


def test_version_names_the_lexicon(analyzer):
    assert analyzer.name == "sentiment-rules"
    assert analyzer.version.startswith("1.0.0+lex.")
    assert analyzer.version.endswith(analyzer.lexicon.digest)
