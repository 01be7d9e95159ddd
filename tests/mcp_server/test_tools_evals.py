"""The eval tools over an MCP session against /v1/evals: list personas, start an eval, then
read its result once the run (the evals.run task body) has finished."""

from __future__ import annotations

from nova.agent.scripted import call
from nova.evals import service
from tests.conftest import register
from tests.evals.conftest import BODY, answer, scripted
from tests.mcp_server.conftest import session


async def test_personas_start_and_result(api, client, settings, openai_fake):
    openai_fake.chat = answer
    alice = await register(client, "alice@example.com")
    api.token = alice["token"]
    async with session(api) as mcp:
        r = await mcp.call_tool("list_eval_personas", {})
        assert not r.is_error, r.content
        assert r.structured_content["count"] == 10
        assert r.structured_content["personas"][0]["id"] == "interested_buyer"

        r = await mcp.call_tool(
            "start_eval",
            {**BODY, "personas": ["wrong_number"], "conversations_per_persona": 2},
        )
        assert not r.is_error, r.content
        started = r.structured_content
        assert started["status"] == "queued" and started["progress"]["total"] == 2

        models = scripted(
            agent=lambda p, i: ["Sorry to bother you, goodbye!", call("end_call")],
            lead=lambda p, i: ["Wrong number."],
        )
        await service.run_eval(settings, started["id"], models=models)

        r = await mcp.call_tool("get_eval", {"eval_id": started["id"]})
        out = r.structured_content
        assert (out["status"], out["passed"], out["conversations"]) == ("completed", True, None)
        assert out["personas"][0]["pass_rate"] == 1.0
        r = await mcp.call_tool("get_eval", {"eval_id": started["id"], "transcripts": True})
        assert len(r.structured_content["conversations"]) == 2

        r = await mcp.call_tool("start_eval", {**BODY, "personas": ["nope"]})
        assert r.is_error and "HTTP 400" in r.content[0].text
        assert "Unknown persona(s): nope" in r.content[0].text

    bob = await register(client, "bob@example.com")
    api.token = bob["token"]
    async with session(api) as mcp:
        r = await mcp.call_tool("get_eval", {"eval_id": started["id"]})
        assert r.is_error and "HTTP 404" in r.content[0].text
