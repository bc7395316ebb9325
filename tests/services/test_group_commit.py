"""Group commit: requests that wait while a transaction runs share the next one, each keeping its own answer, its
own failure and the order of its re-posts (real databases, real commits)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.errors import Invalid
from app.db.repositories import statistics
from app.db.tables import Feedback
from app.schemas.feedback import FeedbackBatchResult, FeedbackCreate, ItemOutcome
from app.services import group_commit as group_commit_module
from app.services.group_commit import GroupCommit, _Request
from models.analyzers.base import Analyzer
from models.document import Document
from models.pipeline import AnalysisPipeline

REVIEWS = [
    "配送が早くて助かりました！",
    "サイズが合わなかったので返品しました。手続きは簡単でした",
    "店員さんの対応が神だった😭",
    "安いけど、届くのが遅い。",
    "悪くないけど、また買うかは微妙…",
    "ｱﾌﾟﾘが落ちてﾛｸﾞｲﾝできません(´・ω・`)",
]


@pytest.fixture
def sessions(migrated_engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield sessionmaker(bind=migrated_engine, expire_on_commit=False)


@pytest.fixture
def commits(migrated_engine: Engine) -> Iterator[list[None]]:
    seen: list[None] = []

    def count(_: object) -> None:
        seen.append(None)

    event.listen(migrated_engine, "commit", count)
    yield seen
    event.remove(migrated_engine, "commit", count)


def items(*texts: str, source: str = "crm", ids: Sequence[str] | None = None) -> list[FeedbackCreate]:
    keys = ids or [uuid.uuid4().hex for _ in texts]
    return [FeedbackCreate(text=t, source=source, external_id=k) for t, k in zip(texts, keys, strict=True)]


def stored(sessions: sessionmaker[Session], tenant: str) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(Feedback.text).where(Feedback.tenant_id == tenant).order_by(Feedback.id)))


async def post_together(
    group_commit: GroupCommit,
    sessions: sessionmaker[Session],
    pipeline: AnalysisPipeline,
    requests: Sequence[tuple[str, list[FeedbackCreate]]],
) -> list[FeedbackBatchResult | BaseException]:
    """Send the requests at once, as concurrent HTTP requests would arrive: the first starts a transaction alone,
    the others wait for it."""
    opened = [sessions() for _ in requests]
    try:
        calls = [
            group_commit.ingest(session=s, base=pipeline, tenant_id=tenant, items=batch)
            for s, (tenant, batch) in zip(opened, requests, strict=True)
        ]
        answers = await asyncio.gather(*calls, return_exceptions=True)
        await group_commit.idle()  # a statistics refresh runs after the answers
        return answers
    finally:
        for s in opened:
            s.close()


def test_requests_that_wait_share_one_transaction_and_keep_their_own_answers(
    sessions: sessionmaker[Session], settings: Settings, pipeline: AnalysisPipeline, commits: list[None]
) -> None:
    tenant = f"group-{uuid.uuid4().hex[:8]}"
    group_commit = GroupCommit(settings, transactions=1, max_items=1_000)
    requests = [(tenant, items(REVIEWS[0])), (tenant, items(*REVIEWS[1:3])), (tenant, items(*REVIEWS[3:]))]

    answers = asyncio.run(post_together(group_commit, sessions, pipeline, requests))

    assert len(commits) == 2  # the first request alone, then the two that waited for it, together
    assert all(isinstance(a, FeedbackBatchResult) for a in answers)
    results = [a for a in answers if isinstance(a, FeedbackBatchResult)]
    assert [[o.index for o in r.items] for r in results] == [[0], [0, 1], [0, 1, 2]]
    assert [r.created for r in results] == [1, 2, 3]
    for (_, batch), result in zip(requests, results, strict=True):
        assert [o.external_id for o in result.items] == [i.external_id for i in batch]
    assert stored(sessions, tenant) == REVIEWS
    assert len({o.id for r in results for o in r.items}) == len(REVIEWS)


def test_a_re_post_waits_for_the_earlier_post_of_its_key_and_applies_after_it(
    sessions: sessionmaker[Session], settings: Settings, pipeline: AnalysisPipeline, commits: list[None]
) -> None:
    tenant = f"group-{uuid.uuid4().hex[:8]}"
    group_commit = GroupCommit(settings, transactions=1, max_items=1_000)
    requests = [
        (tenant, items("最初の投稿です。", ids=["a"])),
        (tenant, items("配送が遅いです。", ids=["k"])),
        (tenant, items("別の件：梱包が丁寧でした。", ids=["b"])),
        (tenant, items("配送が遅いです。追記：届きました！", ids=["k"])),  # same key as the second: after it
        (tenant, items("もう一件：アプリが重い。", ids=["c"])),
    ]

    answers = asyncio.run(post_together(group_commit, sessions, pipeline, requests))

    results = [a for a in answers if isinstance(a, FeedbackBatchResult)]
    assert [r.items[0].status for r in results] == ["created", "created", "created", "updated", "created"]
    assert results[1].items[0].id == results[3].items[0].id
    assert len(commits) == 3  # [first] · [second, third, fifth] · [fourth, the re-post]
    with sessions() as session:
        text = session.scalar(select(Feedback.text).where(Feedback.tenant_id == tenant, Feedback.external_id == "k"))
    assert text == "配送が遅いです。追記：届きました！"


def test_tenants_never_share_a_transaction(
    sessions: sessionmaker[Session], settings: Settings, pipeline: AnalysisPipeline, commits: list[None]
) -> None:
    a, b = (f"group-{uuid.uuid4().hex[:8]}" for _ in range(2))
    group_commit = GroupCommit(settings, transactions=1, max_items=1_000)
    requests = [(a, items(REVIEWS[0])), (b, items(REVIEWS[1])), (a, items(REVIEWS[2])), (b, items(REVIEWS[3]))]

    answers = asyncio.run(post_together(group_commit, sessions, pipeline, requests))

    assert all(isinstance(x, FeedbackBatchResult) for x in answers)
    assert len(commits) == 3  # [a] · [b, b] · [a]
    assert stored(sessions, a) == [REVIEWS[0], REVIEWS[2]]
    assert stored(sessions, b) == [REVIEWS[1], REVIEWS[3]]


class Exploding:
    """A sentiment analyzer that fails on one text, as a model might on an input it cannot take."""

    def __init__(self, inner: Analyzer) -> None:
        self.inner, self.name, self.version, self.portable = inner, inner.name, inner.version, False

    def analyze(self, documents: Sequence[Document]) -> list[Any]:
        if any("💥" in d.text for d in documents):
            raise RuntimeError("the analyzer cannot take this text")
        return self.inner.analyze(documents)


def test_a_request_that_fails_inside_a_group_fails_alone(
    sessions: sessionmaker[Session], settings: Settings, pipeline: AnalysisPipeline
) -> None:
    tenant = f"group-{uuid.uuid4().hex[:8]}"
    fragile = AnalysisPipeline(sentiment=Exploding(pipeline.sentiment), topics=pipeline.topics, stage=pipeline.stage)
    group_commit = GroupCommit(settings, transactions=1, max_items=1_000)
    requests = [
        (tenant, items(REVIEWS[0])),
        (tenant, items(REVIEWS[1])),
        (tenant, items("これは壊れる💥", REVIEWS[2])),  # fails: neither of its items may be stored
        (tenant, items(REVIEWS[3])),
    ]

    answers = asyncio.run(post_together(group_commit, sessions, fragile, requests))

    assert isinstance(answers[2], RuntimeError)
    assert [isinstance(a, FeedbackBatchResult) for a in answers] == [True, True, False, True]
    assert stored(sessions, tenant) == [REVIEWS[0], REVIEWS[1], REVIEWS[3]]


def test_a_refused_request_names_its_own_items_and_never_enters_a_group(
    sessions: sessionmaker[Session], settings: Settings, pipeline: AnalysisPipeline
) -> None:
    tenant = f"group-{uuid.uuid4().hex[:8]}"
    group_commit = GroupCommit(settings, transactions=1, max_items=1_000)
    twice = items(REVIEWS[1], REVIEWS[4], ids=["d", "d"])  # one key sent twice in a request: refused whole
    requests = [(tenant, items(REVIEWS[0])), (tenant, twice), (tenant, items(REVIEWS[2]))]

    answers = asyncio.run(post_together(group_commit, sessions, pipeline, requests))

    refused = answers[1]
    assert isinstance(refused, Invalid)
    assert [e.pointer for e in refused.errors] == ["/items/1/external_id"]
    assert stored(sessions, tenant) == [REVIEWS[0], REVIEWS[2]]


def test_a_group_stops_at_the_item_limit(settings: Settings, pipeline: AnalysisPipeline) -> None:
    group_commit = GroupCommit(settings, transactions=1, max_items=4)
    loop = asyncio.new_event_loop()
    try:
        for n in (2, 3, 1, 1):
            batch = items(*REVIEWS[:n])
            group_commit._waiting.append(_Request(None, pipeline, "t", batch, loop.create_future()))  # type: ignore[arg-type]
        first = group_commit._next_group()
        second = group_commit._next_group()
    finally:
        loop.close()
    # 2 + 3 > 4: the three-item request waits, the later one-item requests may join (no shared key)
    assert [len(r.items) for r in first] == [2, 1, 1]
    assert [len(r.items) for r in second] == [3]


def test_posts_keep_postgresql_knowing_the_rows_they_add(
    sessions: sessionmaker[Session],
    settings: Settings,
    pipeline: AnalysisPipeline,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without statistics, the key lookup of every POST reads all stored rows of its tenant (see
    app.db.repositories.statistics); the writers of POSTs analyze as upload jobs do."""
    with sessions() as session:
        if backend != "postgresql":
            assert not statistics.tracked(session)
            return
        before = session.scalar(select(func.count()).select_from(Feedback))
    monkeypatch.setattr(statistics.PlannerStatistics, "MIN_ROWS", 4)
    group_commit = GroupCommit(settings, transactions=1, max_items=1_000)
    tenant = f"group-{uuid.uuid4().hex[:8]}"
    requests = [(tenant, items(text)) for text in REVIEWS[:3]] + [(tenant, items(*REVIEWS[3:]))]

    asyncio.run(post_together(group_commit, sessions, pipeline, requests))

    with sessions() as session:  # analyzed once, after the second transaction had brought the count to 6 ≥ 4
        assert statistics.believed_rows(session) == before + 6


