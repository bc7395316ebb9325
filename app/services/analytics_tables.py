"""Analytics answers as flat tables for `?format=csv`: the same numbers as the JSON, one row per cell.

Nested objects become dotted columns (`shares.positive`), intervals `_low` / `_high` pairs, quotes one
column joined by " / ". Everything is derived from the JSON model, so the two formats cannot disagree."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel

from app.schemas.analytics import (
    AspectRankingPublic,
    ComparePublic,
    DriversPublic,
    EmergingPublic,
    EmotionBreakdownPublic,
    JourneyPublic,
    KeywordsPublic,
    PainPointsPublic,
    ScoresPublic,
    TrendsPublic,
)
from app.services.export import csv_stream


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            out.update(flatten(item, name + "."))
        elif key.endswith("interval") and (item is None or isinstance(item, list | tuple)):
            out[name + "_low"], out[name + "_high"] = item or (None, None)
        elif isinstance(item, list):
            out[name] = " / ".join(str(v.get("text", v)) if isinstance(v, dict) else str(v) for v in item)
        else:
            out[name] = item
    return out


def _journey(r: JourneyPublic) -> Iterator[dict[str, Any]]:
    for level, cells in (("stage", r.stages), ("topic", r.topics), ("stage_topic", r.cells)):
        for cell in cells:
            yield {"level": level, **flatten(cell)}


def _scores(r: ScoresPublic) -> Iterator[dict[str, Any]]:
    yield {"dimension": "overall", **flatten(r.overall)}
    for dimension, groups in (("stage", r.by_stage), ("channel", r.by_channel), ("segment", r.by_segment)):
        for group in groups:
            yield {"dimension": dimension, **flatten(group)}


def _trends(r: TrendsPublic) -> Iterator[dict[str, Any]]:
    for series in r.series:
        for point in series.points:
            yield {"key": series.key, "name": series.name, **flatten(point)}


def _keywords(r: KeywordsPublic) -> Iterator[dict[str, Any]]:
    yield from ({"kind": "term", **flatten(t)} for t in r.terms)
    yield from ({"kind": "pair", **flatten(p)} for p in r.pairs)


def _compare(r: ComparePublic) -> Iterator[dict[str, Any]]:
    yield {"topic": "(NPS)", "difference": r.nps_difference, **_interval(r.nps_difference_interval)}
    yield {"topic": "(net sentiment)", "difference": r.net_sentiment_difference}
    yield from (flatten(t) for t in r.topics)


def _emotions(r: EmotionBreakdownPublic) -> Iterator[dict[str, Any]]:
    yield from ({"stage": "(all)", "scored": r.scored, **flatten(e)} for e in r.emotions)
    for stage in r.stages:
        yield from ({"stage": stage.stage, "scored": stage.scored, **flatten(e)} for e in stage.emotions)


def _interval(interval: tuple[float, float] | None) -> dict[str, Any]:
    return {"difference_interval_low": interval[0], "difference_interval_high": interval[1]} if interval else {}


TABLES: dict[type, Callable[[Any], Iterator[dict[str, Any]]]] = {
    JourneyPublic: _journey,
    EmotionBreakdownPublic: _emotions,
    ScoresPublic: _scores,
    TrendsPublic: _trends,
    PainPointsPublic: lambda r: (flatten(item) for item in r.items),
    DriversPublic: lambda r: (flatten(item) for item in r.items),
    EmergingPublic: lambda r: (flatten(item) for item in r.items),
    KeywordsPublic: _keywords,
    ComparePublic: _compare,
    AspectRankingPublic: lambda r: (flatten(a) for a in r.aspects),
}


def table(result: BaseModel) -> list[dict[str, Any]]:
    return list(TABLES[type(result)](result))


def csv_bytes(result: BaseModel) -> bytes:
    rows = table(result)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return b"".join(csv_stream(iter(rows), "utf-8", columns))
