"""The daily rollup answers exactly what the stored rows answer, after creates, updates and deletes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.db.repositories import analytics as repo
from app.db.repositories import rollup
from app.db.repositories.analytics import Calendar
from app.db.repositories.filters import FeedbackFilter
from app.db.tables import DailyRollup
from tests.factories import item

TEXTS = [
    "注文から1週間たっても届きません。配送が遅すぎて本当に困っています😡",
    "スタッフの方の接客がとても丁寧で、気持ちよく買い物ができました！",
    "値段は安いけど、サポートの対応が遅い。",
    "アプリがすぐ落ちる。ログインもできないし使い物にならない…",
    "悪くないです。また利用します(^^)",
    "解約の手続きがわかりにくく、電話もつながらない。",
]
CHANNELS = ["review", "chat", "survey", "email"]
BY: list[tuple[str, ...]] = [(), ("stage",), ("topic",), ("stage", "topic"), ("channel",), ("segment",), ("period",)]


def _items() -> list[dict[str, Any]]:
    return [
        item(
            TEXTS[i % len(TEXTS)],
            external_id=f"r-{i}",
            channel=CHANNELS[i % len(CHANNELS)],
            segment=["gold", None, "new"][i % 3],
            stage=["purchase", None, "support", None][i % 4],
            nps=(i * 7) % 11 if i % 3 else None,
            csat=(i % 5) + 1 if i % 2 else None,
            ces=(i % 7) + 1 if i % 4 == 0 else None,
            # around midnight in Tokyo (15:00 UTC) on several days
            written_at=f"2026-{9 + i % 3:02d}-{1 + i % 9:02d}T{14 + i % 3}:{(i * 13) % 60:02d}:00Z",
        )
        for i in range(36)
    ]


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((r for r in rows if r["n"]), key=lambda r: sorted((k, str(v)) for k, v in r.items()))


def assert_rollup_matches(session: Session) -> None:
    filters = [
        FeedbackFilter(),
        FeedbackFilter(channel="chat"),
        FeedbackFilter(topic="delivery"),
        FeedbackFilter(sentiment="negative", segment="gold"),
        FeedbackFilter(
            written_from=datetime(2026, 11, 2, 15, tzinfo=UTC), written_to=datetime(2026, 11, 6, 15, tzinfo=UTC)
        ),
        # 20 Sep – 5 Nov JST: October from month rows, the days around it from day rows
        FeedbackFilter(
            written_from=datetime(2026, 9, 19, 15, tzinfo=UTC), written_to=datetime(2026, 11, 4, 15, tzinfo=UTC)
        ),
        FeedbackFilter(written_to=datetime(2026, 11, 3, 15, tzinfo=UTC)),
        FeedbackFilter(written_from=datetime(2026, 10, 14, 15, tzinfo=UTC), channel="review"),
    ]
    checked = 0
    for interval in ("day", "week", "month"):
        calendar = Calendar(interval, rollup.zone())
        for f in filters:
            for by in BY:
                if not repo.rollup_answers(f, by, calendar):
                    continue
                kwargs: dict[str, Any] = {"tenant_id": "default", "f": f, "by": by, "calendar": calendar}
                fast, exact = repo.tallies(session, **kwargs), repo.tallies(session, use_rollup=False, **kwargs)
                assert _sorted(fast) == _sorted(exact), (interval, f, by)
                checked += 1
    assert checked >= 100


def test_rollup_follows_creates_updates_and_deletes(client: TestClient, session: Session) -> None:
    items = _items()
    assert client.post("/v1/feedback", json={"items": items}).status_code == 201
    assert_rollup_matches(session)

    changed = [
        {**items[0], "text": TEXTS[1]},  # new text: analyzed again, sentiment and topics move
        {**items[1], "nps": 0},  # score only: same analysis
        {**items[2], "channel": "sns"},
        {**items[3], "written_at": "2026-10-15T12:00:00+09:00"},  # another day
        {**items[4], "segment": "gold", "stage": "advocacy"},
    ]
    assert client.post("/v1/feedback", json={"items": changed}).json()["updated"] == 5
    listed = client.get("/v1/feedback", params={"limit": 3}).json()["data"]
    for row in listed:
        assert client.delete(f"/v1/feedback/{row['id']}").status_code == 204
    assert_rollup_matches(session)


def test_rebuild_reproduces_the_maintained_rollup(client: TestClient, session: Session) -> None:
    assert client.post("/v1/feedback", json={"items": _items()}).status_code == 201
    kwargs: dict[str, Any] = {"tenant_id": "default", "f": FeedbackFilter(), "by": ("stage", "topic")}
    maintained = repo.tallies(session, **kwargs)
    session.execute(delete(DailyRollup))
    assert repo.tallies(session, **kwargs) == []
    assert rollup.rebuild(session, zone=rollup.zone(), tenant_id="default") == 36
    assert _sorted(repo.tallies(session, **kwargs)) == _sorted(maintained)


@pytest.mark.parametrize(
    ("f", "by", "answers"),
    [
        (FeedbackFilter(), ("topic",), True),
        (FeedbackFilter(source="crm"), (), False),
        (FeedbackFilter(metadata={"store": "渋谷"}), (), False),
        (FeedbackFilter(nps=(0, 6)), (), False),
        (FeedbackFilter(topic="delivery"), ("topic",), False),
        (FeedbackFilter(written_from=datetime(2026, 11, 2, 15, tzinfo=UTC)), (), True),  # 00:00 JST
        (FeedbackFilter(written_from=datetime(2026, 11, 2, 16, tzinfo=UTC)), (), False),  # 01:00 JST
    ],
)
def test_which_questions_the_rollup_answers(f: FeedbackFilter, by: tuple[str, ...], answers: bool) -> None:
    assert repo.rollup_answers(replace(f), by, None) is answers