@pytest.mark.parametrize("failing", ["due", "refresh"])
def test_a_failed_statistics_refresh_leaves_the_stored_requests_answered(
    sessions: sessionmaker[Session],
    settings: Settings,
    pipeline: AnalysisPipeline,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failing: str,
) -> None:
    def refused(*_: Any) -> None:
        raise RuntimeError("ANALYZE was refused")

    group_commit = GroupCommit(settings, transactions=1, max_items=1_000)
    monkeypatch.setattr(group_commit._planner, "due", refused if failing == "due" else lambda *_: True)
    monkeypatch.setattr(group_commit._planner, "refresh", refused)
    tenant = f"group-{uuid.uuid4().hex[:8]}"

    answers = asyncio.run(post_together(group_commit, sessions, pipeline, [(tenant, items(REVIEWS[0]))]))

    assert isinstance(answers[0], FeedbackBatchResult) and answers[0].created == 1
    assert stored(sessions, tenant) == [REVIEWS[0]]
    assert "planner's statistics failed" in caplog.text


def test_the_statistics_refresh_runs_after_the_answers(
    sessions: sessionmaker[Session], settings: Settings, pipeline: AnalysisPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ANALYZE takes ~0.3 s on 30,000 rows: the requests of the group that makes it due must not wait for it."""
    group_commit = GroupCommit(settings, transactions=1, max_items=1_000)
    refreshing = threading.Event()
    monkeypatch.setattr(group_commit._planner, "due", lambda *_: True)
    monkeypatch.setattr(group_commit._planner, "refresh", lambda session: refreshing.wait(5))
    tenant = f"group-{uuid.uuid4().hex[:8]}"

    async def post() -> None:
        with sessions() as session:
            answer = await group_commit.ingest(session=session, base=pipeline, tenant_id=tenant, items=items("速い"))
        assert answer.created == 1 and group_commit._background  # answered, the refresh still running
        refreshing.set()
        await group_commit.idle()
        assert not group_commit._background

    asyncio.run(post())


def _timed_store(monkeypatch: pytest.MonkeyPatch, seconds: dict[str, float]) -> list[tuple[str, float, float]]:
    """feedback.store replaced by a stand-in taking `seconds[first item's text]`; (texts, start, end) per call."""
    calls: list[tuple[str, float, float]] = []

    def store(*, items: Sequence[FeedbackCreate], **_: Any) -> list[ItemOutcome]:
        started = time.monotonic()
        time.sleep(seconds[items[0].text])
        calls.append(("+".join(i.text for i in items), started, time.monotonic()))
        return [
            ItemOutcome(index=n, id=n + 1, external_id=i.external_id, status="created") for n, i in enumerate(items)
        ]

    monkeypatch.setattr(group_commit_module.feedback, "store", store)
    monkeypatch.setattr(statistics.PlannerStatistics, "due", lambda *_: False)  # no session: nothing was stored
    return calls


def _post_staggered(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    pipeline: AnalysisPipeline,
    seconds: dict[str, float],
    overlap_after: float,
) -> tuple[float, list[tuple[str, float, float]]]:
    """Each text of `seconds` a request of its own, 5 ms after the one before, into two transactions at most; when
    the first was posted (the event loop's clock) and the stand-in store's calls (see _timed_store)."""
    calls = _timed_store(monkeypatch, seconds)
    group_commit = GroupCommit(settings, transactions=2, max_items=1_000, overlap_after=overlap_after)

    async def post(delay: float, text: str) -> None:
        await asyncio.sleep(delay)
        await group_commit.ingest(session=None, base=pipeline, tenant_id="t", items=items(text))  # type: ignore[arg-type]

    async def all_of_them() -> None:
        await asyncio.gather(*(post(0.005 * n, text) for n, text in enumerate(seconds)))

    posted = time.monotonic()  # asyncio's default loop clock: no transaction starts before this
    asyncio.run(all_of_them())
    return posted, calls


def test_behind_a_short_transaction_requests_wait_for_it_and_go_together(
    settings: Settings, pipeline: AnalysisPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, calls = _post_staggered(monkeypatch, settings, pipeline, {"a": 0.05, "b": 0.0, "c": 0.0}, overlap_after=1.0)

    assert [texts for texts, _, _ in calls] == ["a", "b+c"]  # a second transaction at once would have taken b alone
    assert calls[1][1] >= calls[0][2]


def test_behind_a_long_transaction_a_second_one_starts_after_the_overlap_time(
    settings: Settings, pipeline: AnalysisPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    posted, calls = _post_staggered(
        monkeypatch, settings, pipeline, {"slow": 2.0, "b": 0.0, "c": 0.0}, overlap_after=0.1
    )

    (slow, _, slow_end), (together, start, end) = sorted(calls, key=lambda c: c[1])
    assert (slow, together) == ("slow", "b+c")
    # The slow transaction started after `posted`, so the second one no earlier than 0.1 s after it. (The slow one's
    # store call itself starts later, after its analysis: not the clock the overlap time runs on.)
    assert start - posted >= 0.1 and end < slow_end  # waited the overlap time, not for the slow one


def test_overlap_zero_starts_a_second_transaction_at_once(
    settings: Settings, pipeline: AnalysisPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, calls = _post_staggered(monkeypatch, settings, pipeline, {"a": 0.3, "b": 0.0}, overlap_after=0.0)

    assert [texts for texts, _, _ in calls] == ["b", "a"]  # b, started beside a, finished first
