"""API shapes of jobs (uploads, re-scoring): the counters' names are the public contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: Literal["upload", "rescore"]
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    rows_total: int | None = Field(description="rows in the input, once counted")
    rows_done: int = Field(description="rows read so far, stored or rejected")
    rows_failed: int = Field(description="rows rejected; see /v1/jobs/{id}/errors")
    created: int
    updated: int
    unchanged: int
    rows_per_second: float | None = None
    eta_seconds: float | None = None
    error: str | None = Field(description="why the job failed, when it did")
    options: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class JobErrorPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    row_number: int = Field(description="the row number in the file, as a spreadsheet shows it")
    column: str | None
    reason: str


class JobErrorsPublic(BaseModel):
    data: list[JobErrorPublic]
    count: int
    next_after: int | None = Field(description="pass as ?after= for the next page; null at the end")
