"""Simulated calls (evals): Nova's own cost per simulated conversation, and how 20
conversations overlap when the LLM takes 300 ms.

    PYTHONPATH=. .venv/bin/python bench/evals_bench.py [--db postgresql+asyncpg://…/nova_bench_i21]

Every conversation is 10 lead turns (the persona never hangs up, the agent never ends the
call: the turn cap ends it), run by ``nova.evals.service.run_eval`` exactly as the
``evals.run`` task runs it: rows written per conversation, the real agent job in text mode,
the quality judge over loopback HTTP, the checks.

1. Instant providers: scripted agent and persona LLMs, a judge answering at once. Per
   conversation, against two same-run references: a bare livekit ``AgentSession`` (a bare
   ``Agent``, the same scripted LLM, 10 turns: the framework's own cost) and Nova's
   ``simulate()`` alone (no database, no judge).
2. An LLM answering in 300 ms (the loopback OpenAI fake with ``delay=0.3`` behind livekit's
   OpenAI plugin for the agent and the persona, the openai SDK for the judge): one
   conversation alone (the reference), then 20 at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, ".")

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
parser.add_argument("--conversations", type=int, default=20)
parser.add_argument("--turns", type=int, default=10)
parser.add_argument("--serve-fake", type=float, help=argparse.SUPPRESS)  # child: the LLM peer
ARGS = parser.parse_args()
_tmp = Path(tempfile.mkdtemp(prefix="nova-bench-evals-"))
DB = ARGS.db or f"sqlite+aiosqlite:///{_tmp / 'bench.db'}"
os.environ.update({"NOVA_DATABASE_URL": DB, "NOVA_ENV": "development", "NOVA_LOG_LEVEL": "ERROR"})
for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(var, None)

import logging  # noqa: E402

from livekit.agents import Agent, AgentSession  # noqa: E402
from pydantic import SecretStr  # noqa: E402

import nova.models  # noqa: E402, F401
from bench.machine import snapshot  # noqa: E402
from nova.agent.scripted import ScriptedLLM  # noqa: E402
from nova.core.db import init_engine, session_scope  # noqa: E402
from nova.core.migrate import upgrade  # noqa: E402
from nova.core.settings import get_settings  # noqa: E402
from nova.evals import service  # noqa: E402
from nova.evals.personas import shipped  # noqa: E402
from nova.evals.schemas import EvalCreate  # noqa: E402
from nova.evals.simulate import simulate  # noqa: E402
from nova.models.user import User  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402

logging.disable(logging.WARNING)
N, TURNS = ARGS.conversations, ARGS.turns
BRIEF = {
    "agent_instructions": "You are Nova, an AI assistant calling for Marina Towers.",
    "opening_line": "Hi Sam, this is Nova, an AI assistant calling about Marina Towers.",
    "qualification_questions": ["What is your budget?", "When do you plan to buy?"],
    "objection_handlers": [{"objection": "Too expensive", "response": "Plans from 1%."}],
    "closing_script": "Thanks for your time!",
    "product_facts": ["Apartments from 1.2M AED"],
}
JUDGEMENT = {
    "dimensions": {
        k: {"score": 4, "reason": "fine"}
        for k in (
            "opening_rapport",
            "discovery_qualification",
            "objection_handling",
            "goal_progress_close",
            "compliance_professionalism",
        )
    },
    "overall": 80,
    "goal_outcome": "partial",
    "summary": "ok",
}


async def serve_fake(delay: float) -> None:
    """The LLM peer in its own process, so its CPU is not counted as Nova's."""
    async with FakeOpenAI(peer, delay=delay) as fake:
        print(fake.port, flush=True)
        await asyncio.Event().wait()


def start_fake(delay: float):
    import subprocess

    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-fake", str(delay)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": "."},
    )
    port = int(child.stdout.readline())
    return child, f"http://127.0.0.1:{port}/v1"


def peer(body: dict) -> str:
    name = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    if name == "call_brief":
        return json.dumps(BRIEF)
    if name == "call_quality_score":
        return json.dumps(JUDGEMENT)
    system = body["messages"][0].get("content") or ""
    if isinstance(system, list):
        system = " ".join(p.get("text", "") for p in system)
    return "Tell me more." if system.startswith("You are role-playing") else "Sure, here is more."


async def user() -> User:
    async with session_scope() as s:
        u = User(email=f"bench-{time.time_ns()}@example.com", password_hash="x")
        s.add(u)
    return u


