"""Concurrent calls on this machine with real audio through VAD and turn-taking, and the
memory each added call costs with thread vs process job executors.

N calls run the worker's job (``run_job``) in one process, as livekit's thread executor
runs them (each job runs the worker's prewarm; the models are loaded once per process): each lead's microphone plays real
speech (piper, rendered once) in real time — a line, three seconds of silence, again —
through Silero VAD and VAD endpointing. Speech providers and the LLM are instant
in-process fakes, so only the audio path is measured.

A call is on time when no input frame was consumed more than 100 ms after it was due and
the lead's end of speech was detected no more than 100 ms later than with one call alone
(the same run's reference). The figure is the most calls with every call on time.

Memory: RSS of the process before and after the calls start (per added call, thread
executor), and the RSS of a fresh process that imports the worker and runs its prewarm
(what each call costs with livekit's process executor, one job per process).

    .venv/bin/python bench/voice_capacity.py [--calls 1,10,20,25,30,40] [--seconds 25]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("NOVA_LOG_LEVEL", "ERROR")

import psutil  # noqa: E402
from agent_common import (  # noqa: E402
    InstantAudioOutput,
    RecordingTTS,
    load_average,
    metadata,
    pct,
)
from machine import snapshot  # noqa: E402

MIN_SILENCE = 0.55  # Silero's default min_silence_duration (demo mode)


class InstantSTT:
    """A non-streaming STT answering at once (built lazily: livekit import)."""

    @staticmethod
    def make():
        from livekit.agents import stt
        from livekit.agents.types import APIConnectOptions

        class _STT(stt.STT):
            def __init__(self) -> None:
                super().__init__(
                    capabilities=stt.STTCapabilities(streaming=False, interim_results=False)
                )

            async def _recognize_impl(
                self, buffer, *, language=None, conn_options: APIConnectOptions
            ):
                return stt.SpeechEvent(
                    type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                    alternatives=[stt.SpeechData(text="Yes, tell me more.", language="en")],
                )

        return _STT()


async def one_call(settings, line: bytes, stop: asyncio.Event, out: dict) -> None:
    from livekit.agents.testing import fake_job_context

    from nova.agent.scripted import ScriptedLLM
    from nova.agent.server import prewarm, run_job
    from tests.agent.audio import LeadMicrophone

    mic = LeadMicrophone()
    ends: list[float] = []
    delays: list[float] = []

    meta = metadata()
    meta.report_url = "http://127.0.0.1:9/internal/worker"

    async def joined():
        return None

    with fake_job_context(job_metadata=meta.model_dump_json()) as ctx:
        prewarm(ctx.proc)  # as livekit's thread executor does for every job
        runner = await run_job(
            ctx,
            settings,
            lkapi=_NoRoomAPI(),
            stt=InstantSTT.make(),
            llm=ScriptedLLM(default="Okay."),
            tts=RecordingTTS(),
            audio_input=mic,
            audio_output=InstantAudioOutput(),
            wait_for_caller=joined,
            prerender_greeting=False,
        )
    session = runner.session

    def on_state(ev) -> None:
        if ev.old_state == "speaking" and ev.new_state == "listening" and ends:
            delays.append(time.time() - ends[-1] - MIN_SILENCE)

    session.on("user_state_changed", on_state)
    await asyncio.sleep(random.random() * 3)  # calls don't all start in step
    while not stop.is_set():
        await mic.say(line)
        ends.append(time.time())
        await asyncio.sleep(3.0)
    out["late_frames"] = mic.late_frames
    out["frames"] = mic.frames
    out["eos_delays"] = delays
    mic.close()
    runner._hung_up = True  # noqa: SLF001 - no reports at teardown
    await session.aclose()
    for t in list(runner._tasks):  # noqa: SLF001
        t.cancel()


class _NoRoomAPI:
    """Stands in for the LiveKit API client: nothing here deletes rooms."""

    class room:  # noqa: N801
        @staticmethod
        async def delete_room(_req):
            return None


async def run(n: int, seconds: float, settings, line: bytes) -> dict:
    me = psutil.Process()
    rss0 = me.memory_info().rss
    cpu0 = sum(me.cpu_times()[:2])
    stop = asyncio.Event()
    outs = [{} for _ in range(n)]
    tasks = [asyncio.create_task(one_call(settings, line, stop, o)) for o in outs]
    await asyncio.sleep(seconds)
    rss1 = me.memory_info().rss
    cpu1 = sum(me.cpu_times()[:2])
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    delays = [d for o in outs for d in o.get("eos_delays", [])]
    return {
        "calls": n,
        "late_frames": sum(o.get("late_frames", 0) for o in outs),
        "frames": sum(o.get("frames", 0) for o in outs),
        "calls_with_late_frames": sum(1 for o in outs if o.get("late_frames", 0)),
        "eos_delay_ms": {
            "n": len(delays),
            "p50": round(pct(delays, 50) * 1000, 1),
            "p95": round(pct(delays, 95) * 1000, 1),
            "max": round(max(delays, default=float("nan")) * 1000, 1),
        },
        "rss_per_call_mb": round((rss1 - rss0) / n / 2**20, 1),
        # CPU seconds per call per second of audio: independent of what else runs here.
        "cpu_per_call_second": round((cpu1 - cpu0) / n / seconds, 4),
        "load_average": load_average(),
    }


async def vad_alone(line: bytes, seconds: float, vad) -> float:
    """Reference: CPU seconds per second of audio for Silero VAD alone on the same audio."""
    from livekit import rtc

    from tests.agent.audio import FRAME, RATE

    silence = b"\0\0" * RATE * 3
    audio = (line + silence) * int(seconds // ((len(line) + len(silence)) / 2 / RATE) + 1)
    me = psutil.Process()
    cpu0 = sum(me.cpu_times()[:2])
    stream = vad.stream()
    for i in range(0, int(seconds * RATE) * 2, FRAME * 2):
        stream.push_frame(rtc.AudioFrame(audio[i : i + FRAME * 2], RATE, 1, FRAME))
    stream.end_input()
    async for _ in stream:
        pass
    return round((sum(me.cpu_times()[:2]) - cpu0) / seconds, 4)


def process_executor_rss() -> float:
    """RSS (MB) of a fresh process after importing the worker and running its prewarm."""
    code = (
        "import os, psutil\n"
        "os.environ['NOVA_AGENT_TURN_DETECTOR']='false'\n"
        "from livekit.agents.testing import fake_job_context\n"
        "from nova.agent.server import prewarm\n"
        "import nova.agent.agents, livekit.plugins.openai\n"
        "with fake_job_context(job_metadata='{}') as ctx:\n"
        "    prewarm(ctx.proc)\n"
        "print(psutil.Process().memory_info().rss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 2**20


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", default="1,10,20,25,30,40")
    parser.add_argument("--seconds", type=float, default=25.0)
    args = parser.parse_args()
    from livekit.agents.testing import fake_job_context

    from nova.agent.server import prewarm
    from nova.core.settings import get_settings
    from tests.agent.audio import SpeechProcess

    settings = get_settings()
    settings.agent_turn_detector = False
    settings.agent_amd = False
    speech = SpeechProcess().start()
    try:
        line = await speech.speak("Yes, I have a minute, tell me more about the towers.")
    finally:
        speech.stop()
    with fake_job_context(job_metadata="{}") as ctx:
        prewarm(ctx.proc)
        proc = dict(ctx.proc.userdata)
    print(json.dumps({"before": snapshot()}))
    print(json.dumps({"process_executor_rss_mb": round(process_executor_rss(), 1)}))
    ref = await vad_alone(line, 20.0, proc["vad"])
    print(json.dumps({"reference_silero_vad_alone_cpu_per_second": ref}))
    for n in [int(x) for x in args.calls.split(",")]:
        print(json.dumps(await run(n, args.seconds, settings, line)), flush=True)
    print(json.dumps({"after": snapshot()}))


if __name__ == "__main__":
    asyncio.run(main())
