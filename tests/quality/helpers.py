"""Shared builders for the quality tests: calls created directly (the calls domain is built
in parallel), judge answers, and an OpenAI-compatible files/fine-tuning peer."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aiohttp import web

from nova.core import clock
from nova.core.db import session_scope
from nova.core.events import emit
from nova.models.calls import Call, CallContext
from nova.models.quality import CallScore
from nova.quality.rubric import DIMENSION_KEYS

TRANSCRIPT = [
    {"role": "agent", "text": "Hi Sarah, this is Nova calling about Acme CRM.", "at": "t0"},
    {"role": "user", "text": "Hi. My number is +1 415 555 0100, who is this?", "at": "t1"},
    {"role": "agent", "text": "Nova, from Acme. Is now a good time?", "at": "t2"},
    {
        "role": "user",
        "text": "Sure, email me at sarah.connor@example.com. Connor here.",
        "at": "t3",
    },
    {"role": "agent", "text": "Great, can we book 15 minutes on Tuesday?", "at": "t4"},
    {"role": "user", "text": "Yes, Tuesday works.", "at": "t5"},
]


def judgement(overall: int = 82, score: int = 4, **overrides: Any) -> dict:
    body = {
        "dimensions": {
            k: {"score": score, "reason": f"{k} was handled well"} for k in DIMENSION_KEYS
        },
        "overall": overall,
        "goal_outcome": "achieved",
        "summary": "Ask for the meeting a little earlier.",
    }
    body.update(overrides)
    return body


async def make_call(
    user_id: str | None = None,
    *,
    transcript: list | None = None,
    lead_name: str | None = "Sarah Connor",
    goal: str = "book_meeting",
    instructions: str = "You are calling Sarah Connor (sarah.connor@example.com) for Acme.",
) -> str:
    """A completed call with its brief; returns the call id."""
    async with session_scope() as s:
        ctx = CallContext(
            user_id=user_id,
            batch_id=str(uuid.uuid4()),
            product="Acme CRM",
            goal=goal,
            lead={"name": lead_name, "phone": "+14155550100", "email": "sarah.connor@example.com"},
            agent_instructions=instructions,
        )
        s.add(ctx)
        await s.flush()
        call = Call(
            user_id=user_id,
            batch_id=ctx.batch_id,
            context_id=ctx.id,
            phone="+14155550100",
            lead_name=lead_name,
            owner_email="owner@example.com",
            goal=goal,
            status="completed",
            room_name=f"call-{ctx.id}",
            transcript=TRANSCRIPT if transcript is None else transcript,
        )
        s.add(call)
        await s.flush()
        return call.id


async def transcribed(call_id: str, customer_id: str | None = None) -> None:
    """Emit call.transcribed the way the calls domain does."""
    async with session_scope() as s:
        call = await s.get(Call, call_id)
        await emit(
            s,
            "call.transcribed",
            {
                "call_id": call_id,
                "customer_id": customer_id,
                "transcript": call.transcript,
                "turns": len(call.transcript or []),
            },
        )


async def scored_call(user_id: str | None = None, overall: int = 90, **kw: Any) -> str:
    """A call already scored (fine-tune input)."""
    call_id = await make_call(user_id, **kw)
    async with session_scope() as s:
        s.add(
            CallScore(
                call_id=call_id,
                status="scored",
                score={**judgement(overall), "judge_model": "judge", "rubric_version": "t"},
                overall=overall,
                rubric_version="test",
                judge_model="judge",
                scored_at=clock.now(),
            )
        )
    return call_id


class FineTuneAPI:
    """Files and fine-tuning jobs on a FakeOpenAI, through its ``route()`` hook."""

    def __init__(self, fake) -> None:
        self.fake = fake
        self.uploads: list[dict[str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        fake.route("POST", "/v1/files", self._upload)
        fake.route("POST", "/v1/fine_tuning/jobs", self._create)

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        f = form["file"]
        content = f.file.read().decode()
        file_id = f"file-{uuid.uuid4().hex[:8]}"
        self.uploads.append({"id": file_id, "purpose": form["purpose"], "content": content})
        return web.json_response(
            {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": f.filename,
                "purpose": form["purpose"],
                "status": "processed",
            }
        )

    def _job(self, job_id: str) -> dict[str, Any]:
        return self.jobs[job_id]

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.created.append(body)
        job_id = f"ftjob-{len(self.created)}"
        self.jobs[job_id] = {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": int(time.time()),
            "model": body["model"],
            "training_file": body["training_file"],
            "organization_id": "org-test",
            "hyperparameters": {"n_epochs": "auto"},
            "result_files": [],
            "seed": 1,
            "status": "queued",
            "fine_tuned_model": None,
            "error": None,
            "metadata": body.get("metadata"),
        }

        async def get(_: web.Request) -> web.Response:
            return web.json_response(self.jobs[job_id])

        async def cancel(_: web.Request) -> web.Response:
            self.cancelled.append(job_id)
            self.jobs[job_id]["status"] = "cancelled"
            return web.json_response(self.jobs[job_id])

        self.fake.route("GET", f"/v1/fine_tuning/jobs/{job_id}", get)
        self.fake.route("POST", f"/v1/fine_tuning/jobs/{job_id}/cancel", cancel)
        return web.json_response(self.jobs[job_id])

    def finish(self, job_id: str, model: str | None = None, status: str = "succeeded") -> None:
        job = self.jobs[job_id]
        job["status"] = status
        job["fine_tuned_model"] = model
        if status == "failed":
            job["error"] = {"code": "invalid_training_file", "message": "bad file", "param": None}


def judge_request(body: dict) -> bool:
    return "response_format" in body


def transcript_of(body: dict) -> str:
    return body["messages"][-1]["content"]


def dumps(obj: Any) -> str:
    return json.dumps(obj)