async def new_eval(u: User, conversations: int) -> str:
    per = min(conversations, 10)
    personas = ["price_objection", "hostile", "busy_callback"][: -(-conversations // per)]
    body = EvalCreate(
        product="Marina Towers",
        goal="qualify_interest",
        personas=personas,
        conversations_per_persona=per,
        max_turns=TURNS,
    )
    async with session_scope() as s:
        run = await service.create_eval(s, get_settings(), u, body)
    return run.id


def scripted_models() -> service.Models:
    return service.Models(
        lambda _p, _i: (
            ScriptedLLM(default="Sure, here is more."),
            ScriptedLLM(default="Tell me more."),
        )
    )


async def bare_conversation() -> None:
    llm = ScriptedLLM(default="Sure, here is more.")
    async with AgentSession(llm=llm, vad=None, turn_handling={"turn_detection": None}) as s:
        await s.start(Agent(instructions="x" * 2000))
        for i in range(TURNS):
            await s.run(user_input=f"Tell me more {i}.")


async def bare_plugin_conversation(settings) -> None:
    """The reference for the 300 ms scenario: a bare livekit session, livekit's OpenAI
    plugin against the same peer, 10 fixed user turns (no Nova, no persona LLM)."""
    from livekit.plugins import openai as lk_openai

    llm = lk_openai.LLM(model="bench", base_url=settings.openai_base_url, api_key="sk-bench")
    async with AgentSession(llm=llm, vad=None, turn_handling={"turn_detection": None}) as s:
        await s.start(Agent(instructions="x" * 2000))
        for i in range(TURNS):
            await s.run(user_input=f"Tell me more {i}.")


async def timed(coro) -> tuple[float, float]:
    """(wall ms, process CPU ms) of one awaited coroutine."""
    w, c = time.perf_counter(), time.process_time()
    await coro
    return (time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000


async def main() -> None:
    settings = get_settings()
    init_engine(settings)
    print("machine", snapshot(), "db", DB.split(":")[0])
    u = await user()
    results: dict = {}

    async with FakeOpenAI(peer) as fake:
        settings.openai_base_url = fake.base_url
        settings.openai_api_key = SecretStr("sk-bench")

        # --- 1. instant providers ----------------------------------------------------------
        from nova.evals.service import _meta  # the metadata a run gives each conversation
        from nova.models.evals import EvalRun

        warm = await new_eval(u, 1)
        await service.run_eval(settings, warm, models=scripted_models())  # imports, caches
        async with session_scope() as s:
            run = await s.get(EvalRun, warm)
        meta = _meta(run, "bench")
        persona = shipped()["price_objection"]

        bare = [(await timed(bare_conversation()))[0] for _ in range(N)]
        sims = []
        for _ in range(N):
            w, _c = await timed(
                simulate(
                    settings,
                    meta,
                    persona,
                    agent_llm=ScriptedLLM(default="Sure, here is more."),
                    persona_llm=ScriptedLLM(default="Tell me more."),
                    max_turns=TURNS,
                )
            )
            sims.append(w)
        for conc in (1, N):
            settings.eval_concurrency = conc
            eval_id = await new_eval(u, N)
            wall, cpu = await timed(service.run_eval(settings, eval_id, models=scripted_models()))
            async with session_scope() as s:
                out = await service.get_eval(s, settings, u, eval_id, transcripts=True)
            turns = {c.turns for c in out.conversations or []}
            assert turns == {TURNS} and out.progress.finished == N, (turns, out.progress)
            results[f"run_eval_c{conc}"] = {
                "wall_ms": round(wall),
                "per_conversation_wall_ms": round(wall / N, 1),
                "per_conversation_cpu_ms": round(cpu / N, 1),
                "peak_concurrency": out.peak_concurrency,
            }
        results["bare_session_10_turns_ms"] = {
            "median": round(statistics.median(bare), 1),
            "p95": round(sorted(bare)[int(0.95 * (N - 1))], 1),
        }
        results["simulate_10_turns_ms"] = {
            "median": round(statistics.median(sims), 1),
            "p95": round(sorted(sims)[int(0.95 * (N - 1))], 1),
        }

    # --- 2. an LLM answering in 300 ms (the peer in another process) ----------------------
    child, base_url = start_fake(0.3)
    try:
        settings.openai_base_url = base_url
        settings.eval_concurrency = N
        warm = await new_eval(u, 1)  # the plugin's import and clients, once per process
        await service.run_eval(settings, warm)
        for conversations in (1, N):
            wall, cpu = await timed(
                asyncio.gather(*(bare_plugin_conversation(settings) for _ in range(conversations)))
            )
            results[f"llm300_bare_livekit_{conversations}_sessions"] = {
                "wall_ms": round(wall),
                "cpu_per_session_ms": round(cpu / conversations, 1),
            }
        for conversations in (1, N):
            eval_id = await new_eval(u, conversations)
            wall, cpu = await timed(service.run_eval(settings, eval_id))
            async with session_scope() as s:
                out = await service.get_eval(s, settings, u, eval_id, transcripts=True)
            convs = out.conversations or []
            assert all(c.turns == TURNS and c.status != "error" for c in convs), [
                (c.status, c.error) for c in convs
            ]
            results[f"llm300_{conversations}_conversations"] = {
                "wall_ms": round(wall),
                "slowest_conversation_ms": max(c.duration_ms or 0 for c in convs),
                "nova_cpu_per_conversation_ms": round(cpu / conversations, 1),
            }
    finally:
        child.kill()
    one = results["llm300_1_conversations"]["wall_ms"]
    many = results[f"llm300_{N}_conversations"]["wall_ms"]
    results["llm300_ratio_20_vs_1"] = round(many / one, 2)
    bare_one = results["llm300_bare_livekit_1_sessions"]["wall_ms"]
    bare_many = results[f"llm300_bare_livekit_{N}_sessions"]["wall_ms"]
    results["llm300_bare_livekit_ratio_20_vs_1"] = round(bare_many / bare_one, 2)
    print(json.dumps(results, indent=2))
    print("machine", snapshot())


if __name__ == "__main__":
    if ARGS.serve_fake is not None:
        asyncio.run(serve_fake(ARGS.serve_fake))
        raise SystemExit(0)
    if DB.startswith("postgresql"):
        from bench.pgdb import fresh_schema

        asyncio.run(fresh_schema(DB))
    upgrade(DB)
    asyncio.run(main())
