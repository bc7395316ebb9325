"""A tenant's topics learned from its corrections: corrections through the API, `train_head` (what
`python -m pipelines.train --tenant T` runs) against the same database, the head used from the next request on
without a restart, stored items re-scored by the jobs API. A tiny randomly initialised model stands in for
koe-accurate (the plumbing, in seconds); what a head gains on real text is measured in docs/evaluation.md."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.services import taxonomy
from models import multitask
from models.analyzers import neural
from models.pipeline import AnalysisPipeline
from models.registry import build_pipeline
from pipelines import tenant_topics
from pipelines.train import main as train_main
from tests.api.test_rescore import drain
from tests.factories import item
from tests.models.tiny import write_tiny_base

# A hotel's own taxonomy: no keyword of `kids` appears in the items below, so only corrections can teach it.
HOTEL = """name: hotel
version: 1
topics:
  - id: kids
    label: 子連れ
    description: 子供連れの宿泊、キッズ向けサービス
    keywords: [キッズスペース]
  - id: bath
    label: 大浴場
    keywords: [大浴場, 露天風呂]
"""
KIDS = [
    "子供が喜んでいました",
    "子どもと一緒に泊まれて助かりました！",
    "息子がずっとはしゃいでいて、子供連れには最高です",
    "小さい子供がいるので和室がありがたかった",
    "子供用の浴衣があってよかったです(^^)",
    "赤ちゃん連れでも気兼ねなく過ごせました",
    "子供向けのバイキングメニューが充実していた",
    "子どもが夜泣きしても周りを気にせずにすみました",
    "娘が子供用スリッパを気に入ってました",
    "子供の食事を温めてもらえて助かった",
    "子連れ旅行でしたがスタッフさんが子供に優しくて感激",
    "子供が騒いでしまい申し訳なかったですが、嫌な顔ひとつされませんでした",
]
OTHERS = [
    "露天風呂からの眺めが最高でした",
    "大浴場が広くて気持ちよかった",
    "チェックインに30分も待たされた",
    "朝食のバイキングが美味しかったです",
    "部屋が少し狭かったけど清潔でした",
    "駅から遠いのが難点",
    "フロントの対応が丁寧でした",
    "ＷｉＦｉが遅くて仕事にならない…",
    "値段の割に部屋が古い",
    "また泊まりたいです",
    "駐車場が狭くて停めにくかった",
    "夕食の量が多すぎて食べきれなかった",
]


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> AnalysisPipeline:
    root = tmp_path_factory.mktemp("tiny")
    write_tiny_base(root / "base", layers=1)
    spec = multitask.ModelSpec(
        name="koe-tiny", version="0.0.1", base_model=str(root / "base"), max_length=64, topics=["delivery"]
    )
    from transformers import XLMRobertaModel

    encoder = XLMRobertaModel.from_pretrained(root / "base", add_pooling_layer=False)
    multitask.save(multitask.MultiTaskModel(encoder, spec), spec, root / "model")
    roles = neural.analyzers(root / "model", str(root / "base"))
    rules = build_pipeline("rules")
    return AnalysisPipeline(sentiment=roles["sentiment"], topics=rules.topics, stage=rules.stage)


@pytest.fixture
def hotel(client: TestClient, tiny_pipeline: AnalysisPipeline) -> Iterator[TestClient]:
    """The tiny model serving, the hotel taxonomy active, and every item corrected by an analyst."""
    rules = client.app.state.pipeline  # type: ignore[attr-defined]
    client.app.state.pipeline = tiny_pipeline  # type: ignore[attr-defined]
    assert client.put("/v1/taxonomy", content=HOTEL.encode()).status_code == 200
    texts = KIDS + OTHERS
    posted = client.post("/v1/feedback", json={"items": [item(t, external_id=f"r{i}") for i, t in enumerate(texts)]})
    for text, stored in zip(texts, posted.json()["items"], strict=True):
        topics = ["kids"] if text in KIDS else ["bath"] if "風呂" in text or "浴場" in text else []
        assert client.post(f"/v1/feedback/{stored['id']}/labels", json={"topics": topics}).status_code == 201
    yield client
    client.app.state.pipeline = rules  # type: ignore[attr-defined]


def topics_of(client: TestClient, text: str) -> tuple[list[str], str]:
    result = client.post("/v1/analyze", json={"documents": [{"text": text}]}).json()["documents"][0]
    return [t["id"] for t in result["topics"]], result["model_versions"]["topics"]


def test_a_head_learned_from_corrections_serves_from_the_next_request(
    hotel: TestClient, session: Session, settings: Settings, tiny_pipeline: AnalysisPipeline
) -> None:
    client = hotel
    before, version = topics_of(client, "子供がとても喜んでいました")
    assert before == ["other"] and version.startswith("topic-rules@")

    report = tenant_topics.train_head(session, tiny_pipeline, "default")
    assert report.examples == 24 and report.positives == {"kids": 12, "bath": 2}
    assert report.micro_f1_known < report.micro_f1_with_head  # cross-validated on the corrections
    assert report.registered is not None

    head = client.get("/v1/models").json()["topic_head"]
    assert (head["id"], head["examples"], head["topics"], head["serving"]) == (
        report.registered,
        24,
        ["kids", "bath"],
        True,
    )
    assert head["metrics"]["micro_f1_with_head"] == round(report.micro_f1_with_head, 4)

    after, version = topics_of(client, "子供がとても喜んでいました")
    assert "kids" in after
    assert version.startswith("tenant-topics@topic-rules@") and "+head." in version
    assert topics_of(client, "露天風呂が最高")[0][0] == "bath"  # the keyword rules still answer

    # Stored items are re-scored by a job, and their new analysis names the head.
    job = client.post("/v1/jobs/rescore").json()
    drain(session, settings, tiny_pipeline)
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "succeeded"
    stored = client.get("/v1/feedback", params={"limit": 100}).json()["data"]
    assert all(f["analysis"]["model_versions"]["topics"] == version for f in stored)
    assert sum("kids" in [t["id"] for t in f["analysis"]["topics"]] for f in stored) >= 10
    # Another tenant's pipeline is untouched by this tenant's head and taxonomy.
    assert taxonomy.pipeline_for(session=session, base=tiny_pipeline, tenant_id="acme") is tiny_pipeline


def test_a_head_is_dropped_with_its_taxonomy_and_never_serves_another_model(
    hotel: TestClient, session: Session, tiny_pipeline: AnalysisPipeline
) -> None:
    client = hotel
    assert tenant_topics.train_head(session, tiny_pipeline, "default").registered is not None
    assert topics_of(client, "子供が喜んでいました")[1].startswith("tenant-topics@")

    client.app.state.pipeline = build_pipeline("rules")  # type: ignore[attr-defined]  # vectors it never read
    assert topics_of(client, "子供が喜んでいました")[1].startswith("topic-rules@1.0.0+hotel.v1")
    client.app.state.pipeline = tiny_pipeline  # type: ignore[attr-defined]

    changed = HOTEL.replace("version: 1", "version: 2")
    assert client.put("/v1/taxonomy", content=changed.encode()).status_code == 200
    topics, version = topics_of(client, "子供が喜んでいました")
    assert topics == ["other"] and version.startswith("topic-rules@1.0.0+hotel.v2")
    assert client.get("/v1/models").json()["topic_head"]["serving"] is False  # registered, for the old taxonomy


def test_too_few_corrections_or_no_trained_model_say_what_is_missing(
    client: TestClient, session: Session, tiny_pipeline: AnalysisPipeline
) -> None:
    assert client.get("/v1/models").json()["topic_head"] is None
    posted = client.post("/v1/feedback", json={"items": [item("配送が遅い")]}).json()["items"][0]
    client.post(f"/v1/feedback/{posted['id']}/labels", json={"topics": ["delivery"]})
    with pytest.raises(tenant_topics.CannotTrain, match="has 1 items with corrected topics; at least 20"):
        tenant_topics.train_head(session, tiny_pipeline, "default")
    with pytest.raises(tenant_topics.CannotTrain, match="no trained model"):
        tenant_topics.train_head(session, build_pipeline("rules"), "default")


def test_train_command_reports_a_missing_model(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("KOE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("KOE_ANALYZER", "rules")
    from app.core.config import get_settings

    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exited:
            train_main(["--tenant", "nobody"])
    finally:
        get_settings.cache_clear()
    assert exited.value.code == 2
    assert "error: the serving pipeline has no trained model" in capsys.readouterr().out
