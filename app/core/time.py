"""Time helpers: every stored time is aware UTC; naive input is local time of the configured zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def to_utc(moment: datetime, zone: str) -> datetime:
    """Naive datetimes are read as local time of `zone` (Asia/Tokyo by default); the result is UTC."""
    aware = moment.replace(tzinfo=ZoneInfo(zone)) if moment.tzinfo is None else moment
    return aware.astimezone(UTC)
