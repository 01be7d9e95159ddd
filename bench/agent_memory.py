"""Worker memory per concurrent session.

1. The process floor: RSS after importing the worker and running its prewarm (Silero VADs,
   the offline end-of-turn model). livekit-agents runs each job in its own process by
   default, so this is the per-job floor in production.
2. The increment per session: N concurrent text-mode sessions (real AgentSession + Nova's
   sales agent + CallState, 6 turns of history each, scripted LLM) in one process; RSS
   delta / N.

    python bench/agent_memory.py [N ...]
"""

from __future__ import annotations

import asyncio
import gc
import sys

sys.path.insert(0, ".")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def open_sessions(n: int) -> list:
    from livekit.agents import AgentSession

    from bench.agent_common import metadata
    from nova.agent.agents import agent_for
    from nova.agent.scripted import ScriptedLLM, call
    from nova.agent.state import CallState

    sessions = []
    for _ in range(n):
        state = CallState(meta=metadata())
        llm = ScriptedLLM(
            [
                "Great, what is your budget?",
                call("record_answer", question="Question 1?", answer="About a million"),
                "And when do you plan to buy?",
                call("handle_objection", objection="too expensive"),
                "We have payment plans.",
                "Shall I text you the link?",
            ]
        )
        session = AgentSession(
            llm=llm, vad=None, turn_handling={"turn_detection": None}, userdata=state
        )
        await session.start(agent_for(state))
        session.say(state.meta.brief.opening_line)
        for text in ("yes", "a million", "it's expensive", "ok"):
            await session.run(user_input=text)
        sessions.append(session)
    return sessions


async def main(counts: list[int]) -> None:
    import logging

    logging.disable(logging.WARNING)
    base0 = rss_mb()
    from livekit.agents import JobExecutorType, JobProcess

    from nova.agent.server import prewarm

    imported = rss_mb()
    proc = JobProcess(executor_type=JobExecutorType.THREAD, user_arguments=None, http_proxy=None)
    prewarm(proc)
    warmed = rss_mb()
    print(
        f"python + nova.agent.server imports: {imported - base0:.0f} MB (process {imported:.0f} MB)"
    )
    print(f"after prewarm (VADs + end-of-turn model): process RSS {warmed:.0f} MB")
    warm = await open_sessions(3)  # first-use allocations
    for n in counts:
        gc.collect()
        before = rss_mb()
        sessions = await open_sessions(n)
        gc.collect()
        after = rss_mb()
        print(
            f"N={n:3d} concurrent text sessions: +{after - before:.1f} MB "
            f"=> {(after - before) / n * 1024:.0f} KB per session (process {after:.0f} MB)"
        )
        for s in sessions:
            await s.aclose()
    for s in warm:
        await s.aclose()


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [10, 50, 100]))
