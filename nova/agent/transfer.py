"""Transfer to a person: the ``transfer_to_human`` tool and the two ways it hands the lead over.

The account's human number comes with the dispatch (``DispatchMetadata.transfer_to``, set
through ``PUT /me/transfer``; SIP calls only). When the lead asks for a person, or the goal
needs one, the model calls ``transfer_to_human``:

- **demo** (browser test caller): nothing can be dialled; the agent says that transfers to a
  person happen only on phone calls, and the call goes on.
- **no number configured**: the model is told (``ToolError``), offers a callback, the call
  goes on.
- **warm** (default): livekit-agents' ``WarmTransferTask``. The lead hears hold music while
  the human number is dialled into a side room, the agent briefs the person from the
  conversation so far, and when they accept they are moved into the lead's room
  (``MoveParticipant``: LiveKit Cloud). The agent says goodbye and leaves the two talking;
  the room is deleted when either hangs up (the workflow's own listener).
- **cold**: a SIP transfer (``TransferSIPParticipant``, a SIP REFER): the carrier connects
  the lead to the human number and the call leaves LiveKit.

Either way a completed transfer ends the agent's part of the call with outcome
``transferred`` (reported in ``call.ended``; minutes are settled for the agent's part). A
failed one is recorded in the result (``transfer.status = failed``) and the model is told,
so the conversation continues.

Dialling the human number is not a dial to a lead: it rings a number the account chose for
its own team, only inside a call that was already placed. See docs/agent.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from livekit import api
from livekit.agents import RunContext, ToolError, function_tool

from nova.agent import prompts
from nova.agent.state import CallState

if TYPE_CHECKING:
    from nova.core.settings import Settings

log = logging.getLogger("nova.agent.transfer")

TRANSFERRED = "transferred"

DEMO_EN = (
    "I can't put you through to a colleague from here: this is a browser demo, and "
    "transfers to a person only happen on phone calls. I'm happy to keep helping you myself."
)
DEMO_AR = (
    "لا أستطيع تحويلك إلى زميل من هنا: هذه مكالمة تجريبية عبر المتصفح، والتحويل إلى شخص "
    "يتم فقط في المكالمات الهاتفية. يسعدني أن أواصل مساعدتك بنفسي."
)
HOLD_EN = "Of course. Please hold for a moment while I connect you to a colleague."
HOLD_AR = "بكل سرور. لحظة من فضلك، سأحوّلك إلى أحد زملائي."
CONNECTED_EN = "You're now on the line with my colleague. Thank you, goodbye!"
CONNECTED_AR = "أنت الآن على الخط مع زميلي. شكراً لك، مع السلامة!"

NOT_CONFIGURED = (
    "Transfer unavailable: this account has no colleague's number set up, so nobody can take "
    "the call. Tell the lead that no one is available to speak right now, offer a callback "
    "(record_outcome callback_requested if they want one) and carry on with the call."
)
FAILED = (
    "The transfer did not go through ({why}). Tell the lead that nobody could take the call "
    "right now, offer a callback (record_outcome callback_requested if they want one) and "
    "carry on with the call."
)


def demo_message(meta: Any) -> str:
    return DEMO_AR if prompts.is_arabic(meta) else DEMO_EN


def hold_message(meta: Any) -> str:
    return HOLD_AR if prompts.is_arabic(meta) else HOLD_EN


def connected_message(meta: Any) -> str:
    return CONNECTED_AR if prompts.is_arabic(meta) else CONNECTED_EN


def handover_brief(meta: Any, reason: str) -> str:
    """Extra instructions for the warm hand-off: what the person taking the call must know."""
    lead = meta.lead
    who = ", ".join(x for x in (lead.name, lead.title, lead.company) if x) or lead.phone
    return (
        f"The caller is a sales lead: {who} ({lead.phone}). We called them about "
        f"{meta.product} (goal: {meta.goal.replace('_', ' ')}). Why they need a person: "
        f"{reason or 'they asked to speak to a person'}."
        + (
            " The call was in Gulf Arabic: brief the person in Arabic unless they answer in "
            "English."
            if prompts.is_arabic(meta)
            else ""
        )
    )


class TransferFailed(Exception):
    """The hand-off did not happen; the message says why (the model hears it)."""


def _reason_name(reason: str) -> str:
    return reason.removeprefix("STR_").lower().replace("_", " ")


def sip_failure(exc: api.TwirpError) -> str:
    """A short, model-readable reason for a refused SIP transfer."""
    if isinstance(exc, api.SipCallError):
        if exc.sip_status_code:
            return f"SIP {exc.sip_status_code} {exc.sip_status or ''}".strip()
        if exc.sip_transfer_reason:
            return f"transfer {_reason_name(exc.sip_transfer_reason)}"
    return f"transfer failed: {exc.message}"[:200]


def has_room(session: Any) -> bool:
    try:
        session.room_io  # noqa: B018 - raises when the session runs without a room
    except RuntimeError:
        return False
    return True


class HumanTransfer:
    """One call's hand-off to the account's human number (built by the job runner).

    The SIP transfer request runs in its own task: when it succeeds LiveKit drops the lead's
    leg, which closes the session (and may cancel the tool) before the answer arrives; the
    runner waits for ``settled()`` before reporting the end, so the outcome is never lost.
    """

    def __init__(self, settings: Settings, state: CallState, lkapi: api.LiveKitAPI | None) -> None:
        self.settings = settings
        self.state = state
        self.lkapi = lkapi
        self.pending: asyncio.Task | None = None

    @property
    def meta(self) -> Any:
        return self.state.meta

    @property
    def busy(self) -> bool:
        return self.pending is not None and not self.pending.done()

    @property
    def handed_over(self) -> bool:
        """A warm transfer completed: the lead and the person share the room now."""
        t = self.state.transfer or {}
        return t.get("status") == TRANSFERRED and t.get("mode") == "warm"

    @property
    def trunk(self) -> str | None:
        return self.meta.sip_trunk_id or self.settings.sip_outbound_trunk_id

    def record(self, status: str, reason: str, **extra: Any) -> dict[str, Any]:
        self.state.transfer = {
            "status": status,
            "mode": self.meta.transfer_mode,
            "to": self.meta.transfer_to,
            "reason": reason,
            **extra,
        }
        if status == TRANSFERRED:
            state = self.state
            state.outcome = TRANSFERRED
            state.goal_completed = False
            state.end_reason = "transferred to a person"
        return self.state.transfer

    async def settled(self, wait_seconds: float) -> None:
        if self.pending is not None and not self.pending.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.pending), wait_seconds)

    # --- cold: SIP REFER -------------------------------------------------------------
    def start_cold(self, reason: str) -> asyncio.Task:
        self.pending = asyncio.get_running_loop().create_task(self._cold(reason))
        return self.pending

    async def _cold(self, reason: str) -> None:
        from nova.agent.server import sip_identity

        if self.lkapi is None:
            self.record("failed", reason, error="LiveKit is not configured")
            raise TransferFailed("transfers are unavailable on this call")
        req = api.TransferSIPParticipantRequest(
            room_name=self.meta.room_name,
            participant_identity=sip_identity(self.meta),
            transfer_to=f"tel:{self.meta.transfer_to}",
            play_dialtone=False,
        )
        req.ringing_timeout.seconds = self.settings.agent_ring_timeout_seconds
        try:
            resp = await self.lkapi.sip.transfer_sip_participant(req)
        except api.TwirpError as exc:
            why = sip_failure(exc)
            self.record("failed", reason, error=why)
            raise TransferFailed(why) from exc
        if resp.status != api.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL:
            why = "transfer " + _reason_name(api.SIPTransferReason.Name(resp.reason))
            if resp.sip_status.code:
                why += f" (SIP {resp.sip_status.code} {resp.sip_status.status})".rstrip()
            self.record("failed", reason, error=why)
            raise TransferFailed(why)
        self.record(TRANSFERRED, reason, transfer_id=resp.transfer_id or None)

    # --- warm: livekit-agents' workflow ----------------------------------------------
    def warm_task(self, chat_ctx: Any, reason: str) -> Any:
        """The ``WarmTransferTask`` for this call: dials the human number through the call's
        trunk and caller ID, with our brief of the lead added to its summary prompt."""
        from livekit.agents.beta.workflows.warm_transfer import WarmTransferTask
        from livekit.agents.types import NOT_GIVEN

        return WarmTransferTask(
            sip_call_to=self.meta.transfer_to,
            sip_trunk_id=self.trunk,
            sip_number=self.meta.caller_id or NOT_GIVEN,
            ringing_timeout=float(self.settings.agent_ring_timeout_seconds),
            chat_ctx=chat_ctx,
            extra_instructions=handover_brief(self.meta, reason),
        )

    async def warm(self, session: Any, chat_ctx: Any, reason: str) -> None:
        if self.lkapi is None or not has_room(session):
            # Text mode (tests, simulations): there is no room to put the lead on hold in.
            self.record("failed", reason, error="no LiveKit room")
            raise TransferFailed("a warm transfer needs the call's LiveKit room")
        if not self.trunk:
            self.record("failed", reason, error="no outbound SIP trunk")
            raise TransferFailed("no outbound SIP trunk is configured")
        try:
            await self.warm_task(chat_ctx, reason)
        except ToolError as exc:  # declined, no answer, voicemail, room closed...
            self.record("failed", reason, error=str(exc)[:200])
            raise TransferFailed(str(exc)) from exc
        except Exception as exc:
            log.exception("call %s: warm transfer crashed", self.meta.call_id)
            self.record("failed", reason, error=f"{type(exc).__name__}: {exc}"[:200])
            raise TransferFailed("the transfer could not be set up") from exc
        self.record(TRANSFERRED, reason)


class TransferTools:
    """The ``transfer_to_human`` tool (mixed into ``SalesAgent``)."""

    @function_tool
    async def transfer_to_human(self, ctx: RunContext[CallState], reason: str) -> None:
        """Transfer the lead to a person on our team. Use it when the lead asks to speak to a
        person (a human, a manager, someone real), or when the goal needs one (a question
        only a person can answer, a decision you cannot make). Confirm with the lead first.

        Args:
            reason: Why the lead wants or needs a person, in one short sentence.
        """
        state: CallState = ctx.userdata
        meta = state.meta
        reason = reason.strip()[:300]
        transfer: HumanTransfer | None = state.transferrer
        if meta.mode != "sip":
            state.transfer = {"status": "demo", "reason": reason}
            ctx.session.say(demo_message(meta))
            return None
        if not meta.transfer_to:
            state.transfer = {"status": "not_configured", "reason": reason}
            raise ToolError(NOT_CONFIGURED)
        if transfer is None:
            raise ToolError(FAILED.format(why="transfers are unavailable on this call"))
        if state.hangup_requested:
            raise ToolError("The call is ending: a transfer is no longer possible.")
        if transfer.busy or state.outcome == TRANSFERRED:
            raise ToolError("A transfer is already under way.")
        await ctx.wait_for_playout()
        await ctx.session.say(hold_message(meta), allow_interruptions=False)
        try:
            if meta.transfer_mode == "cold":
                await asyncio.shield(transfer.start_cold(reason))
            else:
                await transfer.warm(ctx.session, self.chat_ctx, reason)  # type: ignore[attr-defined]
        except TransferFailed as exc:
            log.info("call %s: transfer failed: %s", meta.call_id, exc)
            raise ToolError(FAILED.format(why=exc)) from None
        log.info("call %s transferred (%s)", meta.call_id, meta.transfer_mode)
        await self.goto("ended")  # type: ignore[attr-defined]
        handle = None
        if meta.transfer_mode == "warm":  # the lead and the person are both on the line
            handle = ctx.session.say(connected_message(meta), allow_interruptions=False)
        self.request_hangup("transferred", after=handle)  # type: ignore[attr-defined]
        return None
