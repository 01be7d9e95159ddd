"""Job start → the opening line handed to TTS.

Runs the real job entrypoint (``nova.agent.server.run_job``) under livekit-agents'
``fake_job_context``, with a recording TTS and an instant audio sink (no room, no network;
the job builds its own control-plane reporter, pointed at a closed port: reports fail
in the background). The clock
starts when ``run_job`` is called and stops when the TTS receives the opening line.

    python bench/agent_greeting.py [iterations]
"""

from __future__ import annotations

import asyncio
import sys
import time

sys.path.insert(0, ".")

from bench.agent_common import InstantAudioOutput, RecordingTTS, load_average, metadata, summary  # noqa: E402


async def one(settings, i: int) -> tuple[float, float]:
    from livekit.agents.testing import fake_job_context

    from nova.agent.scripted import ScriptedLLM
    from nova.agent.server import run_job

    meta = metadata(language="ar-AE" if i % 2 else "en")
    recorder = RecordingTTS()
    gate = asyncio.Event()

    async def joined() -> None:
        return None

    async def sleep(_s: float) -> None:
        await gate.wait()

    c0 = time.process_time()
    t0 = time.perf_counter()
    with fake_job_context(job_metadata=meta.model_dump_json()) as ctx:
        runner = await run_job(
            ctx,
            settings,
            llm=ScriptedLLM(),
            tts=recorder,
            audio_output=InstantAudioOutput(),
            text_only=True,
            wait_for_caller=joined,
            sleep=sleep,
        )
    t_say = time.perf_counter()
    assert runner is not None
    await recorder.first.wait()
    t_tts, text = recorder.received[0]
    assert meta.brief.opening_line.startswith(text), text  # sentence by sentence
    await runner.greeting
    gate.set()
    await runner.session.aclose()
    for t in list(runner._tasks):
        t.cancel()
    await runner.reporter.aclose()
    return (t_say - t0) * 1000, (t_tts - t0) * 1000, (recorder.cpu_at_first - c0) * 1000


async def main(n: int) -> None:
    import logging

    logging.disable(logging.WARNING)
    from nova.agent.reporting import ssl_context
    from nova.core.settings import get_settings

    ssl_context()  # what the worker's prewarm does once per process
    settings = get_settings()
    settings.worker_report_attempts = 1
    settings.worker_report_timeout_seconds = 0.2
    for i in range(5):  # warm-up (imports, first-use caches)
        await one(settings, i)
    say, tts_ms, cpu = [], [], []
    for i in range(n):
        a, b, c = await one(settings, i)
        say.append(a)
        tts_ms.append(b)
        cpu.append(c)
    print(summary("job start -> session.say(opening_line)", say))
    print(summary("job start -> opening line received by TTS", tts_ms))
    print(summary("  of which process CPU time", cpu))
    print(f"load average: {load_average()}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
