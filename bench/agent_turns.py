"""Runtime overhead per conversational turn, text mode, providers excluded.

A turn is ``session.run(user_input=...)`` on a real ``AgentSession`` with the scripted LLM
(answers instantly, so no provider time is in the figure). Three turn shapes: a plain
reply, a tool turn (``record_answer`` then a reply) and an objection turn
(``handle_objection`` + the phase change + a reply). Measured for Nova's sales agent and
for a bare livekit ``Agent`` with no-op tools of the same names: the bare agent is the
framework's own cost, the difference is what Nova's hooks and tools add.

    python bench/agent_turns.py [turns]
"""

from __future__ import annotations

import asyncio
import sys
import time

sys.path.insert(0, ".")

from livekit.agents import Agent, AgentSession, RunContext, function_tool  # noqa: E402

from bench.agent_common import metadata, pct, summary  # noqa: E402
from nova.agent.agents import agent_for  # noqa: E402
from nova.agent.scripted import ScriptedLLM, call  # noqa: E402
from nova.agent.state import CallState  # noqa: E402


def build_bare_agent():
    class Bare(Agent):
        @function_tool
        async def record_answer(self, ctx: RunContext, question: str, answer: str) -> str:
            """Record an answer.

            Args:
                question: q
                answer: a
            """
            return "ok"

        @function_tool
        async def handle_objection(self, ctx: RunContext, objection: str) -> str:
            """Objection.

            Args:
                objection: o
            """
            return "ok"

    return Bare(instructions="x" * 2000)


async def start(kind: str):
    llm = ScriptedLLM()
    state = CallState(meta=metadata())
    agent = agent_for(state) if kind == "nova" else build_bare_agent()
    session = AgentSession(
        llm=llm, vad=None, turn_handling={"turn_detection": None}, userdata=state
    )
    await session.start(agent)
    return session, llm, state


async def turn(session, llm, shape: str, i: int) -> float:
    if shape == "reply":
        llm.push("Sure, tell me more.")
    elif shape == "tool":
        llm.push(call("record_answer", question=f"Question {i % 5 + 1}?", answer="yes"), "Thanks.")
    else:
        llm.push(call("handle_objection", objection="too expensive"), "Payment plans help.")
    t0 = time.perf_counter()
    result = await session.run(user_input=f"turn {i}")
    elapsed = (time.perf_counter() - t0) * 1000
    for ev in result.events:  # every tool ran cleanly
        assert not getattr(ev.item, "is_error", False), ev
    return elapsed


async def main(n: int) -> None:
    import logging

    logging.disable(logging.WARNING)
    sessions = {kind: await start(kind) for kind in ("nova", "bare")}
    out = {k: {"reply": [], "tool": [], "objection": []} for k in sessions}
    for i in range(n + 30):  # the first 30 turns are warm-up
        shape = ("reply", "tool", "objection")[i % 3]
        # Interleaved so both agents see the same machine noise.
        for kind in ("nova", "bare") if i % 2 else ("bare", "nova"):
            session, llm, state = sessions[kind]
            ms = await turn(session, llm, shape, i)
            if i >= 30:
                out[kind][shape].append(ms)
            if kind == "nova" and i % 15 == 14:
                state.answers.clear()  # keep the phases cycling
    for session, _, _ in sessions.values():
        await session.aclose()
    nova, bare = out["nova"], out["bare"]
    for shape in ("reply", "tool", "objection"):
        print(summary(f"nova  {shape:9s} turn", nova[shape]))
        print(summary(f"bare  {shape:9s} turn", bare[shape]))
        diff95 = pct(nova[shape], 95) - pct(bare[shape], 95)
        diff50 = pct(nova[shape], 50) - pct(bare[shape], 50)
        print(f"  added by nova ({shape}): p50 {diff50:+.2f} ms, p95 {diff95:+.2f} ms")
    all_nova = nova["reply"] + nova["tool"] + nova["objection"]
    all_bare = bare["reply"] + bare["tool"] + bare["objection"]
    print(summary("nova  all turns (whole runtime, providers excluded)", all_nova))
    print(summary("bare  all turns (livekit-agents alone)", all_bare))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
