"""Shapes of the judge's answer, the stored score and the HTTP responses."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nova.quality.rubric import MAX_REASON_CHARS

GoalOutcome = Literal["achieved", "partial", "not_achieved", "unclear"]


def _one_line(value: str) -> str:
    line = re.sub(r"\s+", " ", value).strip()
    if not line:
        raise ValueError("reason is empty")
    return line[:MAX_REASON_CHARS]


class DimensionScore(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    score: int = Field(ge=1, le=5)
    reason: str

    @field_validator("reason")
    @classmethod
    def _reason_line(cls, v: str) -> str:
        return _one_line(v)


class Dimensions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    opening_rapport: DimensionScore
    discovery_qualification: DimensionScore
    objection_handling: DimensionScore
    goal_progress_close: DimensionScore
    compliance_professionalism: DimensionScore


class Judgement(BaseModel):
    """What the judge must answer (validated strictly: wrong types, missing or extra keys
    and out-of-range values are rejected)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    dimensions: Dimensions
    overall: int = Field(ge=0, le=100)
    goal_outcome: GoalOutcome
    summary: str

    @field_validator("summary")
    @classmethod
    def _summary_line(cls, v: str) -> str:
        return re.sub(r"\s+", " ", v).strip()[:MAX_REASON_CHARS]


class QualityScore(Judgement):
    """The stored and published score: the judgement plus its provenance."""

    model_config = ConfigDict(extra="forbid", strict=False)

    goal: str | None = None
    judge_model: str
    rubric_version: str


class CallQualityOut(BaseModel):
    call_id: str
    # pending | scored | failed (score is null unless scored)
    status: str
    scored_at: datetime | None
    score: QualityScore | None


class FineTuneStep(BaseModel):
    at: str
    step: str
    detail: str = ""


class FineTuneStatusOut(BaseModel):
    enabled: bool
    configured: bool
    # never_run | queued | training | evaluating | promoted | rejected | skipped | failed
    status: str
    night: date | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    n_examples: int = 0
    n_heldout: int = 0
    base_model: str | None = None
    baseline_model: str | None = None
    baseline_score: float | None = None
    candidate_model: str | None = None
    candidate_score: float | None = None
    # The alias agents use now (the last promoted candidate), null = the base model.
    promoted_alias: str | None = None
    error: str | None = None
    steps: list[FineTuneStep] = Field(default_factory=list)
