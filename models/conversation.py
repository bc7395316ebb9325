"""Helpdesk chats and call transcripts: turns from JSON or plain-text logs, and what the turns tell together."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SPEAKERS: dict[str, str] = {
    "customer": "customer",
    "お客様": "customer",
    "お客さま": "customer",
    "客": "customer",
    "顧客": "customer",
    "ユーザー": "customer",
    "user": "customer",
    "agent": "agent",
    "担当": "agent",
    "担当者": "agent",
    "オペレーター": "agent",
    "op": "agent",
    "スタッフ": "agent",
    "サポート": "agent",
    "店員": "agent",
    "cs": "agent",
    "bot": "bot",
    "ボット": "bot",
    "自動応答": "bot",
    "チャットボット": "bot",
}
LABELS = {"customer": "お客様", "agent": "担当者", "bot": "ボット"}
_LINE = re.compile(
    r"^\s*(?:[\[［(（]?(?P<time>\d{1,2}[:：]\d{2}(?:[:：]\d{2})?)[\]］)）]?\s*)?"
    r"(?P<speaker>[^\s:：>＞\]］]{1,12})\s*(?:[:：]|[>＞])\s*(?P<text>.*)$"
)
RESOLVED = (
    "解決しました",
    "解決できました",
    "助かりました",
    "直りました",
    "できました",
    "わかりました、ありがとう",
    "ありがとうございました",
)
UNRESOLVED = (
    "まだ直りません",
    "直らない",
    "直りません",
    "解決していません",
    "解決しない",
    "つながらない",
    "もういいです",
    "意味がない",
    "変わらない",
)


@dataclass(frozen=True, slots=True)
class Turn:
    speaker: str  # customer, agent or bot
    text: str
    at: datetime | None = None


def speaker_role(label: str, extra: dict[str, str] | None = None) -> str | None:
    table = {**SPEAKERS, **{k.lower(): v for k, v in (extra or {}).items()}}
    return table.get(label.strip().lower())


def parse_log(text: str, extra: dict[str, str] | None = None) -> list[Turn] | None:
    """Turns of a plain-text log (`[10:02] お客様: …`, `担当者：…`, `顧客 > …`); lines without a speaker continue
    the turn before. None unless at least two lines name a known speaker: then it is not a transcript."""
    turns: list[Turn] = []
    recognised = 0
    for line in text.splitlines():
        match = _LINE.match(line)
        role = speaker_role(match.group("speaker"), extra) if match else None
        if match and role:
            recognised += 1
            turns.append(Turn(role, match.group("text").strip(), _clock(match.group("time"))))
        elif turns and line.strip():
            turns[-1] = Turn(turns[-1].speaker, f"{turns[-1].text}\n{line.strip()}", turns[-1].at)
    return turns if recognised >= 2 else None


def _clock(value: str | None) -> datetime | None:
    if not value:
        return None
    parts = [int(p) for p in re.split(r"[:：]", value)]
    return datetime(1900, 1, 1, parts[0] % 24, parts[1], parts[2] if len(parts) > 2 else 0)


def when(moment: datetime | None) -> str | None:
    """ISO time of a turn; a log's bare clock time (10:02) stays a clock time."""
    if moment is None:
        return None
    return moment.time().isoformat() if moment.year == 1900 else moment.isoformat()


def parse_when(value: str | None) -> datetime | None:
    """The inverse of `when`: a stored ISO time, or a bare clock time, back to a datetime."""
    if not value:
        return None
    clock_only = "T" not in value and "-" not in value
    return datetime.fromisoformat(f"1900-01-01T{value}" if clock_only else value)


def render(turns: Sequence[Turn]) -> tuple[str, list[int]]:
    """The transcript as one text (`お客様: …` per line) and the offset of each turn's words in it."""
    parts, offsets, position = [], [], 0
    for turn in turns:
        prefix = f"{LABELS[turn.speaker]}: "
        offsets.append(position + len(prefix))
        parts.append(prefix + turn.text + "\n")
        position += len(parts[-1])
    return "".join(parts), offsets


def resolution(customer_texts: Sequence[str]) -> bool | None:
    """Does the customer's last word read as resolved? The last two customer turns decide; None if silent."""
    for text in reversed(customer_texts[-2:]):
        if any(cue in text for cue in UNRESOLVED):
            return False
        if any(cue in text for cue in RESOLVED):
            return True
    return None


def timing(turns: Sequence[Turn]) -> dict[str, float | None]:
    """First response (first customer turn → first agent answer) and the longest customer wait, in seconds."""
    waits, first, waiting_since = [], None, None
    for turn in turns:
        if turn.at is None:
            continue
        if turn.speaker == "customer" and waiting_since is None:
            waiting_since = turn.at
        elif turn.speaker == "agent" and waiting_since is not None:
            wait = (turn.at - waiting_since).total_seconds() % 86_400  # clock times may cross midnight
            first = wait if first is None else first
            waits.append(wait)
            waiting_since = None
    return {"first_response_seconds": first, "longest_wait_seconds": max(waits) if waits else None}


def summary(turns: Sequence[Turn], turn_sentiments: Sequence[str | None]) -> dict[str, Any]:
    """Sentiment of the customer's first vs last turn, timing, and whether it ended resolved."""
    customer = [(t, s) for t, s in zip(turns, turn_sentiments, strict=True) if t.speaker == "customer"]
    return {
        "customer_turns": len(customer),
        "sentiment_start": customer[0][1] if customer else None,
        "sentiment_end": customer[-1][1] if customer else None,
        "resolved": resolution([t.text for t, _ in customer]),
        **timing(turns),
    }
