"""Runtime overhead per conversational turn, text mode, providers excluded.

Calls of 40 turns each (fresh sessions per call, so the history grows as in a real call).
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

from bench.agent_common import load_average, metadata, pct, summary  # noqa: E402
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


TURNS_PER_CALL = 40  # a long sales call; the history grows like a real one


class _RunCtx:
    """What Nova's tools read from a RunContext (userdata, playout)."""

    def __init__(self, state) -> None:
        self.userdata = state

    async def wait_for_playout(self) -> None:
        return None


async def direct(session, state, iterations: int) -> dict[str, list[float]]:
    """Nova's own per-turn work, timed directly on a live agent with a call's history:
    the llm_node hook (phase bookkeeping + instruction refresh) plus the turn's tool body."""
    from nova.agent.agents import update_instructions

    agent = session.current_agent
    rc = _RunCtx(state)
    out: dict[str, list[float]] = {"reply": [], "tool": [], "objection": []}
    for i in range(iterations):
        shape = ("reply", "tool", "objection")[i % 3]
        chat_ctx = session.history.copy()
        chat_ctx.add_message(role="user", content=f"direct {i}")
        t0 = time.perf_counter()
        if agent._on_new_user_turn(chat_ctx):
            text = agent._build_instructions()
            await agent.update_instructions(text)
            update_instructions(chat_ctx, instructions=text, add_if_missing=True)
        if shape == "tool":
            await agent.record_answer(rc, question=f"Question {i % 5 + 1}?", answer="yes")
        elif shape == "objection":
            await agent.handle_objection(rc, objection="too expensive")
        out[shape].append((time.perf_counter() - t0) * 1000)
        if i % 15 == 14:
            state.answers.clear()
    return out


async def main(n: int) -> None:
    import logging

    logging.disable(logging.WARNING)
    out = {k: {"reply": [], "tool": [], "objection": []} for k in ("nova", "bare")}
    own: dict[str, list[float]] = {"reply": [], "tool": [], "objection": []}
    calls = max(1, n // TURNS_PER_CALL) + 1  # the first call is warm-up
    for c in range(calls):
        sessions = {kind: await start(kind) for kind in ("nova", "bare")}
        for i in range(TURNS_PER_CALL):
            shape = ("reply", "tool", "objection")[i % 3]
            # Interleaved so both agents see the same machine noise.
            for kind in ("nova", "bare") if i % 2 else ("bare", "nova"):
                session, llm, _state = sessions[kind]
                ms = await turn(session, llm, shape, i)
                if c > 0:
                    out[kind][shape].append(ms)
        if c > 0:
            session, _, state = sessions["nova"]
            for shape, values in (await direct(session, state, 30)).items():
                own[shape].extend(values)
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
    print(
        f"added by nova, all turns: p50 {pct(all_nova, 50) - pct(all_bare, 50):+.2f} ms, "
        f"p95 {pct(all_nova, 95) - pct(all_bare, 95):+.2f} ms"
    )
    for shape in ("reply", "tool", "objection"):
        print(summary(f"nova's own code per {shape:9s} turn (direct)", own[shape]))
    print(summary("nova's own code per turn, all shapes (direct)", sum(own.values(), [])))
    print(f"load average: {load_average()}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
