"""Topic and journey-stage rules, custom taxonomies, and how the pipeline assembles stage and versions."""

from __future__ import annotations

import pytest

from models.analyzers.stage_rules import RuleStageAnalyzer
from models.analyzers.topic_rules import RuleTopicAnalyzer
from models.document import prepare
from models.journey import STAGES
from models.pipeline import AnalysisInput, AnalysisPipeline
from models.registry import build_pipeline, topic_analyzer
from models.taxonomy import default_taxonomy, parse_taxonomy

CAFE_YAML = """
name: cafe-chain
version: 3
topics:
  - id: drinks
    label: ドリンク
    keywords: [コーヒー, 紅茶, ラテ, 飲み物]
  - id: seating
    label: 座席
    keywords: [席, ソファ, コンセント]
"""


@pytest.fixture(scope="module")
def topics() -> RuleTopicAnalyzer:
    return RuleTopicAnalyzer()


@pytest.fixture(scope="module")
def stages() -> RuleStageAnalyzer:
    return RuleStageAnalyzer()


@pytest.fixture(scope="module")
def rules() -> AnalysisPipeline:
    return build_pipeline("rules")


def topic_of(analyzer: RuleTopicAnalyzer, text: str):
    return analyzer.analyze([prepare(text)])[0].document


def stage_of(analyzer: RuleStageAnalyzer, text: str):
    return analyzer.analyze([prepare(text)])[0].document


# --- topics -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("配送が遅い", "delivery"),
        ("店員の態度が悪かった", "staff"),
        ("ｽﾀｯﾌさんの笑顔が素敵でした😊", "staff"),
        ("値段が高い", "price"),
        ("問い合わせたが返信がない", "support"),
        ("とても美味しかったです", "quality"),
    ],
)
def test_topic_from_keywords(topics, text, topic):
    result = topic_of(topics, text)
    assert result.label == topic
    assert topic in result.scores
    assert all(e.label in result.scores for e in result.evidence)


def test_more_hits_give_a_higher_topic_score(topics):
    one, two = topic_of(topics, "配送が遅い"), topic_of(topics, "店員の態度が悪かった")
    assert one.scores["delivery"] == pytest.approx(0.6)
    assert two.scores["staff"] == pytest.approx(0.84)


def test_several_topics_in_one_document(topics):
    doc = prepare("配送が遅いし、値段も高い。店員の態度も最悪")
    result = topics.analyze([doc])[0]
    assert set(result.document.scores) == {"delivery", "price", "staff"}
    assert [set(s.scores) for s in result.sentences] == [{"delivery", "price"}, {"staff"}]
    assert {doc.text[e.start : e.end] for e in result.document.evidence} >= {"配送", "値段", "店員", "態度"}


@pytest.mark.parametrize("text", ["今日はいい天気ですね", "こんにちは(^^)", "👍"])
def test_nothing_matching_is_other_with_score_one(topics, text):
    result = topic_of(topics, text)
    assert result.label == "other"
    assert result.scores == {"other": 1.0}
    assert result.evidence == []


def test_custom_taxonomy_replaces_the_default():
    cafe = parse_taxonomy(CAFE_YAML)
    analyzer = topic_analyzer(cafe)
    assert topic_of(analyzer, "ソファ席でラテを飲みました").scores.keys() == {"drinks", "seating"}
    assert topic_of(analyzer, "配送が遅い").label == "other"  # default keywords are gone
    assert cafe.labels() == {"drinks": "ドリンク", "seating": "座席", "other": "その他"}


def test_custom_taxonomy_changes_the_version_string(topics):
    cafe = RuleTopicAnalyzer(parse_taxonomy(CAFE_YAML))
    bumped = RuleTopicAnalyzer(parse_taxonomy(CAFE_YAML.replace("version: 3", "version: 4")))
    reworded = RuleTopicAnalyzer(parse_taxonomy(CAFE_YAML.replace("ソファ", "ベンチ")))
    assert topics.version.startswith("1.0.0+default.v1.")
    assert cafe.version.startswith("1.0.0+cafe-chain.v3.")
    assert len({topics.version, cafe.version, bumped.version, reworded.version}) == 4


def test_pipeline_with_a_custom_taxonomy_reports_its_topics_and_version(rules):
    tenant = rules.with_topics(topic_analyzer(parse_taxonomy(CAFE_YAML)))
    result = tenant.analyze([AnalysisInput("コーヒーが冷めていた。")])[0]
    assert result.topics == [{"id": "drinks", "name": "ドリンク", "score": 0.6}]
    assert result.model_versions["topics"].startswith("topic-rules@1.0.0+cafe-chain.v3.")
    assert result.model_versions["sentiment"] == rules.model_versions["sentiment"]


def test_json_is_accepted_as_yaml():
    taxonomy = parse_taxonomy('{"name": "json-shop", "topics": [{"id": "a", "label": "A", "keywords": ["返品"]}]}')
    assert taxonomy.version == 1
    assert [t.id for t in taxonomy.topics] == ["a"]


