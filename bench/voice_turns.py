"""Voice-to-voice on real audio, split into its parts, and turn-taking: VAD endpointing vs
the offline end-of-turn model.

Runs the worker's job (``nova.agent.server.run_job``, as ``nova worker`` runs it for a
dispatch) on the audio test's transport: the lead's microphone feeds piper speech in real
time, the lead's earpiece plays the agent in real time. Silero VAD, STT and TTS are real
(``nova speech`` in a child process, through the unchanged openai plugin); the LLM is the
loopback OpenAI fake, streamed and instant. Reports go to a closed port (not measured).

For each turn-detection mode (``vad``, ``eot``) and turn it records, on one clock, from
the end of the lead's voice (the last voiced sample leaving the microphone):

    VAD end → STT final → turn committed → LLM request → LLM first token → first output frame

and the providers' own times (STT request, LLM time to first token, TTS time to first
byte, from livekit's metrics). Nova's share is what is left on the critical path once
provider calls and configured waits are taken out:

    (STT final − VAD end − STT request)                 the STT adapter
  + (LLM request − STT final, or − commit when the reply was not started early)
  + (first output frame − max(commit, LLM first token + TTS first byte))

Then false cut-ins: the lead pauses mid-sentence ("I think my budget is, um," … "about two
million dirhams") for 0.6 / 0.9 / 1.2 s; a cut-in is the agent starting to speak (or
committing the turn) before the lead finished.

    .venv/bin/python bench/voice_turns.py [--turns 6] [--modes vad,eot] [--stt whisper|script]

``--stt script`` replaces whisper by an instant STT that returns the line being spoken:
on a loaded machine whisper can take seconds, which hides both the turn detector's own
delay and its cut-ins (a turn cannot be committed before its transcript).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent_common import metadata, pct  # noqa: E402
from machine import snapshot  # noqa: E402

LINES = [
    "Yes, I have a minute.",
    "About two million dirhams.",
    "We want to move in next spring.",
    "Two bedrooms, with a sea view if possible.",
    "My wife works in the marina, so it is close.",
    "Could you send me the brochure by email?",
]
PAUSED = ("I think my budget is, um,", "about two million dirhams.")
PAUSES = (0.6, 0.9, 1.2)
REPLY = "Okay, thank you."


def trimmed(pcm: bytes) -> bytes:
    """The line without piper's trailing near-silence: its end is the end of the voice."""
    import numpy as np

    x = np.frombuffer(pcm, dtype=np.int16)
    loud = np.flatnonzero(np.abs(x) > 500)
    return x[: int(loud[-1]) + 1].tobytes() if loud.size else pcm


class Timeline:
    """Everything the session and the fakes report, on time.time()."""

    def __init__(self) -> None:
        self.vad_end: list[float] = []
        self.stt_final: list[float] = []
        self.commit: list[float] = []
        self.llm_req: list[float] = []
        self.llm_first: list[float] = []
        self.stt_duration: list[float] = []
        self.llm_ttft: list[float] = []
        self.tts_ttfb: list[float] = []

    def attach(self, session) -> None:
        def on_state(ev) -> None:
            if ev.old_state == "speaking" and ev.new_state == "listening":
                self.vad_end.append(ev.created_at)

        def on_transcript(ev) -> None:
            if ev.is_final:
                self.stt_final.append(ev.created_at)

        def on_item(ev) -> None:
            if getattr(ev.item, "role", None) == "user":
                self.commit.append(ev.created_at)

        def on_metrics(ev) -> None:
            m = ev.metrics
            if m.type == "stt_metrics":
                self.stt_duration.append(m.duration)
            elif m.type == "llm_metrics" and not m.cancelled:
                self.llm_ttft.append(m.ttft)
            elif m.type == "tts_metrics" and m.ttfb > 0:
                self.tts_ttfb.append(m.ttfb)

        session.on("user_state_changed", on_state)
        session.on("user_input_transcribed", on_transcript)
        session.on("conversation_item_added", on_item)
        session.on("metrics_collected", on_metrics)


