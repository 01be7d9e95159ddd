"""The nightly fine-tune loop against an OpenAI-compatible files/fine-tuning peer."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from nova.core.db import session_scope
from nova.core.runner import _scheduled
from nova.models.events import Task
from nova.models.quality import FineTuneRun
from nova.quality import finetune
from tests.quality.helpers import FineTuneAPI, judge_request, judgement, scored_call

CANDIDATE = "ft:gpt-4o-mini:nova:cand-1"


def _scripted(baseline_overall: int, candidate_overall: int):
    """Generations say which model wrote them; the judge scores each replay by author."""

    def chat(body):
        if judge_request(body):
            transcript = body["messages"][-1]["content"]
            return json.dumps(
                judgement(candidate_overall if "CANDIDATE" in transcript else baseline_overall)
            )
        who = "CANDIDATE" if body["model"].startswith("ft:gpt-4o-mini:nova:cand") else "BASE"
        return f"{who} says hello"

    return chat


@pytest.fixture
async def ft(openai_fake, settings, clock):
    settings.finetune_enabled = True
    settings.finetune_min_examples = 3
    settings.finetune_poll_seconds = 300
    return FineTuneAPI(openai_fake)


async def _run(night: date | None = None) -> FineTuneRun:
    async with session_scope() as s:
        q = select(FineTuneRun)
        if night:
            q = q.where(FineTuneRun.night == night)
        return (await s.execute(q.order_by(FineTuneRun.night.desc()))).scalars().first()


async def _seed(n: int = 5, overall: int = 90) -> list[str]:
    return [await scored_call(None, overall=overall) for _ in range(n)]


async def _train_to_success(ft, pump, clock) -> FineTuneRun:
    await pump.drain()
    run = await _run()
    assert run.status == "training"
    clock.advance(300)
    await pump.drain()  # still queued at the provider
    ft.finish(run.job_id, CANDIDATE)
    clock.advance(300)
    await pump.drain()  # trained → evaluation of every held-out call → decision
    return await _run()


async def test_better_candidate_is_promoted(client, ft, openai_fake, settings, pump, clock):
    openai_fake.chat = _scripted(baseline_overall=70, candidate_overall=85)
    await _seed(5)
    await scored_call(None, overall=60)  # below the threshold: not training data
    async with session_scope() as s:
        run = await finetune.start_night(s, settings)
    assert run.night == date(2026, 6, 12)

    await pump.drain()
    run = await _run()
    assert (run.status, run.n_examples, run.n_heldout) == ("training", 4, 1)
    [upload] = ft.uploads
    assert upload["purpose"] == "fine-tune"
    lines = [json.loads(x) for x in upload["content"].splitlines()]
    assert len(lines) == 4 and all(ex["messages"][0]["role"] == "system" for ex in lines)
    for leak in ("Sarah", "Connor", "415", "sarah.connor@example.com"):
        assert leak not in upload["content"]
    assert "[PHONE]" in upload["content"] and "[EMAIL]" in upload["content"]
    [job] = ft.created
    assert job["model"] == "gpt-4o-mini" and job["suffix"] == "nova"
    assert job["training_file"] == upload["id"]
    assert job["metadata"]["nova_run_id"] == run.id

    run = await _train_to_success(ft, pump, clock)
    assert run.status == "promoted"
    assert (run.baseline_score, run.candidate_score) == (70.0, 85.0)
    assert run.baseline_model == "gpt-4o-mini" and run.candidate_model == CANDIDATE
    assert run.promoted_alias == CANDIDATE
    steps = [s["step"] for s in run.steps]
    assert steps == [
        "queued",
        "dataset",
        "uploaded",
        "submitted",
        "trained",
        "evaluated",
        "promoted",
    ]
    models = {b["model"] for b in openai_fake.requests if not judge_request(b)}
    assert models == {"gpt-4o-mini", CANDIDATE}
    async with session_scope() as s:
        assert await finetune.promoted_model(s) == CANDIDATE

    r = await client.get("/finetune/status")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "promoted" and body["promoted_alias"] == CANDIDATE
    assert body["baseline_score"] == 70.0 and body["candidate_score"] == 85.0
    assert body["night"] == "2026-06-12" and body["enabled"] is True
    assert [s["step"] for s in body["steps"]] == steps
    assert "data" not in body  # held-out call ids are read capabilities: never exposed
    for cid in run.data["heldout"]:
        assert cid not in r.text


async def test_worse_candidate_is_rejected_and_baseline_stays(
    client, ft, openai_fake, settings, pump, clock
):
    async with session_scope() as s:
        s.add(
            FineTuneRun(
                night=date(2026, 6, 11),
                status="promoted",
                promoted_alias="ft:gpt-4o-mini:nova:old",
                candidate_model="ft:gpt-4o-mini:nova:old",
                finished_at=clock.now() - timedelta(days=1),
            )
        )
    openai_fake.chat = _scripted(baseline_overall=80, candidate_overall=75)
    await _seed(5)
    async with session_scope() as s:
        await finetune.start_night(s, settings)
    run = await _train_to_success(ft, pump, clock)
    assert run.status == "rejected"
    assert run.baseline_model == "ft:gpt-4o-mini:nova:old"  # the promoted model is the baseline
    assert (run.baseline_score, run.candidate_score) == (80.0, 75.0)
    assert run.promoted_alias is None
    assert run.steps[-1]["step"] == "rejected" and "baseline stays" in run.steps[-1]["detail"]
    async with session_scope() as s:
        assert await finetune.promoted_model(s) == "ft:gpt-4o-mini:nova:old"
    body = (await client.get("/finetune/status")).json()
    assert body["status"] == "rejected"
    assert body["promoted_alias"] == "ft:gpt-4o-mini:nova:old"


async def test_equal_scores_do_not_promote(ft, openai_fake, settings, pump, clock):
    openai_fake.chat = _scripted(baseline_overall=80, candidate_overall=80)
    await _seed(5)
    async with session_scope() as s:
        await finetune.start_night(s, settings)
    run = await _train_to_success(ft, pump, clock)
    assert run.status == "rejected"
    async with session_scope() as s:
        assert await finetune.promoted_model(s) is None


async def test_rerun_for_the_same_night_is_idempotent(ft, openai_fake, settings, pump, clock):
    openai_fake.chat = _scripted(70, 85)
    await _seed(5)
    first = await finetune.run_nightly()
    clock.advance(3600)  # later that night (same date)
    second = await finetune.run_nightly()
    assert second.id == first.id
    async with session_scope() as s:
        assert await s.scalar(select(func.count()).select_from(FineTuneRun)) == 1
        assert await s.scalar(select(func.count()).select_from(Task)) == 1
    await pump.drain()
    assert await finetune.run_nightly() is not None
    await pump.drain()
    assert len(ft.created) == 1 and len(ft.uploads) == 1

    clock.advance(days=1)  # next night, while the job still trains: no second job
    assert await finetune.run_nightly() is None
    run = await _run()
    assert run.id == first.id and run.steps[-1]["step"] == "night_skipped"

    ft.finish(run.job_id, None, status="failed")
    await pump.drain()
    assert (await _run()).status == "failed"
    nxt = await finetune.run_nightly()  # the same night, once the earlier run is over
    assert nxt.id != first.id and nxt.night == date(2026, 6, 13)


async def test_a_run_stuck_past_max_hours_is_abandoned(ft, openai_fake, settings, pump, clock):
    await _seed(5)
    first = await finetune.run_nightly()
    await pump.drain()
    clock.advance(hours=settings.finetune_max_hours + 1)
    second = await finetune.run_nightly()
    assert second is not None and second.id != first.id
    async with session_scope() as s:
        old = await s.get(FineTuneRun, first.id)
    assert old.status == "failed" and old.steps[-1]["step"] == "abandoned"


async def test_too_few_examples_skips_the_night(client, ft, settings, pump, clock):
    await _seed(3)  # 1 held out → 2 training examples < 3
    async with session_scope() as s:
        await finetune.start_night(s, settings)
    await pump.drain()
    run = await _run()
    assert run.status == "skipped" and run.finished_at is not None
    assert "2 training examples, 3 needed" in run.steps[-1]["detail"]
    assert ft.uploads == [] and ft.created == []
    assert (await client.get("/finetune/status")).json()["status"] == "skipped"


async def test_failed_job_fails_the_run(ft, openai_fake, settings, pump, clock):
    openai_fake.chat = _scripted(70, 85)
    await _seed(5)
    async with session_scope() as s:
        await finetune.start_night(s, settings)
    await pump.drain()
    run = await _run()
    ft.finish(run.job_id, None, status="failed")
    clock.advance(300)
    await pump.drain()
    run = await _run()
    assert run.status == "failed" and "bad file" in run.error
    async with session_scope() as s:
        assert await finetune.promoted_model(s) is None


async def test_provider_error_is_recorded_and_retried(ft, openai_fake, settings, pump, clock):
    await _seed(5)
    real = ft.fake.extra[("POST", "/v1/fine_tuning/jobs")]
    calls = []

    async def flaky(request):
        calls.append(1)
        if len(calls) == 1:
            from aiohttp import web

            return web.json_response({"error": {"message": "busy"}}, status=500)
        return await real(request)

    ft.fake.route("POST", "/v1/fine_tuning/jobs", flaky)
    async with session_scope() as s:
        await finetune.start_night(s, settings)
    await pump.drain()
    run = await _run()
    assert run.status == "queued"
    assert run.steps[-1]["step"] == "retry" and "500" in run.steps[-1]["detail"]
    clock.advance(60)
    await pump.drain()
    run = await _run()
    assert run.status == "training" and len(ft.created) == 1


async def test_nothing_runs_when_not_configured(client, openai_fake, settings, pump, clock):
    await _seed(5)
    assert settings.finetune_enabled is False
    assert await finetune.run_nightly() is None
    body = (await client.get("/finetune/status")).json()
    assert body["enabled"] is False and body["configured"] is False
    assert body["status"] == "never_run" and body["promoted_alias"] is None

    settings.finetune_enabled = True
    settings.openai_api_key = None
    settings.openai_base_url = None
    async with session_scope() as s:
        assert await finetune.start_night(s, settings) is None
        assert await s.scalar(select(func.count()).select_from(FineTuneRun)) == 0
    assert await pump.drain() == 0
    body = (await client.get("/finetune/status")).json()
    assert body["enabled"] is True and body["configured"] is False


def test_nightly_job_is_scheduled(settings):
    import nova.quality.plugin  # noqa: F401

    [job] = [j for j in _scheduled if j.name == "quality.finetune.nightly"]
    assert job.trigger == {"type": "cron", "hour": 2, "minute": 30}


async def test_evaluation_over_budget_is_skipped_not_retried(
    ft, openai_fake, settings, pump, clock
):
    openai_fake.chat = _scripted(70, 85)
    await _seed(5)
    async with session_scope() as s:
        await finetune.start_night(s, settings)
    await pump.drain()
    run = await _run()
    ft.finish(run.job_id, CANDIDATE)
    settings.task_lease_seconds = 0  # no time budget left for any held-out call
    clock.advance(300)
    await pump.drain()
    run = await _run()
    assert run.status == "failed" and run.error == "no held-out call could be evaluated"
    assert [s["detail"] for s in run.steps if s["step"] == "evaluated"] == [
        "held-out call 1/1: skipped (timed out)"
    ]
    async with session_scope() as s:
        assert await finetune.promoted_model(s) is None


async def test_job_running_too_long_is_cancelled(ft, openai_fake, settings, pump, clock):
    settings.finetune_max_hours = 2
    await _seed(5)
    async with session_scope() as s:
        await finetune.start_night(s, settings)
    await pump.drain()
    run = await _run()
    ft.jobs[run.job_id]["status"] = "running"
    clock.advance(300)
    await pump.drain()
    run = await _run()
    assert run.status == "training"
    assert run.steps[-1]["step"] == "job_status" and "running" in run.steps[-1]["detail"]
    for _ in range(24):  # two hours of polls
        clock.advance(300)
        await pump.drain()
    run = await _run()
    assert run.status == "failed" and "cancelled" in run.error
    assert ft.cancelled == [run.job_id]
    assert [s["step"] for s in run.steps].count("job_status") == 1  # one line per change
