"""API shapes of stored feedback: Base → Create → Public, lists as {data, count, next_cursor}."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from app.core.time import Moment, supported
from app.schemas.analysis import AnalysisPublic, StageId
from app.schemas.nul import RefusesNul
from models.conversation import Turn, render
from models.journey import stage_id

Channel = Literal["review", "chat", "survey", "email", "call", "sns", "other"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class FeedbackBase(BaseModel):
    source: Name = Field("api", description="where the item came from, e.g. zendesk, app_store, nps_survey_2026q4")
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = Field(
        None, description="the item's id in the source system; re-posting it updates, never duplicates"
    )
    channel: Channel = "other"
    written_at: datetime | None = Field(None, description="when the customer wrote it; naive times are Asia/Tokyo")
    nps: int | None = Field(None, ge=0, le=10, strict=True, description="likelihood to recommend, 0–10")
    csat: int | None = Field(None, ge=1, le=5, strict=True, description="satisfaction, 1–5")
    ces: int | None = Field(None, ge=1, le=7, strict=True, description="customer effort, 1–7")
    touchpoint: Annotated[str, StringConstraints(max_length=64)] | None = None
    stage: StageId | None = Field(None, description="journey stage given by the caller (id or 認知…推奨)")
    customer_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    segment: Annotated[str, StringConstraints(max_length=128)] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class TurnIn(BaseModel):
    """One turn of a transcript."""

    model_config = ConfigDict(extra="forbid")

    speaker: Literal["customer", "agent", "bot"]
    text: str = Field(min_length=1)
    at: Moment | None = None


class TurnPublic(BaseModel):
    speaker: Literal["customer", "agent", "bot"]
    text: str
    at: str | None = Field(None, description="ISO 8601 time, or a log's clock time (10:02:00)")


class FeedbackCreate(FeedbackBase, RefusesNul):
    model_config = ConfigDict(extra="forbid")

    turns: list[TurnIn] | None = Field(
        None, min_length=1, description="a chat or call transcript; only customer turns decide the sentiment"
    )
    text: str = Field(
        "",
        validate_default=True,
        description="the customer's words (at most KOE_MAX_TEXT_GRAPHEMES characters); for a transcript send "
        "`turns` instead, or the log as text (`お客様: …` / `担当者: …` lines are recognised)",
    )

    @field_validator("turns")
    @classmethod
    def _one_kind_of_time(cls, turns: list[TurnIn] | None) -> list[TurnIn] | None:
        # A wait between a time with an offset and one without cannot be measured.
        if turns and len({t.at.tzinfo is None for t in turns if t.at}) > 1:
            raise PydanticCustomError("mixed_time_offsets", "give every turn's time a UTC offset, or none")
        return turns

    @field_validator("written_at")
    @classmethod
    def _supported_time(cls, written_at: datetime | None) -> datetime | None:
        return supported(written_at) if written_at else written_at

    @field_validator("text")
    @classmethod
    def _text_or_turns(cls, text: str, info: ValidationInfo) -> str:
        if "turns" not in info.data:
            return text  # the turns were invalid: that is the error to report, not an empty text
        turns = info.data.get("turns")
        if turns:
            if text.strip():
                raise PydanticCustomError("text_and_turns", "send either text or turns, not both")
            return render([Turn(t.speaker, t.text, t.at) for t in turns])[0]
        if not text.strip():
            raise PydanticCustomError("empty_text", "text is empty or whitespace only")
        return text

    @field_validator("stage", mode="before")
    @classmethod
    def _stage_label(cls, value: Any) -> Any:
        return stage_id(value) or value if isinstance(value, str) else value


class FeedbackBatchCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "source": "zendesk",
                            "external_id": "T-1024",
                            "channel": "chat",
                            "text": "注文した商品がまだ届きません。問い合わせても返信がなく困っています。",
                            "written_at": "2026-11-03T14:05:00+09:00",
                            "nps": 3,
                            "touchpoint": "delivery",
                        }
                    ]
                }
            ]
        },
    )

    items: list[FeedbackCreate] = Field(min_length=1)


class FeedbackPublic(FeedbackBase):
    model_config = ConfigDict(from_attributes=True)

    text: str
    turns: list[TurnPublic] | None = None
    id: int
    written_at: datetime
    received_at: datetime
    updated_at: datetime
    analysis: AnalysisPublic | None


class FeedbacksPublic(BaseModel):
    data: list[FeedbackPublic]
    count: int = Field(description="items in this page")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class ItemOutcome(BaseModel):
    index: int
    id: int
    external_id: str | None
    status: Literal["created", "updated", "unchanged"]


class FeedbackBatchResult(BaseModel):
    items: list[ItemOutcome]
    created: int
    updated: int
    unchanged: int
