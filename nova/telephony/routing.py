"""How one account's calls are placed: demo room or SIP dial, which trunk and caller ID,
which voice and model the agent uses, and how long a call may last.

Brings together what other domains own: BYO Twilio (default caller), voice cloning (active
voice), the fine-tune loop (promoted model alias) and metering (the remaining allowance),
so the calls service asks one question per batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from nova.billing import metering
from nova.core.settings import Settings
from nova.models.user import User
from nova.telephony.livekit import Mode

# Anonymous demo rooms are not metered; they still end.
ANONYMOUS_MAX_DURATION_SECONDS = 600


@dataclass(frozen=True)
class DialPlan:
    mode: Mode
    sip_trunk_id: str | None
    caller_id: str | None
    voice_id: str | None
    llm_model: str | None
    max_duration_seconds: int
    # SIP only: the account's human number and transfer mode (nova.transfer).
    transfer_to: str | None = None
    transfer_mode: str = "warm"
    # The account records its calls (nova.records.recordings): the opening line says so.
    record: bool = False


async def plan_calls(
    session: AsyncSession,
    settings: Settings,
    user: User | None,
    *,
    n_leads: int,
    reserve_seconds: int,
) -> DialPlan:
    from nova.quality.finetune import promoted_model_cached

    llm_model = await promoted_model_cached(session)
    if user is None:
        # Anonymous submissions never dial a phone network (DECISIONS: toll fraud).
        return DialPlan("demo", None, None, None, llm_model, ANONYMOUS_MAX_DURATION_SECONDS)

    from nova.records.recordings import recording_on
    from nova.transfer.service import transfer_for_dial
    from nova.twilio_byo.service import default_caller
    from nova.voice.service import active_voice_id

    caller = await default_caller(session, user.id)
    mode: Mode = "sip" if settings.dial_mode == "sip" or caller is not None else "demo"
    trunk = caller[0] if caller else settings.sip_outbound_trunk_id
    budget = settings.max_call_seconds
    account = await metering.get_account(session, user.id)
    free = metering.allowance_seconds(settings, account) if account is not None else 0
    if free is not None:
        # Without overage the account must not run dry: each call may use its own hold plus
        # an equal share of what stays free after the whole batch is held.
        share = max(0, free - reserve_seconds * n_leads) // max(1, n_leads)
        budget = min(budget, reserve_seconds + share)
    transfer = await transfer_for_dial(session, user.id) if mode == "sip" else None
    return DialPlan(
        mode=mode,
        sip_trunk_id=trunk if mode == "sip" else None,
        caller_id=caller[1] if caller and mode == "sip" else None,
        voice_id=await active_voice_id(session, user.id),
        llm_model=llm_model,
        max_duration_seconds=max(reserve_seconds, budget),
        transfer_to=transfer[0] if transfer else None,
        transfer_mode=transfer[1] if transfer else "warm",
        record=await recording_on(session, settings, user.id),
    )
