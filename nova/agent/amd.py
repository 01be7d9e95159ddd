"""Answering-machine detection on phone calls, with livekit-agents' own detector
(``livekit.agents.voice.amd.AMD``).

It listens to the first thing the callee says and asks the session's LLM to classify it
(a person; a voicemail greeting; a full or unset mailbox; an IVR menu). While it listens
the agent's speech is held, so the opening line is never spoken onto a voicemail tape;
a short "Hello?" followed by half a second of silence counts as a person at once. On a
machine the held greeting is dropped and the call ends as ``voicemail`` (leaving the
account's message when the mailbox takes one). The LLM's ``detected_answering_machine``
tool stays as a fallback for a machine recognised later in the call.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from livekit.agents.voice.amd import AMD, AMDCategory

if TYPE_CHECKING:
    from livekit.agents import AgentSession

    from nova.agent.agents import SalesAgent

log = logging.getLogger("nova.agent.amd")

# A callee who picks up and waits silently for the caller to speak: greet after this long
# rather than after the library's 10 s.
NO_SPEECH_SECONDS = 3.0


async def start(session: AgentSession, participant_identity: str) -> AMD:
    """Start listening (before dialing, so nothing the callee says is missed)."""
    detector = AMD(
        session,
        llm=None,  # the session's LLM
        stt=None,  # the session's transcripts
        participant_identity=participant_identity,
        interrupt_on_machine=True,
        ivr_detection=False,
        suppress_compatibility_warning=True,
        detection_options={"no_speech_threshold": NO_SPEECH_SECONDS},
    )
    await detector.__aenter__()
    return detector


async def screen(detector: AMD, agent: SalesAgent, session: AgentSession) -> dict[str, Any]:
    """Wait for the verdict; on a machine end the call as voicemail. Returns the verdict."""
    try:
        verdict = await detector.execute()
    finally:
        await detector.aclose()
    found = {
        "category": verdict.category.value,
        "reason": verdict.reason,
        "delay": round(verdict.delay, 3),
        "speech_duration": round(verdict.speech_duration, 3),
    }
    agent.state.extra["amd"] = found
    log.info("answering-machine detection: %s", found)
    if verdict.is_machine:
        await agent.voicemail_reached(
            session, can_leave_message=verdict.category == AMDCategory.MACHINE_VM
        )
    return found
