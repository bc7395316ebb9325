"""Time helpers: every stored time is aware UTC; naive input is local time of the configured zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

# Times koe accepts, as written (any offset): far enough from datetime's year 1 and 9999 that converting to UTC
# and stepping whole periods back or ahead (pain points compare with the period before) never overflow.
EARLIEST, LATEST = datetime(1900, 1, 1), datetime(3000, 1, 1)


def supported(moment: datetime) -> datetime:
    """`moment` itself, when it lies in [1900-01-01, 3000-01-01); else a validation error."""
    if not EARLIEST <= moment.replace(tzinfo=None) < LATEST:
        raise PydanticCustomError("date_out_of_range", "a time must lie between 1900-01-01 and 2999-12-31")
    return moment


Moment = Annotated[datetime, AfterValidator(supported)]


def to_utc(moment: datetime, zone: str) -> datetime:
    """Naive datetimes are read as local time of `zone` (Asia/Tokyo by default); the result is UTC."""
    aware = moment.replace(tzinfo=ZoneInfo(zone)) if moment.tzinfo is None else moment
    return aware.astimezone(UTC)


INTERVALS = ("day", "week", "month")


def period_start(moment: datetime, interval: str, zone: str) -> date:
    """First local day of the calendar bucket holding `moment` (weeks start on Monday, as in ISO 8601)."""
    local = (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).astimezone(ZoneInfo(zone)).date()
    return bucket_start(local, interval)


def bucket_start(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def next_period(start: date, interval: str) -> date:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def sqlite_period(stored: str | None, interval: str, zone: str) -> str | None:
    """SQL function koe_period() for SQLite, which stores UTC times as naive ISO text and has no zones."""
    return period_start(datetime.fromisoformat(stored), interval, zone).isoformat() if stored else None


def sqlite_day_period(day: str | None, interval: str) -> str | None:
    """SQL function koe_day_period() for SQLite: the bucket of a local calendar day (stored as ISO text)."""
    return bucket_start(date.fromisoformat(day), interval).isoformat() if day else None
