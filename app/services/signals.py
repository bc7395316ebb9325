"""What needs attention: pain points with quotes, emerging issues, and the topics that drive NPS / CSAT."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.db.repositories import analytics as repo
from app.db.repositories.filters import FeedbackFilter
from app.db.repositories.rollup import DETRACTOR_MAX, PROMOTER_MIN, SATISFIED_MIN
from app.schemas.analytics import (
    Driver,
    DriversPublic,
    Emerging,
    EmergingPublic,
    PainPoint,
    PainPointsPublic,
    Quote,
    Regression,
)
from app.services import stats
from app.services.aggregates import as_period, percent, resolve_period, scaled, sentiment_cell, topic_names
from app.services.keywords import SAMPLE_LIMIT, score_terms
from models.taxonomy import OTHER_TOPIC

NEGATIVE = ("negative", "mixed")
QUOTE_CANDIDATES = 20  # newest negative analyses read per cell: enough for 3 diverse quotes of fitting length
QUOTE_LENGTH = (6, 120)  # a quote is one sentence an analyst can read at a glance
QUOTE_OVERLAP = 0.5  # character-bigram Jaccard above which two quotes say the same thing
QUOTE_RECENT = timedelta(days=7)
EMERGING_ALPHA = 0.05
EMERGING_MIN_RECENT = 5
EMERGING_TEST = (
    "one-sided pooled two-proportion z-test (recent window vs baseline), Benjamini–Hochberg adjusted across "
    "all topics and terms; flagged when adjusted p < 0.05 and at least 5 recent items"
)
REGRESSION_SAMPLE = 5_000
REGRESSION_MIN_PER_TERM = 10  # respondents per estimated coefficient before a regression is attempted
DRIVER_MIN_MENTIONS = 30


def pain_points(
    *,
    session: Session,
    tenant_id: str,
    f: FeedbackFilter,
    rank_by: str = "negative",
    by: str = "topic",
    limit: int = 10,
    quotes: int = 3,
    default_days: int = 30,
) -> PainPointsPublic:
    """Topics (or stage × topic cells) ranked by negative volume in the period, or by its rise against the
    previous period of the same length; each with the sentences customers actually wrote."""
    start, end = resolve_period(session, tenant_id=tenant_id, f=f, default_days=default_days)
    previous_start = start - (end - start)
    dims = ["stage", "topic"] if by == "stage_topic" else ["topic"]
    current = repo.tallies(session, tenant_id=tenant_id, f=f.with_period(start, end), by=dims)
    before = {
        tuple(r[d] for d in dims): r
        for r in repo.tallies(session, tenant_id=tenant_id, f=f.with_period(previous_start, start), by=dims)
    }
    names = topic_names(session, tenant_id)
    items = [_pain_point(row, before.get(tuple(row[d] for d in dims)), names) for row in current if row["negative"]]
    key = (lambda p: (-p.negative_change, -p.negative)) if rank_by == "change" else (lambda p: (-p.negative, -p.n))
    items = sorted(items, key=key)[:limit]
    cells = [(i.stage, i.topic) for i in items]
    found = representative_quotes(
        session, tenant_id=tenant_id, f=f.with_period(start, end), cells=cells, by_stage=by == "stage_topic", k=quotes
    )
    for item in items:
        item.quotes = found[(item.stage, item.topic)]
    return PainPointsPublic(
        period=as_period(start, end), previous=as_period(previous_start, start), rank_by=rank_by, items=items
    )


def _pain_point(row: dict[str, Any], previous: dict[str, Any] | None, names: dict[str, str]) -> PainPoint:
    cell = sentiment_cell(row)
    prev_n = previous["n"] if previous else 0
    prev_negative = previous["negative"] if previous else 0
    share_change = round(row["negative"] / row["n"] - prev_negative / prev_n, 4) if prev_n else None
    return PainPoint(
        topic=row["topic"],
        name=names.get(row["topic"], row["topic"]),
        stage=row.get("stage"),
        previous_n=prev_n,
        previous_negative=prev_negative,
        negative_change=row["negative"] - prev_negative,
        negative_share_change=share_change,
        negative_share_change_interval=stats.proportion_difference_interval(
            row["negative"], row["n"], prev_negative, prev_n
        ),
        quotes=[],
        **cell,
    )


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


def representative_quotes(
    session: Session, *, tenant_id: str, f: FeedbackFilter, cells: list[repo.QuoteCell], by_stage: bool, k: int
) -> dict[repo.QuoteCell, list[Quote]]:
    """Short, diverse, recent, for each (stage, topic) cell: the negative sentences about the topic (any
    negative sentence when the topic was found only at document level), skipping near-repeats of a quote
    already chosen. The newest week of the period is read first, the whole period only for the cells that
    week leaves short."""
    windows = [f]
    if f.written_from and f.written_to and f.written_to - f.written_from > QUOTE_RECENT:
        windows.insert(0, f.with_period(f.written_to - QUOTE_RECENT, f.written_to))
    chosen: dict[repo.QuoteCell, list[Quote]] = {cell: [] for cell in cells}
    pending = list(cells)
    for window in windows:
        candidates = repo.quote_candidates(
            session,
            tenant_id=tenant_id,
            f=window,
            cells=pending,
            by_stage=by_stage,
            sentiments=NEGATIVE,
            limit=QUOTE_CANDIDATES,
        )
        for cell in pending:
            chosen[cell] = _diverse_quotes(candidates[cell], topic=cell[1], k=k)
        pending = [cell for cell in pending if len(chosen[cell]) < k]
        if not pending:
            break
    return chosen


def _diverse_quotes(rows: list[tuple[int, datetime, list[dict[str, Any]]]], *, topic: str, k: int) -> list[Quote]:
    chosen: list[tuple[Quote, set[str]]] = []
    for feedback_id, written_at, sentences in rows:
        sentence = _best_sentence(sentences, topic)
        if sentence is None:
            continue
        grams = _bigrams(sentence["text"])
        if any(len(grams & other) / max(1, len(grams | other)) > QUOTE_OVERLAP for _, other in chosen):
            continue
        quote = Quote(
            feedback_id=feedback_id,
            written_at=written_at,
            text=sentence["text"].strip(),
            sentiment=sentence["sentiment"]["label"],
        )
        chosen.append((quote, grams))
        if len(chosen) == k:
            break
    return [quote for quote, _ in chosen]


def _best_sentence(sentences: list[dict[str, Any]], topic: str | None) -> dict[str, Any] | None:
    low, high = QUOTE_LENGTH
    fitting = [s for s in sentences if s["sentiment"]["label"] in NEGATIVE and low <= len(s["text"].strip()) <= high]
    on_topic = [s for s in fitting if topic is None or topic in s.get("topics", [])]
    pool = on_topic or fitting
    # The sentence the model is surest is negative carries the complaint.
    return max(pool, key=lambda s: s["sentiment"]["scores"].get("negative", 0.0)) if pool else None


def emerging(
    *,
    session: Session,
    tenant_id: str,
    f: FeedbackFilter,
    recent_days: int = 7,
    baseline_days: int = 28,
    limit: int = 20,
) -> EmergingPublic:
    """Topics and terms whose share of feedback, or whose negativity, rose in the recent window."""
    _, end = resolve_period(session, tenant_id=tenant_id, f=f, default_days=recent_days)
    recent_start = end - timedelta(days=recent_days)
    baseline_start = recent_start - timedelta(days=baseline_days)
    recent_f, baseline_f = f.with_period(recent_start, end), f.with_period(baseline_start, recent_start)
    total_recent = repo.tallies(session, tenant_id=tenant_id, f=recent_f)[0]["n"]
    total_baseline = repo.tallies(session, tenant_id=tenant_id, f=baseline_f)[0]["n"]
    recent = {r["topic"]: r for r in repo.tallies(session, tenant_id=tenant_id, f=recent_f, by=["topic"])}
    baseline = {r["topic"]: r for r in repo.tallies(session, tenant_id=tenant_id, f=baseline_f, by=["topic"])}
    names = topic_names(session, tenant_id)
    candidates: list[dict[str, Any]] = []
    for topic, row in recent.items():
        base = baseline.get(topic, {"n": 0, "negative": 0})
        candidates.append(
            {
                "kind": "topic",
                "key": topic,
                "name": names.get(topic, topic),
                "recent": (row["n"], total_recent),
                "baseline": (base["n"], total_baseline),
                "negative": ((row["negative"], row["n"]), (base["negative"], base["n"])),
            }
        )
    candidates += _term_candidates(session, tenant_id=tenant_id, recent_f=recent_f, baseline_f=baseline_f)
    items = _tested(candidates)
    items.sort(key=lambda e: (not e.flagged, min(e.volume_p, e.negativity_p or 1.0), -e.recent_n))
    return EmergingPublic(
        recent=as_period(recent_start, end),
        baseline=as_period(baseline_start, recent_start),
        test=EMERGING_TEST,
        alpha=EMERGING_ALPHA,
        items=items[:limit],
    )


def _term_candidates(
    session: Session, *, tenant_id: str, recent_f: FeedbackFilter, baseline_f: FeedbackFilter
) -> list[dict[str, Any]]:
    """Terms over-represented recently (log-odds screen on the newest documents), then tested like topics."""
    recent_docs = [set(t) for t in repo.recent_terms(session, tenant_id=tenant_id, f=recent_f, limit=SAMPLE_LIMIT)]
    baseline_docs = [set(t) for t in repo.recent_terms(session, tenant_id=tenant_id, f=baseline_f, limit=SAMPLE_LIMIT)]
    return [
        {
            "kind": "term",
            "key": term.term,
            "name": term.term,
            "recent": (term.count, len(recent_docs)),
            "baseline": (term.rest_count, len(baseline_docs)),
            "negative": None,
        }
        for term in score_terms(recent_docs, baseline_docs)[:30]
    ]


def _tested(candidates: list[dict[str, Any]]) -> list[Emerging]:
    volume = [stats.rise_test(*c["recent"], *c["baseline"]) for c in candidates]
    negativity = [stats.rise_test(*c["negative"][0], *c["negative"][1]) if c["negative"] else None for c in candidates]
    raw = volume + [p for p in negativity if p is not None]
    adjusted = iter(stats.benjamini_hochberg(raw))
    volume_adj = [next(adjusted) for _ in volume]
    negativity_adj = [next(adjusted) if p is not None else None for p in negativity]
    items = []
    for c, v, neg in zip(candidates, volume_adj, negativity_adj, strict=True):
        (x_r, n_r), (x_b, n_b) = c["recent"], c["baseline"]
        reasons = []
        if v < EMERGING_ALPHA and x_r >= EMERGING_MIN_RECENT:
            reasons.append("volume")
        if neg is not None and neg < EMERGING_ALPHA and c["negative"][0][0] >= EMERGING_MIN_RECENT:
            reasons.append("negativity")
        negative = c["negative"]
        items.append(
            Emerging(
                kind=c["kind"],
                key=c["key"],
                name=c["name"],
                recent_n=x_r,
                baseline_n=x_b,
                recent_share=round(x_r / n_r, 4) if n_r else 0.0,
                baseline_share=round(x_b / n_b, 4) if n_b else 0.0,
                volume_p=round(v, 6),
                recent_negative_share=_share(*negative[0]) if negative else None,
                baseline_negative_share=_share(*negative[1]) if negative else None,
                negativity_p=round(neg, 6) if neg is not None else None,
                flagged=bool(reasons),
                reasons=reasons,
            )
        )
    return items


def _share(x: int, n: int) -> float | None:
    return round(x / n, 4) if n else None


def drivers(*, session: Session, tenant_id: str, f: FeedbackFilter, target: str = "nps") -> DriversPublic:
    """Per topic: the score of respondents with vs without it (exact, from database tallies), and an OLS
    coefficient of the topic indicators on the newest respondents when there are enough of them."""
    # The tallies count respondents apart (nps_n, csat_n), so no score filter is needed (and the rollup answers).
    overall = repo.tallies(session, tenant_id=tenant_id, f=f)[0]
    per_topic = repo.tallies(session, tenant_id=tenant_id, f=f, by=["topic"])
    regression, coefficients = _regression(session, tenant_id=tenant_id, f=f, target=target)
    names = topic_names(session, tenant_id)
    items = [_driver(row, overall, target, names, coefficients.get(row["topic"])) for row in per_topic]
    items.sort(key=lambda d: (d.difference is None, d.difference if d.difference is not None else 0.0))
    n = overall["nps_n"] if target == "nps" else overall["csat_n"]
    return DriversPublic(target=target, n=n, regression=regression, items=items)


def _driver(
    row: dict[str, Any],
    overall: dict[str, Any],
    target: str,
    names: dict[str, str],
    coefficient: tuple[float, tuple[float, float]] | None,
) -> Driver:
    if target == "nps":
        with_ = (row["promoters"], row["detractors"], row["nps_n"])
        without = tuple(
            o - w for o, w in zip((overall["promoters"], overall["detractors"], overall["nps_n"]), with_, strict=True)
        )
        score_with = percent(with_[0] - with_[1], with_[2])
        score_without = percent(without[0] - without[1], without[2])
        interval = stats.nps_difference_interval(with_, without)
        extra = {
            "detractor_rate_with": _share(with_[1], with_[2]),
            "detractor_rate_without": _share(without[1], without[2]),
            "detractor_rate_difference_interval": stats.proportion_difference_interval(
                with_[1], with_[2], without[1], without[2]
            ),
        }
    else:
        with_ = (row["csat_satisfied"], 0, row["csat_n"])
        without = (overall["csat_satisfied"] - with_[0], 0, overall["csat_n"] - with_[2])
        score_with, score_without = percent(with_[0], with_[2]), percent(without[0], without[2])
        interval = stats.proportion_difference_interval(with_[0], with_[2], without[0], without[2])
        extra = {}
    difference = round(score_with - score_without, 2) if score_with is not None and score_without is not None else None
    return Driver(
        topic=row["topic"],
        name=names.get(row["topic"], row["topic"]),
        n_with=with_[2],
        n_without=without[2],
        score_with=score_with,
        score_without=score_without,
        difference=difference,
        difference_interval=scaled(interval),
        coefficient=coefficient[0] if coefficient else None,
        coefficient_interval=coefficient[1] if coefficient else None,
        low_n=min(with_[2], without[2]) < stats.LOW_N,
        **extra,
    )


def _regression(
    session: Session, *, tenant_id: str, f: FeedbackFilter, target: str
) -> tuple[Regression | None, dict[str, tuple[float, tuple[float, float]]]]:
    """OLS of the score in points (NPS: +100 promoter, −100 detractor, so a coefficient reads as NPS points;
    CSAT: 100 × satisfied) on indicators of the topics with ≥ 30 mentions, classical standard errors."""
    rows = repo.respondents(session, tenant_id=tenant_id, f=f, target=target, limit=REGRESSION_SAMPLE)
    mentions = Counter(t for _, _, topics in rows for t in set(topics))
    # "other" (no topic found) is the reference level: with it, topic indicators could sum to the intercept.
    topics = sorted(t for t, c in mentions.items() if c >= DRIVER_MIN_MENTIONS and t != OTHER_TOPIC)
    if not topics or len(rows) < REGRESSION_MIN_PER_TERM * (len(topics) + 1):
        return None, {}
    index = {t: i + 1 for i, t in enumerate(topics)}
    x = np.zeros((len(rows), len(topics) + 1))
    x[:, 0] = 1.0
    y = np.empty(len(rows))
    for r, (_, score, row_topics) in enumerate(rows):
        for t in row_topics:
            if t in index:
                x[r, index[t]] = 1.0
        if target == "nps":
            y[r] = 100.0 if score >= PROMOTER_MIN else -100.0 if score <= DETRACTOR_MAX else 0.0
        else:
            y[r] = 100.0 * (score >= SATISFIED_MIN)
    beta, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    if rank < x.shape[1]:  # topics that always co-occur (or cover everyone) cannot be told apart
        return None, {}
    residual = y - x @ beta
    dof = len(rows) - x.shape[1]
    sigma2 = float(residual @ residual) / dof
    covariance = sigma2 * np.linalg.pinv(x.T @ x)
    se = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    total = float(((y - y.mean()) ** 2).sum())
    regression = Regression(
        n=len(rows),
        topics=len(topics),
        r_squared=round(1.0 - float(residual @ residual) / total, 4) if total else 0.0,
        method=(
            f"OLS on topic indicators, classical SE, newest ≤ {REGRESSION_SAMPLE:,} respondents, "
            f"topics with ≥ {DRIVER_MIN_MENTIONS} mentions"
        ),
    )
    coefficients = {
        t: (
            round(float(beta[i]), 2),
            (round(float(beta[i] - stats.Z95 * se[i]), 2), round(float(beta[i] + stats.Z95 * se[i]), 2)),
        )
        for t, i in index.items()
    }
    return regression, coefficients
