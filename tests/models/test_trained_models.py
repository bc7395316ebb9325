"""The shipped trained models, koe-accurate and koe-fast (distilled from it), on clear cases (fixed expectations,
written for these tests)."""

from __future__ import annotations

import pytest

from models.pipeline import AnalysisInput, AnalysisPipeline
from models.registry import build_pipeline


@pytest.fixture(scope="module", params=["accurate", "fast"])
def accurate(request: pytest.FixtureRequest) -> AnalysisPipeline:
    return build_pipeline(request.param)


def sentiment(pipeline: AnalysisPipeline, text: str) -> str:
    return pipeline.analyze([AnalysisInput(text)])[0].sentiment["label"]


@pytest.mark.parametrize(
    "text", ["最高でした！", "スタッフの方がとても親切で、また来たいと思いました😊", "神対応すぎて泣いた"]
)
def test_clear_praise_is_positive(accurate: AnalysisPipeline, text: str) -> None:
    assert sentiment(accurate, text) == "positive"


@pytest.mark.parametrize(
    "text",
    ["二度と買わない。", "最悪。返金してほしい😡", "注文から2週間たっても届かず、問い合わせても無視されています。"],
)
def test_clear_complaints_are_negative(accurate: AnalysisPipeline, text: str) -> None:
    assert sentiment(accurate, text) == "negative"


@pytest.mark.parametrize("text", ["悪くない。", "特に不満はありません。"])
def test_negated_criticism_is_not_negative(accurate: AnalysisPipeline, text: str) -> None:
    assert sentiment(accurate, text) != "negative"


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("配送が遅くて、届いた箱も潰れていました。", "delivery"),
        ("料金が高すぎる。値下げしてほしい。", "price"),
        ("アプリが使いにくくて、どこに何があるか分からない", "usability"),
        ("スタッフの方がとても親切で、また来たいと思いました", "staff"),
    ],
)
def test_topics_of_clear_cases(accurate: AnalysisPipeline, text: str, topic: str) -> None:
    # koe_model.json "serves": since 2.1 the trained topic head beats the rules on dev (2.2: micro-F1 0.713 vs 0.496)
    assert topic in [t["id"] for t in accurate.analyze([AnalysisInput(text)])[0].topics]
    assert accurate.model_versions["topics"].startswith(("koe-accurate-topics@", "koe-fast-topics@"))


@pytest.mark.parametrize(
    ("text", "emotion"),
    [
        ("ふざけるな！三回も電話したのに折り返しもない😡", "anger"),
        ("最高でした！また来ます😊", "joy"),
        ("明日の発売が楽しみです！", "anticipation"),
        ("子供が飲み込んだらと思うと怖いです。", "fear"),
    ],
)
def test_emotions_of_clear_cases(
    accurate: AnalysisPipeline, text: str, emotion: str, request: pytest.FixtureRequest
) -> None:
    if emotion == "fear" and accurate.model_versions["emotions"].startswith("koe-fast"):
        # a known gap of koe-fast 1.0 (test-split fear F1 0.44 vs the teacher's 0.48): it finds no emotion here
        request.applymarker(pytest.mark.xfail(strict=True, reason="koe-fast misses plain fear (its heads are 1.0's)"))
    emotions = accurate.analyze([AnalysisInput(text)])[0].emotions
    assert emotions is not None and emotion in emotions["present"]


def test_a_procedural_question_carries_no_anger(accurate: AnalysisPipeline) -> None:
    emotions = accurate.analyze([AnalysisInput("来月で解約したいのですが、手続きの方法を教えてください。")])[0].emotions
    assert emotions is not None and "anger" not in emotions["present"]


def test_cancellation_request_is_retention(accurate: AnalysisPipeline) -> None:
    cancel = accurate.analyze([AnalysisInput("来月で解約したいのですが、手続きの方法を教えてください。")])[0]
    assert cancel.stage["predicted"] == "retention"


def test_versions_name_the_trained_model(accurate: AnalysisPipeline) -> None:
    assert accurate.model_versions["sentiment"].startswith(("koe-accurate-sentiment@", "koe-fast-sentiment@"))
    assert not accurate.model_versions["sentiment"].endswith("+int8")  # int8 lost 7 points: off by default


@pytest.mark.parametrize(
    ("text", "aspect", "opinion", "polarity"),
    [
        ("店員さんの対応がとても丁寧でした。", "対応", "丁寧", "positive"),
        ("バッテリーの持ちが悪すぎる。", "バッテリー", "悪", "negative"),
        ("安いけど配送が遅い。", "配送", "遅い", "negative"),
        ("ＵＳＢケーブルが短すぎて使いにくい(´・ω・`)", "ケーブル", "短", "negative"),
    ],
)
def test_aspects_of_clear_cases(
    accurate: AnalysisPipeline, text: str, aspect: str, opinion: str, polarity: str
) -> None:
    """Each model's tagger finds the thing judged, the judging words and the polarity."""
    found = accurate.analyze([AnalysisInput(text)])[0].aspects
    assert found is not None
    pairs = [(a["aspect"]["text"], (a["opinion"] or {}).get("text", ""), a["polarity"]) for a in found]
    assert any(aspect in a and opinion in o and p == polarity for a, o, p in pairs), pairs