def after(values: list[float], t: float) -> float | None:
    return next((v for v in values if v >= t), None)


class ScriptSTT:
    """``--stt script``: an instant STT that returns what the lead is saying (the bench
    knows it), so turn-taking is measured without a loaded CPU's slow whisper deciding
    when a turn can be committed."""

    text = ""

    @classmethod
    def make(cls):
        from livekit.agents import stt

        class _STT(stt.STT):
            def __init__(self) -> None:
                super().__init__(
                    capabilities=stt.STTCapabilities(streaming=False, interim_results=False)
                )

            async def _recognize_impl(self, buffer, *, language=None, conn_options):
                return stt.SpeechEvent(
                    type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                    alternatives=[stt.SpeechData(text=cls.text, language="en")],
                )

        return _STT()


async def run_mode(mode: str, speech, lines: dict, turns: int, stt_kind: str = "whisper") -> dict:
    from livekit.agents.testing import fake_job_context

    from nova.agent.server import prewarm, run_job
    from nova.core.settings import get_settings
    from tests.agent.audio import LeadMicrophone, LeadSpeaker
    from tests.fakes.openai_server import FakeOpenAI

    settings = get_settings()
    settings.agent_turn_detector = mode == "eot"  # loads the model in prewarm
    settings.agent_turn_detection_demo = mode  # the bench's calls are demo calls
    settings.agent_stt_base_url = settings.agent_tts_base_url = speech.url
    tl = Timeline()

    def chat(body):
        tl.llm_req.append(time.time())
        return REPLY

    class TimedOpenAI(FakeOpenAI):
        async def _stream(self, request, result):
            tl.llm_first.append(time.time())
            return await super()._stream(request, result)

    from livekit import api

    from tests.fakes.livekit import FakeLiveKit

    out: dict = {"mode": mode, "stt": stt_kind, "turns": [], "cut_ins": []}
    async with TimedOpenAI(chat=chat) as llm, FakeLiveKit() as lk:
        lkapi = api.LiveKitAPI(url=lk.url, api_key=lk.api_key, api_secret=lk.api_secret)
        settings.openai_base_url = llm.base_url
        from pydantic import SecretStr

        settings.openai_api_key = SecretStr("sk-bench")
        mic, ear = LeadMicrophone(), LeadSpeaker()
        meta = metadata()
        meta.report_url = "http://127.0.0.1:9/internal/worker"

        async def joined():
            return None

        loop = asyncio.get_running_loop()
        offset = time.time() - loop.time()  # loop time → time.time()
        with fake_job_context(job_metadata=meta.model_dump_json()) as ctx:
            prewarm(ctx.proc)
            runner = await run_job(
                ctx,
                settings,
                lkapi=lkapi,
                **({"stt": ScriptSTT.make()} if stt_kind == "script" else {}),
                audio_input=mic,
                audio_output=ear,
                wait_for_caller=joined,
            )
            tl.attach(runner.session)
            await asyncio.wait_for(_next_playout(ear, 1), 60)
            await asyncio.wait_for(ear.playouts[0].finished.wait(), 60)
            for i in range(turns):
                n = len(ear.playouts)
                ScriptSTT.text = LINES[i % len(LINES)]
                await mic.say(lines[LINES[i % len(LINES)]])
                t_end = time.time()
                await asyncio.wait_for(_next_playout(ear, n + 1), 60)
                reply = ear.playouts[n]
                t_out = reply.started_at + offset
                await asyncio.wait_for(reply.finished.wait(), 60)
                await asyncio.sleep(0.8)  # late metrics
                out["turns"].append(_turn(tl, t_end, t_out))
            for pause in PAUSES:
                n = len(ear.playouts)
                commits = len(tl.commit)
                ScriptSTT.text = PAUSED[0]
                await mic.say(lines["paused-1"])
                await asyncio.sleep(pause)
                ScriptSTT.text = PAUSED[1]
                await mic.say(lines["paused-2"])
                finished = time.time()
                cut_in = len(ear.playouts) > n or any(c < finished for c in tl.commit[commits:])
                out["cut_ins"].append({"pause": pause, "cut_in": cut_in})
                await asyncio.wait_for(_next_playout(ear, len(ear.playouts) + 1), 60)
                await asyncio.wait_for(ear.playouts[-1].finished.wait(), 60)
                await asyncio.sleep(0.5)
            out["late_input_frames"] = mic.late_frames
            mic.close()
            await runner.session.aclose()
            await asyncio.wait_for(runner.ended.wait(), 30)
            for t in list(runner._tasks):
                t.cancel()
        await lkapi.aclose()
    return out


