"""``nova eval``: starts the eval over the REST API, follows it, prints the verdict and exits
0 (passed) / 1 (failed) / 2 (refused) / 3 (did not finish) for CI pipelines."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from nova.agent.scripted import call
from nova.cli import build_parser
from nova.core.db import session_scope
from nova.evals import cli as eval_cli
from nova.evals import service
from nova.mcp_server.client import NovaClient
from nova.models.evals import EvalRun
from tests.evals.conftest import BODY, scripted

POLITE = scripted(
    agent=lambda p, i: ["Sorry to bother you, goodbye!", call("end_call")],
    lead=lambda p, i: ["Wrong number."],
)
PROMISES = scripted(
    agent=lambda p, i: ["You get 30% off, guaranteed!", "Thanks, goodbye!", call("end_call")],
    lead=lambda p, i: ["Wrong number.", "Bye."],
)


@pytest.fixture
def brief_file(tmp_path):
    path = tmp_path / "brief.json"
    path.write_text(json.dumps(BODY))
    return path


def args(*argv: str):
    return build_parser().parse_args(["eval", *argv])


def runner_sleep(settings, models):
    """Stands in for the poll wait: runs the queued eval (what the task pump would do)."""

    async def sleep(_seconds: float) -> None:
        async with session_scope() as s:
            ids = (await s.execute(select(EvalRun.id).where(EvalRun.status == "queued"))).scalars()
            queued = list(ids)
        for eval_id in queued:
            await service.run_eval(settings, eval_id, models=models)

    return sleep


def api_for(app, user) -> NovaClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 40000))
    return NovaClient("http://testserver", user["token"], transport=transport)


@pytest.mark.parametrize("models,code", [(POLITE, 0), (PROMISES, 1)])
async def test_exit_code_is_the_verdict(
    app, user, settings, llm_peer, brief_file, capsys, models, code
):
    a = args(str(brief_file), "--personas", "off_script", "--conversations", "2", "--poll", "0")
    rc = await eval_cli.main(a, api=api_for(app, user), sleep=runner_sleep(settings, models))
    out = capsys.readouterr().out
    assert rc == code, out
    if code == 0:
        assert "PASSED" in out and "ok  off_script" in out and "2/2 (100%)" in out
    else:
        assert "FAILED" in out and "FAIL off_script" in out and "0/2 (0%)" in out
        assert "#0 promises nothing outside the brief: turn 3: the agent said “30%”" in out
    assert "billed minutes 0" in out


async def test_refusals_and_timeouts(app, user, settings, llm_peer, brief_file, tmp_path, capsys):
    api = api_for(app, user)
    rc = await eval_cli.main(args(str(brief_file), "--personas", "nope"), api=api)
    assert rc == 2 and "Unknown persona(s): nope" in capsys.readouterr().err
    missing = tmp_path / "missing.json"
    assert await eval_cli.main(args(str(missing)), api=api) == 2
    assert "No such file" in capsys.readouterr().err

    async def never_runs(_seconds: float) -> None:
        return None

    a = args(str(brief_file), "--personas", "hostile", "--wait", "0", "--json")
    rc = await eval_cli.main(a, api=api, sleep=never_runs)
    assert rc == 3 and "still queued after 0 s (0/1 done)" in capsys.readouterr().err


def test_the_command_is_registered():
    a = args("b.json", "--max-turns", "4", "--threshold", "0.8")
    assert a.func is eval_cli.run and (a.max_turns, a.threshold) == (4, 0.8)
