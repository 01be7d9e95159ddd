"""Job start → the opening line handed to TTS, and the caller hearing it.

Runs the real job entrypoint (``nova.agent.server.run_job``) under livekit-agents'
``fake_job_context``, with a recording TTS (20 ms of silence per request) and an instant
audio sink (no room, no network). The job builds its own control-plane reporter, pointed
at a closed port: its reports fail in the background.

Two paths:

- live: the caller is already there when the job starts, so the greeting goes through the
  TTS at that moment. Measured: job start → ``session.say(opening_line)``, job start → the
  TTS receives the opening line's first sentence, job start → first audio frame out.
- pre-rendered (the default): the worker synthesizes the greeting at job start, while
  the phone rings / the demo caller joins, and plays that render (finished or still
  running) when the lead is there. Half the callers join at once, half once the render
  is done. Measured: job start → TTS receives the opening line, and caller joined → first
  greeting audio frame out.

    python bench/agent_greeting.py [iterations]
"""

from __future__ import annotations

import asyncio
import sys
import time

sys.path.insert(0, ".")

from bench.agent_common import (  # noqa: E402
    InstantAudioOutput,
    RecordingTTS,
    load_average,
    metadata,
    summary,
)


async def one(settings, i: int, *, live: bool) -> dict[str, float]:
    from livekit.agents.testing import fake_job_context

    from nova.agent.scripted import ScriptedLLM
    from nova.agent.server import run_job

    meta = metadata(language="ar-AE" if i % 2 else "en")
    recorder = RecordingTTS()
    sink = InstantAudioOutput()
    gate = asyncio.Event()
    joined_at: list[float] = []

    async def joined() -> None:
        if not live and i % 2 == 0:  # half the callers join once the render is done
            await recorder.done.wait()
        joined_at.append(time.perf_counter())

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
            audio_output=sink,
            prerender_greeting=not live,
            text_only=True,
            wait_for_caller=joined,
            sleep=sleep,
        )
    t_say = time.perf_counter()
    assert runner is not None
    await recorder.first.wait()
    t_tts, text = recorder.received[0]
    assert meta.brief.opening_line.startswith(text), text  # sentence by sentence
    await sink.first_frame.wait()
    await runner.greeting
    for t in list(runner._tasks):  # the duration watchdog among them
        t.cancel()
    await runner.session.aclose()
    await runner.ended.wait()  # the final reports were attempted
    await runner.reporter.aclose()
    return {
        "say": (t_say - t0) * 1000,
        "tts": (t_tts - t0) * 1000,
        "cpu": (recorder.cpu_at_first - c0) * 1000,
        "audio": (sink.first_frame_at - t0) * 1000,
        "joined_to_audio": (sink.first_frame_at - joined_at[0]) * 1000,
        "tts_requests": len(recorder.received),
    }


async def main(n: int) -> None:
    import logging

    logging.disable(logging.WARNING)
    from nova.agent.reporting import ssl_context
    from nova.core.settings import get_settings

    ssl_context()  # what the worker's prewarm does once per process
    settings = get_settings()
    settings.worker_report_attempts = 1
    settings.worker_report_timeout_seconds = 0.2
    for live in (True, False):
        for i in range(5):  # warm-up (imports, first-use caches)
            await one(settings, i, live=live)
        rows = [await one(settings, i, live=live) for i in range(n)]

        def col(k: str, rows: list[dict[str, float]] = rows) -> list[float]:
            return [r[k] for r in rows]

        if live:
            print("live path (caller already there):")
            print(summary("  job start -> session.say(opening_line)", col("say")))
            print(summary("  job start -> opening line received by TTS", col("tts")))
            print(summary("    of which process CPU time", col("cpu")))
            print(summary("  job start -> first greeting audio frame out", col("audio")))
        else:
            print("pre-rendered path (default):")
            print(summary("  job start -> opening line received by TTS", col("tts")))
            print(
                summary("  caller joined -> first greeting audio frame out", col("joined_to_audio"))
            )
            print(f"  TTS requests per call: {sorted(set(col('tts_requests')))}")
    print(f"load average: {load_average()}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