async def _next_playout(ear, count: int) -> None:
    while len(ear.playouts) < count:  # noqa: ASYNC110 - polled, not signalled
        await asyncio.sleep(0.01)


def _turn(tl: Timeline, t_end: float, t_out: float) -> dict:
    vad = after(tl.vad_end, t_end - 1.0)
    stt = after(tl.stt_final, t_end - 1.0)
    commit = after(tl.commit, t_end - 1.0)
    req = after(tl.llm_req, t_end - 1.0)
    first = after(tl.llm_first, req or t_end)
    stt_d = tl.stt_duration[-1] if tl.stt_duration else 0.0
    ttft = tl.llm_ttft[-1] if tl.llm_ttft else 0.0
    ttfb = tl.tts_ttfb[-1] if tl.tts_ttfb else 0.0
    ms = lambda t: None if t is None else round((t - t_end) * 1000, 1)  # noqa: E731
    share = None
    if None not in (vad, stt, commit, req, first):
        early = req < commit
        share = (
            max(0.0, stt - vad - stt_d)
            + (req - stt if early else req - max(stt, commit))
            + max(0.0, t_out - max(commit, first + ttfb))
        )
    return {
        "vad_end": ms(vad),
        "stt_final": ms(stt),
        "commit": ms(commit),
        "llm_request": ms(req),
        "llm_first_token": ms(first),
        "first_output_frame": ms(t_out),
        "stt_request_ms": round(stt_d * 1000, 1),
        "llm_ttft_ms": round(ttft * 1000, 1),
        "tts_ttfb_ms": round(ttfb * 1000, 1),
        "nova_share_ms": None if share is None else round(share * 1000, 1),
    }


def _summary(result: dict) -> dict:
    turns = result["turns"]

    def col(key: str) -> list[float]:
        return [t[key] for t in turns if t[key] is not None]

    keys = (
        "vad_end",
        "stt_final",
        "commit",
        "llm_request",
        "llm_first_token",
        "first_output_frame",
        "stt_request_ms",
        "tts_ttfb_ms",
        "nova_share_ms",
    )
    return {
        "mode": result["mode"],
        "stt": result["stt"],
        "n": len(turns),
        **{k: {"p50": pct(col(k), 50), "p95": pct(col(k), 95)} for k in keys},
        "cut_ins": result["cut_ins"],
        "late_input_frames": result["late_input_frames"],
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--modes", default="vad,eot")
    parser.add_argument("--stt", choices=["whisper", "script"], default="whisper")
    args = parser.parse_args()
    os.environ.setdefault("NOVA_LOG_LEVEL", "WARNING")
    from tests.agent.audio import SpeechProcess

    speech = SpeechProcess().start()
    try:
        lines = {text: trimmed(await speech.speak(text)) for text in LINES}
        lines["paused-1"] = trimmed(await speech.speak(PAUSED[0]))
        lines["paused-2"] = trimmed(await speech.speak(PAUSED[1]))
        print(json.dumps({"before": snapshot()}))
        for mode in args.modes.split(","):
            result = await run_mode(mode, speech, lines, args.turns, args.stt)
            print(json.dumps(result))
            print(json.dumps(_summary(result)))
        print(json.dumps({"after": snapshot()}))
    finally:
        speech.stop()


if __name__ == "__main__":
    asyncio.run(main())
