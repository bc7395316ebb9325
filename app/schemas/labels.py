"""API shapes of analysts' label corrections (POST/GET /v1/feedback/{id}/labels)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from app.schemas.analysis import Emotion, StageId
from models.journey import stage_id

TopicId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class LabelCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"sentiment": "negative", "topics": ["delivery", "support"], "stage": "support"}]
        },
    )

    sentiment: Literal["positive", "neutral", "negative", "mixed"] | None = None
    topics: list[TopicId] | None = Field(
        None, max_length=20, description="ids of the tenant's active taxonomy; [] = none of them (その他)"
    )
    stage: StageId | None = Field(None, description="journey stage id or its Japanese name (認知…推奨)")
    emotions: list[Emotion] | None = Field(None, max_length=8, description="Plutchik emotions present; [] = none")

    @field_validator("stage", mode="before")
    @classmethod
    def _stage_label(cls, value: Any) -> Any:
        return stage_id(value) or value if isinstance(value, str) else value

    @model_validator(mode="after")
    def _at_least_one_label(self) -> LabelCreate:
        if self.sentiment is None and self.topics is None and self.stage is None and self.emotions is None:
            raise ValueError("give at least one of sentiment, topics, stage, emotions")
        return self


class LabelPublic(LabelCreate):
    model_config = ConfigDict(from_attributes=True)

    id: int
    feedback_id: int
    created_at: datetime
    analysis_id: int | None = Field(description="the analysis corrected (its model_versions say which models erred)")


class LabelsPublic(BaseModel):
    data: list[LabelPublic] = Field(description="oldest first; the last one is the item's current correction")
    count: int
