"""Call quality scores (LLM-as-judge) and the nightly fine-tune runs."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field, id_field, json_field


class CallScore(SQLModel, table=True):
    """One judge verdict per call. ``score`` is null until the judge has answered."""

    __tablename__ = "call_scores"

    id: str = id_field()
    call_id: str = Field(foreign_key="calls.id", max_length=36, unique=True, index=True)
    # pending → scored | failed
    status: str = Field(default="pending", max_length=16, index=True)
    # The validated judge output (dimensions, overall, goal outcome, model, rubric version).
    score: dict | None = json_field(default_factory=lambda: None, nullable=True)
    overall: int | None = Field(default=None, index=True)
    rubric_version: str | None = Field(default=None, max_length=32)
    judge_model: str | None = Field(default=None, max_length=200)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=1000)
    scored_at: datetime | None = dt_field(index=True)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class FineTuneRun(SQLModel, table=True):
    """One night of the fine-tune pipeline. ``night`` is unique: a rerun is a no-op."""

    __tablename__ = "finetune_runs"

    id: str = id_field()
    night: date = Field(unique=True, index=True)
    # queued → training → evaluating → promoted | rejected; or skipped | failed
    status: str = Field(default="queued", max_length=16, index=True)
    # Every step, in order: [{"at": iso, "step": str, "detail": str}]
    steps: list = json_field(default_factory=list)
    n_examples: int = 0
    n_heldout: int = 0
    base_model: str | None = Field(default=None, max_length=200)
    baseline_model: str | None = Field(default=None, max_length=200)
    training_file_id: str | None = Field(default=None, max_length=200)
    job_id: str | None = Field(default=None, max_length=200)
    baseline_score: float | None = None
    candidate_score: float | None = None
    candidate_model: str | None = Field(default=None, max_length=200)
    # Set when this run promoted its candidate: the model alias agents now use.
    promoted_alias: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=1000)
    # Internal bookkeeping (call ids used, evaluation progress). Never exposed: call ids
    # are the read capability of anonymous demo calls.
    data: dict = json_field()
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    finished_at: datetime | None = dt_field()