def topic_yaml(*topics: str) -> str:
    return "name: broken\ntopics:\n" + "".join(topics)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            topic_yaml(
                "  - {id: delivery, label: 配送, keywords: [配送]}\n",
                "  - {id: delivery, label: 発送, keywords: [発送]}\n",
            ),
            "duplicate topic ids: delivery",
        ),
        (topic_yaml("  - {id: other, label: その他, keywords: [その他]}\n"), "reserved"),
        (topic_yaml("  - {id: price, label: 価格, keywords: []}\n"), "keywords"),
        (topic_yaml("  - {id: price, label: 価格, keywords: ['  ', '']}\n"), "at least one non-empty keyword"),
        (topic_yaml("  - {id: 配送, label: 配送, keywords: [配送]}\n"), "should match pattern"),
        ("name: empty\ntopics: []\n", "topics"),
        ("- just\n- a list\n", "mapping"),
    ],
)
def test_invalid_taxonomies_raise(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_taxonomy(raw)


def test_default_taxonomy_is_valid_and_cached():
    taxonomy = default_taxonomy()
    assert taxonomy is default_taxonomy()
    assert {"delivery", "staff", "price", "support"} <= {t.id for t in taxonomy.topics}
    assert "other" not in {t.id for t in taxonomy.topics}


# --- stages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("解約したい", "retention"),
        ("来月で退会したいです", "retention"),
        ("友達に勧めたい", "advocacy"),
        ("友人に紹介しました！", "advocacy"),
        ("問い合わせたが返信がない", "support"),
        ("チャットで問い合わせたのに返事がない😡", "support"),
        ("比較して購入した", "purchase"),  # a tie goes to the later cue
    ],
)
def test_stage_from_cues(stages, text, stage):
    result = stage_of(stages, text)
    assert result.label == stage
    assert set(result.scores) == set(STAGES)
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-3)
    assert result.scores[stage] == max(result.scores.values())


@pytest.mark.parametrize("text", ["とても美味しかったです", "こんにちは", "(^^)"])
def test_no_cue_gives_no_stage(stages, text):
    result = stage_of(stages, text)
    assert result.label is None
    assert result.scores == {}
    assert result.evidence == []


def test_stage_evidence_points_at_the_cue(stages):
    doc = prepare("ＳＮＳで見て、解約を考えています")
    result = stages.analyze([doc])[0].document
    assert {(doc.text[e.start : e.end], e.label) for e in result.evidence} >= {
        ("SNS", "awareness"),
        ("解約", "retention"),
    }


# --- pipeline stage and versions ----------------------------------------------------------------


def test_given_stage_wins_and_the_prediction_is_kept(rules):
    stage = rules.analyze([AnalysisInput("解約したい", stage="usage", touchpoint="checkout")])[0].stage
    assert stage["label"] == "usage"
    assert stage["source"] == "given"
    assert stage["predicted"] == "retention"


def test_touchpoint_maps_to_a_stage(rules):
    stage = rules.analyze([AnalysisInput("解約したい", touchpoint="checkout")])[0].stage
    assert (stage["label"], stage["source"], stage["predicted"]) == ("purchase", "touchpoint", "retention")


def test_unknown_touchpoint_falls_back_to_the_prediction(rules):
    stage = rules.analyze([AnalysisInput("友達に勧めたい", touchpoint="vending_machine")])[0].stage
    assert (stage["label"], stage["source"]) == ("advocacy", "predicted")


def test_no_cue_no_stage_no_touchpoint(rules):
    stage = rules.analyze([AnalysisInput("とても美味しかったです")])[0].stage
    assert (stage["label"], stage["predicted"], stage["source"]) == (None, None, "none")


def test_tenant_touchpoints_extend_the_defaults():
    pipeline = build_pipeline("rules", touchpoint_stages={"kiosk": "usage"})
    inputs = [AnalysisInput("端末で注文しました", touchpoint="kiosk"), AnalysisInput("助かりました", touchpoint="cart")]
    stages = [r.stage for r in pipeline.analyze(inputs)]
    assert [s["label"] for s in stages] == ["usage", "purchase"]


def test_model_versions_name_every_analyzer(rules):
    result = rules.analyze([AnalysisInput("配送が遅い")])[0]
    assert set(result.model_versions) == {"sentiment", "topics", "stage"}
    assert result.model_versions["sentiment"].startswith("sentiment-rules@")
    assert result.model_versions["topics"].startswith("topic-rules@")
    assert result.model_versions["stage"].startswith("stage-rules@")


def test_pipeline_offsets_point_into_the_original_text(rules):
    text = "ｶﾞｯｶﾘ。配送が遅い😡"
    result = rules.analyze([AnalysisInput(text)])[0]
    assert [s["text"] for s in result.sentences] == ["ｶﾞｯｶﾘ。", "配送が遅い😡"]
    for item in result.sentences + result.explanations:
        assert text[item["offset"] : item["offset"] + item["length"]] == item["text"]
    assert {"ｶﾞｯｶﾘ", "😡", "配送"} <= {e["text"] for e in result.explanations}


def test_unknown_pipeline_name_raises():
    with pytest.raises(KeyError, match="unknown analyzer"):
        build_pipeline("bert")
