"""Rows and dispatch metadata for worker tests (the calls domain creates them in real use)."""

from __future__ import annotations

import uuid
from typing import Any

from nova.core.db import session_scope
from nova.models.calls import Call, CallContext
from nova.telephony.metadata import Brief, DispatchMetadata, Lead

BRIEF = Brief(
    agent_instructions="You call on behalf of Acme Realty about the new Marina towers.",
    opening_line="Hi Sam, this is Nova from Acme Realty. Do you have a minute?",
    qualification_questions=["What is your budget?", "When do you plan to buy?"],
    objection_handlers=[
        {"objection": "too expensive price", "response": "Payment plans start at 1% a month."},
        {"objection": "no time busy now", "response": "It takes two minutes, or I can call back."},
    ],
    closing_script="Shall I send you the link to book a viewing?",
    product_facts=["Two-bedroom flats from AED 1.2M", "Handover in Q4 2027"],
)

BRIEF_AR = Brief(
    agent_instructions="تتصل نيابة عن أكمي العقارية بخصوص أبراج المارينا.",
    opening_line="مرحبا سام، معك نوفا من أكمي العقارية. عندك دقيقة؟",
    qualification_questions=["كم ميزانيتك؟"],
    objection_handlers=[{"objection": "غالي", "response": "عندنا خطط دفع مريحة."}],
    closing_script="أرسل لك رابط الحجز؟",
    product_facts=["شقق من ١٫٢ مليون درهم"],
)

GOAL_LINKS = {
    "book_meeting": {"booking_link": "https://cal.example.com/acme"},
    "close_sale": {"payment_link": "https://pay.example.com/acme"},
    "qualify_interest": {},
    "collect_info": {"collect_fields": ["email", "company size"]},
}


async def create_call(
    *, goal: str = "book_meeting", user_id: str | None = None, mode: str = "demo", **kw: Any
) -> Call:
    batch = str(uuid.uuid4())
    async with session_scope() as session:
        ctx = CallContext(
            user_id=user_id,
            batch_id=batch,
            product="Marina towers",
            goal=goal,
            lead={"phone": "+971501234567", "name": "Sam"},
            request={},
            opening_line=BRIEF.opening_line,
        )
        session.add(ctx)
        await session.flush()
        call = Call(
            user_id=user_id,
            batch_id=batch,
            context_id=ctx.id,
            phone=kw.pop("phone", "+971501234567"),
            lead_name="Sam",
            owner_email=kw.pop("owner_email", "owner@example.com"),
            goal=goal,
            mode=mode,
            status=kw.pop("status", "in_progress"),
            room_name=f"call-{ctx.id}",
            **kw,
        )
        session.add(call)
    return call


def meta_for(
    call: Call, *, language: str = "en", mode: str | None = None, **kw: Any
) -> DispatchMetadata:
    fields: dict[str, Any] = {
        "call_id": call.id,
        "context_id": call.context_id,
        "room_name": call.room_name,
        "mode": mode or call.mode,
        "goal": call.goal,
        "language": language,
        "product": "Marina towers",
        "lead": Lead(phone=call.phone, name="Sam", company="Globex"),
        "brief": BRIEF_AR if language == "ar-AE" else BRIEF,
        "report_url": "http://testserver/internal/worker",
        **GOAL_LINKS[call.goal],
    }
    fields.update(kw)
    return DispatchMetadata(**fields)


async def get_call(call_id: str) -> Call:
    async with session_scope() as session:
        call = await session.get(Call, call_id)
        assert call is not None
        return call
