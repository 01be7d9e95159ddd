"""The worker: an ``AgentServer`` taking explicit dispatches by agent name, one job per call.

    server = create_server(settings)   # prewarm loads Silero VAD (+ the end-of-turn model)
    cli.run_app(server)                # what `nova worker` does

A job reads its ``DispatchMetadata`` from ``ctx.job.metadata``, builds the session from
settings, starts it, then waits for the browser test caller (demo) or dials the lead over
SIP (``create_sip_participant(..., wait_until_answered=True)``), speaks the brief's
opening line directly (``session.say``: no LLM round trip), enforces the maximum duration
and reports everything to the control plane through signed requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from livekit import api, rtc
from livekit.agents import (
    AgentServer,
    AgentSession,
    JobContext,
    JobExecutorType,
    JobProcess,
    room_io,
)
from livekit.agents import tts as tts_mod
from livekit.agents.types import NOT_GIVEN

from nova.agent import prompts
from nova.agent.agents import SalesAgent, agent_for
from nova.agent.metrics import latency_of, transcript_of
from nova.agent.reporting import Reporter, ReportRejected
from nova.agent.state import CallState
from nova.agent.transfer import HumanTransfer
from nova.core import clock
from nova.core.settings import Settings, get_settings
from nova.telephony.metadata import DispatchMetadata

log = logging.getLogger("nova.agent.server")

BUSY_CODES = {486, 600}
NO_ANSWER_CODES = {408, 480, 487}
GOODBYE_PLAYOUT_SECONDS = 10.0


# Whether prewarm could load the offline end-of-turn model (None: not tried yet).
_eot_loaded: bool | None = None


def sip_outcome(code: int | None) -> str:
    """SIP final response → call outcome."""
    if code in BUSY_CODES:
        return "busy"
    if code in NO_ANSWER_CODES:
        return "no_answer"
    return "failed"


def sip_identity(meta: DispatchMetadata) -> str:
    return f"lead-{meta.call_id}"


# --- session construction ------------------------------------------------------------------


def _key(settings: Settings) -> Any:
    return settings.openai_api_key.get_secret_value() if settings.openai_api_key else NOT_GIVEN


def _speech_key(settings: Settings, base_url: str | None) -> Any:
    """A separate speech server (``nova speech`` or another provider) gets the speech key,
    never the OpenAI key; the openai client needs some value even when it checks none."""
    if not base_url:
        return _key(settings)
    if settings.speech_api_key is not None:
        return settings.speech_api_key.get_secret_value()
    return "no-key"


def build_stt(settings: Settings, meta: DispatchMetadata) -> Any:
    model = settings.agent_stt_model
    if "/" in model:  # "deepgram/nova-3": LiveKit Inference by name
        return model
    from livekit.plugins import openai

    return openai.STT(
        model=model,
        language="ar" if prompts.is_arabic(meta) else "en",
        base_url=settings.agent_stt_base_url or settings.openai_base_url or NOT_GIVEN,
        api_key=_speech_key(settings, settings.agent_stt_base_url),
        use_realtime=False,
    )


def build_llm(settings: Settings, meta: DispatchMetadata) -> Any:
    # The fine-tune loop's promoted alias (sent by the control plane) wins over the default.
    model = meta.llm_model or settings.agent_llm_model or settings.llm_model
    if "/" in model and not settings.openai_base_url:
        return model
    from livekit.plugins import openai

    return openai.LLM(
        model=model, base_url=settings.openai_base_url or NOT_GIVEN, api_key=_key(settings)
    )


def tts_voice(settings: Settings, meta: DispatchMetadata) -> str:
    if meta.voice_id:
        return meta.voice_id
    return settings.agent_tts_voice_ar if prompts.is_arabic(meta) else settings.agent_tts_voice


def build_tts(settings: Settings, meta: DispatchMetadata) -> Any:
    model = settings.agent_tts_model
    if "/" in model:
        return f"{model}:{tts_voice(settings, meta)}"
    from livekit.plugins import openai

    return openai.TTS(
        model=model,
        voice=tts_voice(settings, meta),
        base_url=settings.agent_tts_base_url or settings.openai_base_url or NOT_GIVEN,
        api_key=_speech_key(settings, settings.agent_tts_base_url),
        # Raw 24 kHz PCM: nothing to decode, the first bytes play as they arrive (OpenAI and
        # `nova speech` both serve it).
        response_format="pcm",
        instructions=(
            "Speak Gulf Arabic with a warm Emirati accent."
            if prompts.is_arabic(meta)
            else NOT_GIVEN
        ),
    )


def turn_handling(settings: Settings, meta: DispatchMetadata) -> dict[str, Any]:
    """End-of-turn detection and interruption settings; SIP gets the noise-robust ones.

    Per mode (bench/README.md, "Turn-taking"): demo calls end a turn on VAD silence (the
    person testing hears the fastest reply); phone calls use the offline end-of-turn model,
    which waits when a lead pauses mid-sentence instead of cutting in."""
    detection: Any = "vad"
    wanted = (
        settings.agent_turn_detection_sip
        if meta.mode == "sip"
        else settings.agent_turn_detection_demo
    )
    if wanted == "eot" and settings.agent_turn_detector and _eot_loaded is not False:
        try:
            from livekit.agents.inference.eot import TurnDetector

            detection = TurnDetector(version="v1-mini")  # the offline local model
        except Exception as exc:  # noqa: BLE001 - model unavailable: VAD endpointing
            log.warning("end-of-turn model unavailable, using VAD endpointing: %s", exc)
    opts: dict[str, Any] = {"turn_detection": detection}
    if meta.mode == "sip":
        # Phone audio is narrowband and noisy: don't let a cough or line noise cut the
        # agent off, and give the lead a little longer before taking the turn.
        opts["interruption"] = {
            "min_duration": 0.8,
            "min_words": 2,
            "false_interruption_timeout": 1.5,
            "resume_false_interruption": True,
        }
        opts["endpointing"] = {"min_delay": 0.6, "max_delay": 3.0}
    return opts


def build_session(
    settings: Settings,
    meta: DispatchMetadata,
    state: CallState,
    *,
    vad: Any = NOT_GIVEN,
    stt: Any = NOT_GIVEN,
    llm: Any = NOT_GIVEN,
    tts: Any = NOT_GIVEN,
    text_only: bool = False,
) -> AgentSession[CallState]:
    """The AgentSession for one call. ``text_only`` (tests, benches) uses just the LLM
    (and a TTS when one is given)."""
    if text_only:
        return AgentSession[CallState](
            llm=llm if llm is not NOT_GIVEN else build_llm(settings, meta),
            tts=tts,
            vad=None,
            turn_handling={"turn_detection": None},
            userdata=state,
            max_tool_steps=4,
        )
    return AgentSession[CallState](
        stt=stt if stt is not NOT_GIVEN else build_stt(settings, meta),
        llm=llm if llm is not NOT_GIVEN else build_llm(settings, meta),
        tts=tts if tts is not NOT_GIVEN else build_tts(settings, meta),
        vad=vad,
        turn_handling=turn_handling(settings, meta),  # type: ignore[arg-type]
        userdata=state,
        max_tool_steps=4,
    )


# --- one call ------------------------------------------------------------------------------


class Prerender:
    """The greeting synthesized ahead of time (while the phone rings or the test caller
    joins). ``replay()`` yields the frames rendered so far, then follows the render."""

    def __init__(self, tts: tts_mod.TTS, text: str) -> None:
        self.tts = tts
        self.text = text
        self.frames: list[rtc.AudioFrame] = []
        self.done = False
        self.failed = False
        self._new = asyncio.Event()

    @property
    def usable(self) -> bool:
        """False when it failed before producing audio (then the live TTS speaks)."""
        return not self.failed and not (self.done and not self.frames)

    async def run(self) -> None:
        try:
            async with self.tts.synthesize(self.text) as stream:
                async for ev in stream:
                    self.frames.append(ev.frame)
                    self._new.set()
        except Exception as exc:  # noqa: BLE001 - the live TTS takes over
            self.failed = True
            log.warning("greeting pre-render failed: %s", exc)
        finally:
            self.done = True
            self._new.set()

    async def replay(self) -> AsyncIterator[rtc.AudioFrame]:
        i = 0
        while True:
            while i < len(self.frames):
                yield self.frames[i]
                i += 1
            if self.done:
                return
            self._new.clear()
            if i == len(self.frames) and not self.done:
                await self._new.wait()


class CallRunner:
    """Runs one dispatched call: start, connect the lead, greet, watch the clock, report."""

    def __init__(
        self,
        ctx: JobContext,
        settings: Settings,
        meta: DispatchMetadata,
        state: CallState,
        session: AgentSession[CallState],
        *,
        reporter: Reporter | None,
        lkapi: api.LiveKitAPI | None,
        text_only: bool = False,
        wait_for_caller: Callable[[], Awaitable[Any]] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        prerender_greeting: bool = True,
    ) -> None:
        self.ctx = ctx
        self.prerender_greeting = prerender_greeting
        self.settings = settings
        self.meta = meta
        self.state = state
        self.session = session
        self.reporter = reporter
        self.lkapi = lkapi
        self.text_only = text_only
        self._wait_for_caller = wait_for_caller
        self._sleep = sleep
        self.agent: SalesAgent | None = None
        self.greeting: Any = None
        self.greeted_at: float | None = None  # perf_counter when the opening line was handed over
        self._final_lock = asyncio.Lock()
        self.finalized = False
        self.error: str | None = None
        self._tasks: set[asyncio.Task] = set()
        self.closed = asyncio.Event()  # the session closed
        self.ended = asyncio.Event()  # hung up: reported, room deleted
        self.started_task: asyncio.Task | None = None
        self._hung_up = False
        state.on_hangup = self.hangup
        state.reporter = reporter
        state.transferrer = HumanTransfer(settings, state, self.lkapi)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run(self) -> None:
        meta, session = self.meta, self.session
        self.agent = agent_for(self.state, voicemail_action=self.settings.agent_voicemail_action)
        session.on("close", lambda ev: self._spawn(self._on_session_close(ev)))
        if self.text_only or session.input.audio is not None:
            # Text mode, or a transport given by the caller (the audio tests and benches):
            # the session reads session.input.audio itself, no room.
            await session.start(self.agent)
        else:
            options = room_io.RoomOptions(close_on_disconnect=True)
            if meta.mode == "sip":  # listen to the dialed lead only
                options = room_io.RoomOptions(
                    close_on_disconnect=True, participant_identity=sip_identity(meta)
                )
            await session.start(self.agent, room=self.ctx.room, room_options=options)
        # Synthesize the greeting while the phone rings / the test caller joins, so it
        # plays the moment the lead is there (no TTS round trip either).
        prerender = None
        if self._can_prerender():
            prerender = Prerender(self.session.tts, meta.brief.opening_line)
            self._spawn(prerender.run())
        detector = None
        if meta.mode == "sip" and not self.text_only and self.settings.agent_amd:
            from nova.agent import amd

            detector = await amd.start(session, sip_identity(meta))
        connected = await (self.dial() if meta.mode == "sip" else self.wait_for_caller())
        if not connected:
            if detector is not None:
                await detector.aclose()
            return
        if detector is not None:  # holds the greeting until a person is heard
            from nova.agent import amd

            self._spawn(amd.screen(detector, self.agent, session))
        self.state.started_at = clock.monotonic()
        if prerender is not None and prerender.usable:
            # Plays what is rendered so far and follows the render to its end.
            self.greeting = session.say(
                meta.brief.opening_line, audio=prerender.replay(), allow_interruptions=True
            )
            self.agent.voice_started.set()
        else:
            self.greeting = session.say(meta.brief.opening_line, allow_interruptions=True)
        self.greeted_at = asyncio.get_running_loop().time()
        if self.reporter is not None:
            self.started_task = self._spawn(self._report_started())
        self._spawn(self._watch_duration())

    def _can_prerender(self) -> bool:
        return self.prerender_greeting and isinstance(self.session.tts, tts_mod.TTS)

    async def _report_started(self) -> None:
        # Keep the event loop free for the greeting: report once its text reached the TTS.
        if self.session.tts is not None and self.agent is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.agent.voice_started.wait(), timeout=2.0)
        await self._report("started", {"mode": self.meta.mode})

    async def _report(self, kind: str, data: dict[str, Any]) -> None:
        assert self.reporter is not None
        try:
            await self.reporter.send(kind, data)  # type: ignore[arg-type]
        except ReportRejected as exc:
            log.warning("%s report for call %s failed: %s", kind, self.meta.call_id, exc)
        except Exception:  # a report must never take the call down
            log.exception("%s report for call %s crashed", kind, self.meta.call_id)

    # --- connecting the lead ---------------------------------------------------------
    async def wait_for_caller(self) -> bool:
        waiter = self._wait_for_caller or (
            lambda: self.ctx.wait_for_participant(
                kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD
            )
        )
        try:
            await asyncio.wait_for(waiter(), timeout=self.settings.agent_caller_wait_seconds)
        except TimeoutError:
            self.state.outcome = "no_show"
            self.error = (
                f"The test caller did not join within {self.settings.agent_caller_wait_seconds} s"
            )
            await self.hangup("the test caller never joined")
            return False
        return True

    async def dial(self) -> bool:
        meta, state = self.meta, self.state
        trunk = meta.sip_trunk_id or self.settings.sip_outbound_trunk_id
        if not trunk or self.lkapi is None:
            state.outcome = "failed"
            self.error = "No outbound SIP trunk is configured"
            await self.hangup("sip not configured")
            return False
        req = api.CreateSIPParticipantRequest(
            room_name=meta.room_name,
            sip_trunk_id=trunk,
            sip_call_to=meta.lead.phone,
            sip_number=meta.caller_id or "",
            participant_identity=sip_identity(meta),
            participant_name=meta.lead.name or "Lead",
            wait_until_answered=True,
            krisp_enabled=True,  # noise cancellation on the phone leg
        )
        req.ringing_timeout.seconds = self.settings.agent_ring_timeout_seconds
        req.max_call_duration.seconds = meta.max_duration_seconds + 30
        try:
            await self.lkapi.sip.create_sip_participant(req)
        except api.SipCallError as exc:
            code = exc.sip_status_code
            state.outcome = sip_outcome(code)
            self.error = f"SIP {code} {exc.sip_status or ''}".strip()
            await self.hangup(f"sip {code}" if code else "sip failure")
            return False
        except api.TwirpError as exc:
            state.outcome = "failed"
            self.error = f"dial failed: {exc.message}"[:500]
            await self.hangup("dial failed")
            return False
        return True

    # --- the clock -------------------------------------------------------------------
    async def _watch_duration(self) -> None:
        limit = max(0, self.meta.max_duration_seconds)
        # Leave time for the goodbye inside the limit.
        await self._sleep(max(0.0, limit - min(GOODBYE_PLAYOUT_SECONDS, limit / 4)))
        if self.finalized or self.state.hangup_requested:
            return
        self.state.hangup_requested = "max_duration"
        try:
            handle = self.session.say(prompts.time_up_message(self.meta), allow_interruptions=False)
            await asyncio.wait_for(handle.wait_for_playout(), timeout=GOODBYE_PLAYOUT_SECONDS)
        except Exception:  # noqa: BLE001 - the limit is enforced regardless
            log.debug("goodbye playout interrupted")
        await self.hangup("max_duration")

    # --- ending ----------------------------------------------------------------------
    async def hangup(self, reason: str) -> None:
        """Report the end, then delete the room (disconnects everyone) and close."""
        if self._hung_up:
            return
        self._hung_up = True
        self.state.hangup_requested = self.state.hangup_requested or reason
        await self.finalize(reason)
        # After a warm transfer the lead and the person talk on in the room: the agent only
        # stops its session; the room goes when either of them hangs up (and the job with it).
        handed_over = self.state.transferrer.handed_over
        if self.lkapi is not None and not handed_over:
            try:
                await self.lkapi.room.delete_room(api.DeleteRoomRequest(room=self.meta.room_name))
            except Exception as exc:  # noqa: BLE001
                log.warning("delete_room %s failed: %s", self.meta.room_name, exc)
        self.session.shutdown(drain=False)
        if not handed_over:
            self.ctx.shutdown(reason)
        self.ended.set()

    async def _on_session_close(self, ev: Any) -> None:
        reason = getattr(getattr(ev, "reason", None), "value", None) or "session closed"
        # The lead hung up (or the room went away): report, then clean the room up.
        await self.hangup(str(reason))
        self.closed.set()

    async def finalize(self, reason: str) -> None:
        """Send the transcript then the ended report, exactly once."""
        async with self._final_lock:
            if self.finalized:
                return
            self.finalized = True
        state = self.state
        # A SIP transfer that succeeds drops the lead's leg, which can close the session
        # before LiveKit's answer arrives: wait for it so the outcome is the transfer.
        await state.transferrer.settled(self.settings.agent_ring_timeout_seconds + 15)
        state.end_reason = state.end_reason or reason
        state.set_phase("ended")
        if self.reporter is None:
            return
        transcript = transcript_of(self.session)
        if transcript:
            await self._report("transcript", {"transcript": transcript})
            await self._report("metrics", latency_of(self.session))
        ended: dict[str, Any] = {
            "outcome": state.outcome or "incomplete",
            "goal_completed": state.goal_completed,
            "duration_seconds": state.elapsed_seconds(),
            "reason": state.end_reason,
            "result": state.result_payload(),
        }
        if self.error:
            ended["error"] = self.error
        await self._report("ended", ended)


# --- the server ----------------------------------------------------------------------------


@functools.cache
def _vads() -> dict[str, Any]:
    """Silero VAD (default and SIP-tuned), loaded once per process: with the thread job
    executor every job thread runs prewarm, and they share these (each session's stream
    has its own state; the ONNX session is thread-safe)."""
    from livekit.plugins import silero

    return {
        "vad": silero.VAD.load(),
        # Phone lines: a higher activation threshold and a longer minimum speech so line
        # noise and breaths are not taken for speech.
        "vad_sip": silero.VAD.load(
            activation_threshold=0.6, min_speech_duration=0.12, min_silence_duration=0.6
        ),
    }


def prewarm(proc: JobProcess) -> None:
    """Load models once per process, before any job: Silero VAD (default and SIP-tuned)
    and, when enabled, the offline end-of-turn model."""
    from nova.agent.reporting import ssl_context

    ssl_context()
    proc.userdata.update(_vads())
    global _eot_loaded
    if get_settings().agent_turn_detector:
        try:
            from livekit import local_inference

            local_inference.init_eot()
            _eot_loaded = True
        except Exception as exc:  # noqa: BLE001 - sessions fall back to VAD endpointing
            _eot_loaded = False
            log.warning("end-of-turn model could not be loaded, using VAD endpointing: %s", exc)


async def run_job(
    ctx: JobContext,
    settings: Settings | None = None,
    *,
    reporter: Reporter | None = None,
    lkapi: api.LiveKitAPI | None = None,
    stt: Any = NOT_GIVEN,
    llm: Any = NOT_GIVEN,
    tts: Any = NOT_GIVEN,
    audio_input: Any = None,
    audio_output: Any = None,
    prerender_greeting: bool = True,
    text_only: bool = False,
    wait_for_caller: Callable[[], Awaitable[Any]] | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> CallRunner | None:
    """The job entrypoint's body (parameters let tests and benches replace the peers)."""
    settings = settings or get_settings()
    try:
        meta = DispatchMetadata.model_validate_json(ctx.job.metadata or "{}")
    except Exception as exc:  # noqa: BLE001 - nothing to report to without a call id
        log.error("job %s has invalid dispatch metadata: %s", ctx.job.id, exc)
        ctx.shutdown("invalid metadata")
        return None
    own_reporter = reporter is None
    if reporter is None:
        reporter = Reporter.for_call(settings, meta)
    state = CallState(meta=meta)
    vad_key = "vad_sip" if meta.mode == "sip" else "vad"
    session = build_session(
        settings,
        meta,
        state,
        vad=ctx.proc.userdata.get(vad_key, NOT_GIVEN) if not text_only else NOT_GIVEN,
        stt=stt,
        llm=llm,
        tts=tts,
        text_only=text_only,
    )
    # Tests and benches: local audio instead of the room's tracks.
    if audio_input is not None:
        session.input.audio = audio_input
    if audio_output is not None:
        session.output.audio = audio_output
    runner = CallRunner(
        ctx,
        settings,
        meta,
        state,
        session,
        reporter=reporter,
        lkapi=lkapi if lkapi is not None else (None if text_only else ctx.api),
        text_only=text_only,
        wait_for_caller=wait_for_caller,
        sleep=sleep,
        prerender_greeting=prerender_greeting,
    )

    async def on_shutdown() -> None:
        # livekit runs shutdown callbacks concurrently: report, then close, in one.
        await runner.finalize("worker shutdown")
        if own_reporter:
            await reporter.aclose()

    ctx.add_shutdown_callback(on_shutdown)
    await runner.run()
    return runner


def create_server(settings: Settings | None = None) -> AgentServer:
    settings = settings or get_settings()
    server = AgentServer(
        # One process, a thread per call: the models are shared (see bench/README.md,
        # "Voice capacity" for the memory figures behind this default).
        job_executor_type=JobExecutorType(settings.agent_job_executor),
        ws_url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=(
            settings.livekit_api_secret.get_secret_value() if settings.livekit_api_secret else None
        ),
    )
    server.setup_fnc = prewarm
    # Module-level functions only: job processes receive them pickled (forkserver).
    server.rtc_session(entrypoint, agent_name=settings.agent_name)
    return server


async def entrypoint(ctx: JobContext) -> None:
    """The job entrypoint (runs in the job process; settings come from its environment)."""
    await run_job(ctx, get_settings())
